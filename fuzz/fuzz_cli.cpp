// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// The samples' command lines: the input bytes, split at newlines, are the arguments after argv[0], given to
// the argument handling of example_explain_gradcam (modules/explain/samples/gradcam_args.hpp), of
// example_explain_evaluate (modules/explain/samples/evaluate_args.hpp) and of example_explain_batch
// (modules/explain/samples/batch_args.hpp) exactly as their main() does (parseOptions, then checkOptions),
// and each argument to the number parsers of modules/explain/samples/sample_common.hpp.
// Finding: a crash, a sanitizer report, any exception (neither sample catches one around its argument
// handling), or a parsed value outside the range the parser promises.
#include "fuzz_common.hpp"
#include "batch_args.hpp"
#include "evaluate_args.hpp"
#include "gradcam_args.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace {

/** The argument vector (argv[0] is the program, argv[argc] is null); at most 64 arguments. */
struct Args
{
    std::vector<std::string> items;
    std::vector<char*> argv;

    Args(const char* program, const std::string& text)
    {
        items.push_back(program);
        size_t start = text.empty() ? 1 : 0;  // no bytes: no arguments
        while (start <= text.size() && items.size() <= 64)
        {
            const size_t nl = std::min(text.find('\n', start), text.size());
            items.push_back(text.substr(start, nl - start));
            start = nl + 1;
        }
        for (std::string& s : items)
            argv.push_back(&s[0]);
        argv.push_back(nullptr);
    }
    int argc() const { return (int)argv.size() - 1; }
};

void checkBlob(const sample::BlobOptions& b)
{
    FUZZ_CHECK(b.width >= 1 && b.width <= 16384 && b.height >= 1 && b.height <= 16384);
    FUZZ_CHECK(std::isfinite(b.scale) && b.scale > 0);
    for (int i = 0; i < 4; i++)
        FUZZ_CHECK(std::isfinite(b.mean[i]));
}

void gradcamSample(const std::string& text)
{
    Args args("example_explain_gradcam", text);
    gradcam_sample::Options o;
    const int code = gradcam_sample::parseOptions(args.argc(), args.argv.data(), o);
    FUZZ_CHECK(code == -1 || code == 0 || code == 1);
    if (code != -1)
        return;
    checkBlob(o.blob);
    FUZZ_CHECK(o.classArg >= -1 && o.boxIndex >= -1 && o.frames >= 0);
    if (gradcam_sample::checkOptions(o))
        FUZZ_CHECK(!o.methods.empty() && (o.device == "cpu" || o.device == "opencl"));
}

void evaluateSample(const std::string& text)
{
    Args args("example_explain_evaluate", text);
    evaluate_sample::Options o;
    const int code = evaluate_sample::parseOptions(args.argc(), args.argv.data(), o);
    FUZZ_CHECK(code == -1 || code == 0 || code == 1);
    if (code != -1)
        return;
    checkBlob(o.blob);
    FUZZ_CHECK(o.limit >= 0 && o.steps >= 1 && o.tolerance >= 0 && o.batch >= 1);
    FUZZ_CHECK(o.threshold >= 0 && o.threshold <= 1 && o.iouMin > 0 && o.iouMin <= 1);
    if (evaluate_sample::checkOptions(o))
        FUZZ_CHECK(!o.csvPath.empty() && !o.methods.empty());  // (--images is "" for a CSV in "/": "" + "/" + file)
}

void batchSample(const std::string& text)
{
    Args args("example_explain_batch", text);
    batch_sample::Options o;
    const int code = batch_sample::parseOptions(args.argc(), args.argv.data(), o);
    FUZZ_CHECK(code == -1 || code == 0 || code == 1);
    if (code != -1)
        return;
    checkBlob(o.blob);
    FUZZ_CHECK(o.batch >= 1 && o.batch <= 4096 && o.stopAfter >= 0);
    FUZZ_CHECK(o.shardCount >= 1 && o.shardIndex >= 0 && o.shardIndex < o.shardCount);
    if (batch_sample::checkOptions(o))
        FUZZ_CHECK(!o.input.empty() && !o.methods.empty() && !o.imageDir.empty());
}

/** parseInt / parseDouble on one argument (and on its value after '='), with a few ranges. */
void numbers(const std::string& arg)
{
    const size_t eq = arg.find('=');
    for (const std::string& text : {arg, eq == std::string::npos ? std::string() : arg.substr(eq + 1)})
    {
        static const int intRanges[][2] = {{-1, INT_MAX}, {0, 1 << 20}, {INT_MIN, INT_MAX}, {1, 16384}};
        for (const auto& r : intRanges)
        {
            int v = 12345;
            if (sample::parseInt(text, r[0], r[1], v).empty())
                FUZZ_CHECK(v >= r[0] && v <= r[1]);
        }
        const double inf = std::numeric_limits<double>::infinity(), big = std::numeric_limits<double>::max();
        static const struct { double lo, hi; bool open; } doubleRanges[] = {{0, 1, false}, {0, 1, true}, {0, inf, true}, {-big, big, false}};
        for (const auto& r : doubleRanges)
        {
            double v = 0.5;
            if (sample::parseDouble(text, r.lo, r.hi, r.open, v).empty())
                FUZZ_CHECK(std::isfinite(v) && v >= r.lo && v <= r.hi && !(r.open && v == r.lo));
        }
    }
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***)
{
    fuzz::quiet();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    if (size > 4096)
        return 0;
    const std::string text(reinterpret_cast<const char*>(data), size);
    gradcamSample(text);
    evaluateSample(text);
    batchSample(text);
    Args args("", text);
    for (int i = 1; i < args.argc(); i++)
        numbers(args.items[i]);
    return 0;
}
