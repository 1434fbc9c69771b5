// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// The samples' readers of text files, the input bytes being the file: the evaluate sample's ground-truth CSV
// (modules/explain/samples/evaluate_csv.hpp) and the batch tool's manifest, read as CSV and as JSON lines
// (modules/explain/samples/batch_manifest.hpp, batch_json.hpp).
// Finding: a crash, a sanitizer report, an exception (the samples do not catch any around these readers), or a
// result that breaks what the reader promises (checked below).
#include "fuzz_common.hpp"
#include "batch_manifest.hpp"
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

/** The batch tool's manifest reader on `text`, as CSV or as JSON lines. */
static void manifest(const std::string& text, bool json)
{
    std::istringstream in(text);
    std::vector<batch_sample::Item> items;
    std::string error;
    if (!batch_sample::readManifest(in, "fuzz.m", json, items, error))
    {
        FUZZ_CHECK(error.compare(0, 7, "fuzz.m:") == 0 || error == "'fuzz.m' lists no images");
        return;
    }
    FUZZ_CHECK(!items.empty());
    std::set<std::string> ids;
    for (const batch_sample::Item& item : items)
    {
        FUZZ_CHECK(!item.path.empty() && item.classId >= -1);
        FUZZ_CHECK(item.id == batch_sample::itemId(item.path, item.classId));
        FUZZ_CHECK(ids.insert(item.id).second);
        const int shard = batch_sample::shardOf(item.id, 7);
        FUZZ_CHECK(shard >= 0 && shard < 7);
        for (const cv::Rect& b : item.boxes)
            FUZZ_CHECK(b.width >= 1 && b.height >= 1 && (int64_t)b.width * b.height <= (1 << 30));
    }
}

/** The JSON reader on the whole text; what it writes back reads back the same. */
static void jsonRoundTrip(const std::string& text)
{
    batch_sample::Json v;
    std::string error;
    if (!batch_sample::JsonReader::parseObject(text, v, error))
    {
        FUZZ_CHECK(!error.empty());
        return;
    }
    FUZZ_CHECK(v.type == batch_sample::Json::OBJECT);
    for (const auto& m : v.members)
        if (m.second.type == batch_sample::Json::STRING)
        {
            batch_sample::Json back;
            const std::string line = "{" + batch_sample::jsonString(m.first) + ":" + batch_sample::jsonString(m.second.text) + "}";
            FUZZ_CHECK(batch_sample::JsonReader::parseObject(line, back, error));
            FUZZ_CHECK(back.members.size() == 1 && back.members[0].first == m.first && back.members[0].second.text == m.second.text);
        }
}

static void evaluateCsv(const std::string& text, size_t size);

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const std::string text(reinterpret_cast<const char*>(data), size);
    manifest(text, false);
    manifest(text, true);
    jsonRoundTrip(text);
    evaluateCsv(text, size);
    return 0;
}

static void evaluateCsv(const std::string& text, size_t size)
{
    std::istringstream in(text);
    std::vector<evaluate_sample::Item> items;
    std::string error;
    const bool ok = evaluate_sample::readCSV(in, "fuzz.csv", items, error);
    if (!ok)
    {
        FUZZ_CHECK(!error.empty());
        FUZZ_CHECK(error.compare(0, 9, "fuzz.csv:") == 0 || error == "'fuzz.csv' has no boxes");
        return;
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
}
