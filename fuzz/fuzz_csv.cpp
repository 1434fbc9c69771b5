// The evaluate sample's ground-truth CSV reader (modules/explain/samples/evaluate_csv.hpp): the input bytes are the file.
// Finding: a crash, a sanitizer report, an exception (the sample does not catch any around readCSV), or a
// result that breaks what readCSV promises (checked below).
#include "fuzz_common.hpp"
#include "evaluate_csv.hpp"

#include <cstddef>
#include <cstdint>
#include <set>
#include <sstream>
#include <string>

extern "C" int LLVMFuzzerInitialize(int*, char***)
{
    fuzz::quiet();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const std::string text(reinterpret_cast<const char*>(data), size);
    std::istringstream in(text);
    std::vector<evaluate_sample::Item> items;
    std::string error;
    const bool ok = evaluate_sample::readCSV(in, "fuzz.csv", items, error);
    if (!ok)
    {
        FUZZ_CHECK(!error.empty());
        FUZZ_CHECK(error.compare(0, 9, "fuzz.csv:") == 0 || error == "'fuzz.csv' has no boxes");
        return 0;
    }
    FUZZ_CHECK(!items.empty());
    std::set<std::pair<std::string, int>> seen;
    size_t boxes = 0;
    for (const evaluate_sample::Item& item : items)
    {
        FUZZ_CHECK(!item.file.empty());
        FUZZ_CHECK(item.classId >= 0);
        FUZZ_CHECK(!item.boxes.empty());
        FUZZ_CHECK(seen.insert({item.file, item.classId}).second);  // one item per (file, class_id)
        for (const cv::Rect& b : item.boxes)
        {
            FUZZ_CHECK(b.width >= 1 && b.height >= 1 && b.width <= (1 << 20) && b.height <= (1 << 20));
            FUZZ_CHECK((int64_t)b.width * b.height <= (1 << 30));
            FUZZ_CHECK(b.x >= -(1 << 20) && b.x <= (1 << 20) && b.y >= -(1 << 20) && b.y <= (1 << 20));
        }
        boxes += item.boxes.size();
    }
    FUZZ_CHECK(boxes <= (size + 1) / 12);  // a data line takes at least 11 bytes ("f,0,0,0,1,1") and a newline
    return 0;
}
