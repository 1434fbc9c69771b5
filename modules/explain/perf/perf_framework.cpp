// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// See perf_framework.hpp.
#include "perf_framework.hpp"

#ifdef EXPLAIN_OPENCV_TS

#include <cstdlib>

void tag(const std::string& key, const std::string& value)
{
    ::testing::Test::RecordProperty("tag_" + key, value);
}

namespace perf {

/** The Record of a finished test from its properties (ts's metrics and our tags); false when it was not
    measured (not run yet, skipped, failed before its metrics). */
static bool recordOf(const ::testing::TestInfo& info, Record& r)
{
    const ::testing::TestResult* result = info.result();
    std::map<std::string, std::string> props;
    for (int i = 0; result && i < result->test_property_count(); i++)
        props[result->GetTestProperty(i).key()] = result->GetTestProperty(i).value();
    if (!props.count("median") || !props.count("frequency"))
        return false;
    auto number = [&](const char* key) { return props.count(key) ? std::atof(props[key].c_str()) : 0.; };
    r.testCase = info.test_case_name();
    r.testName = info.name();
    r.valueParam = info.value_param() ? info.value_param() : "";
    for (const auto& kv : props)
        if (kv.first.compare(0, 4, "tag_") == 0)
            r.tags[kv.first.substr(4)] = kv.second;
    Metrics& m = r.metrics;
    m.samples = (int)number("samples");
    m.outliers = (int)number("outliers");
    m.term = (int)number("term");
    m.frequency = number("frequency");
    m.min = number("min");
    m.median = number("median");
    m.gmean = number("gmean");
    m.gstddev = number("gstddev");
    m.mean = number("mean");
    m.stddev = number("stddev");
    return true;
}

const std::vector<Record>& records()
{
    static std::vector<Record> all;
    all.clear();
    const ::testing::UnitTest& unit = *::testing::UnitTest::GetInstance();
    for (int i = 0; i < unit.total_test_case_count(); i++)
        for (int j = 0; j < unit.GetTestCase(i)->total_test_count(); j++)
        {
            Record r;
            if (recordOf(*unit.GetTestCase(i)->GetTestInfo(j), r))
                all.push_back(r);
        }
    return all;
}

} // namespace perf

#else

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace perf {

Options& options()
{
    static Options o;
    return o;
}

static std::vector<Record>& mutableRecords()
{
    static std::vector<Record> r;
    return r;
}

const std::vector<Record>& records()
{
    return mutableRecords();
}

static bool parseOption(const char* arg, const char* name, std::string& value)
{
    const size_t n = std::strlen(name);
    if (std::strncmp(arg, name, n) != 0 || arg[n] != '=')
        return false;
    value = arg + n + 1;
    return true;
}

void init(int* argc, char** argv)
{
    Options& o = options();
    int kept = 1;
    for (int i = 1; i < *argc; i++)
    {
        std::string v;
        char* end = nullptr;
        bool bad = false;
        if (parseOption(argv[i], "--perf_min_samples", v))
            o.minSamples = (int)std::strtol(v.c_str(), &end, 10), bad = *end || o.minSamples < 1;
        else if (parseOption(argv[i], "--perf_force_samples", v))
            o.forceSamples = (int)std::strtol(v.c_str(), &end, 10), bad = *end || o.forceSamples < 0;
        else if (parseOption(argv[i], "--perf_max_time", v))
            o.maxTime = std::strtod(v.c_str(), &end), bad = *end != 0;
        else if (parseOption(argv[i], "--perf_threads", v))
            o.threads = (int)std::strtol(v.c_str(), &end, 10), bad = *end != 0;
        else if (std::strcmp(argv[i], "--perf_help") == 0 || std::strcmp(argv[i], "--help") == 0)
        {
            std::printf("Perf options:\n"
                        "  --perf_min_samples=N    samples per test (default 10)\n"
                        "  --perf_force_samples=N  exactly N samples, no time limit\n"
                        "  --perf_max_time=S       stop sampling after S seconds of measured time (default 3; 0: none)\n"
                        "  --perf_threads=N        cv::setNumThreads(N)\n\n");
            argv[kept++] = argv[i];
            continue;
        }
        else
        {
            argv[kept++] = argv[i];
            continue;
        }
        if (bad)
        {
            std::fprintf(stderr, "bad option: %s\n", argv[i]);
            std::exit(2);
        }
    }
    *argc = kept;
    argv[kept] = nullptr;
    ::testing::InitGoogleTest(argc, argv);
}

TestBase::TestBase() {}

bool TestBase::next()
{
    const Options& o = options();
    if (iteration < 0)
    {
        iteration = 0;  // warm-up, not recorded
        return true;
    }
    const int n = (int)times.size();
    const int wanted = o.forceSamples > 0 ? o.forceSamples : std::max(1, o.minSamples);
    if (n >= wanted)
        return false;
    if (o.forceSamples <= 0 && o.maxTime > 0 && n >= 1 &&
        (double)totalTicks >= o.maxTime * cv::getTickFrequency())
    {
        timeLimitHit = true;
        return false;
    }
    iteration++;
    return true;
}

bool TestBase::startTimer()
{
    timing = true;
    startTick = cv::getTickCount();
    return true;
}

void TestBase::stopTimer()
{
    const int64 t = cv::getTickCount() - startTick;
    if (!timing)
        return;
    timing = false;
    if (iteration <= 0)
        return;  // the warm-up
    times.push_back(t);
    totalTicks += t;
}

void TestBase::tag(const std::string& key, const std::string& value)
{
    tags[key] = value;
}

// As OpenCV's TestBase::calcMetrics (PERF_STRATEGY_BASE): outliers of a log-normal fit dropped.
Metrics TestBase::calcMetrics() const
{
    Metrics m;
    m.frequency = cv::getTickFrequency();
    m.samples = (int)times.size();
    m.term = timeLimitHit ? 1 : 0;
    if (times.empty())
        return m;
    std::vector<int64> t = times;
    std::sort(t.begin(), t.end());
    size_t start = 0, end = t.size();
    {
        double gmean = 0, gstddev = 0;
        int n = 0;
        for (int64 v : t)
        {
            const double x = (double)v;
            if (x < DBL_EPSILON)
                continue;
            const double lx = std::log(x), delta = lx - gmean;
            ++n;
            gmean += delta / n;
            gstddev += delta * (lx - gmean);
        }
        gstddev = n > 1 ? std::sqrt(gstddev / (n - 1)) : 0;
        if (gstddev > DBL_EPSILON)
        {
            const double minout = std::exp(gmean - 3 * gstddev), maxout = std::exp(gmean + 3 * gstddev);
            while (start < end && (double)t[start] < minout)
                ++start;
            while (end > start + 1 && (double)t[end - 1] > maxout)
                --end;
            m.outliers = (int)(start + (t.size() - end));
        }
    }
    m.min = (double)t[start];
    double gmean = 0, gstddev = 0, mean = 0, stddev = 0;
    int n = 0, mg = 0;
    for (size_t i = start; i < end; i++)
    {
        const double x = (double)t[i];
        if (x > DBL_EPSILON)
        {
            const double lx = std::log(x), gdelta = lx - gmean;
            ++mg;
            gmean += gdelta / mg;
            gstddev += gdelta * (lx - gmean);
        }
        ++n;
        const double delta = x - mean;
        mean += delta / n;
        stddev += delta * (x - mean);
    }
    m.mean = mean;
    m.gmean = std::exp(gmean);
    m.gstddev = mg > 1 ? std::sqrt(gstddev / (mg - 1)) : 0;
    m.stddev = n > 1 ? std::sqrt(stddev / (n - 1)) : 0;
    const size_t mid = start + n / 2;
    m.median = n % 2 ? (double)t[mid] : ((double)t[mid - 1] + (double)t[mid]) / 2;
    return m;
}

void TestBase::RunPerfTestBody()
{
    PerfTestBody();
    if (HasFatalFailure() || IsSkipped())
        return;
    if (times.empty())
    {
        ADD_FAILURE() << "perf: the test body has no TEST_CYCLE() or its loop never ran";
        return;
    }
    if (!verified)
        ADD_FAILURE() << "perf: the test body has no SANITY_CHECK (use SANITY_CHECK_NOTHING())";

    const Metrics m = calcMetrics();
    RecordProperty("term", m.term);
    RecordProperty("samples", m.samples);
    RecordProperty("outliers", m.outliers);
    RecordProperty("frequency", cv::format("%.0f", m.frequency));
    RecordProperty("min", cv::format("%.0f", m.min));
    RecordProperty("median", cv::format("%.0f", m.median));
    RecordProperty("gmean", cv::format("%.0f", m.gmean));
    RecordProperty("gstddev", cv::format("%.6f", m.gstddev));
    RecordProperty("mean", cv::format("%.0f", m.mean));
    RecordProperty("stddev", cv::format("%.0f", m.stddev));
    for (const auto& kv : tags)
        RecordProperty("tag_" + kv.first, kv.second);

    const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
    Record r;
    r.testCase = info->test_suite_name();
    r.testName = info->name();
    r.valueParam = info->value_param() ? info->value_param() : "";
    r.tags = tags;
    r.metrics = m;
    mutableRecords().push_back(r);

    std::printf("[     PERF ] %s.%s %s: median %.2f ms, min %.2f, mean %.2f +- %.2f ms, %d samples%s%s\n",
                r.testCase.c_str(), r.testName.c_str(), r.valueParam.c_str(), m.ms(m.median), m.ms(m.min),
                m.ms(m.mean), m.ms(m.stddev), m.samples,
                m.outliers ? cv::format(" (%d outliers)", m.outliers).c_str() : "",
                m.term == 1 ? " (time limit)" : "");
    std::fflush(stdout);
}

static std::string xmlEscape(const std::string& s)
{
    std::string r;
    for (char c : s)
    {
        switch (c)
        {
        case '<': r += "&lt;"; break;
        case '>': r += "&gt;"; break;
        case '&': r += "&amp;"; break;
        case '"': r += "&quot;"; break;
        case '\'': r += "&apos;"; break;
        default: r += c;
        }
    }
    return r;
}

void finish()
{
#ifdef GTEST_FLAG_GET
    const std::string flag = GTEST_FLAG_GET(output);
#else
    const std::string flag = ::testing::GTEST_FLAG(output);
#endif
    if (flag.compare(0, 4, "xml:") != 0 || records().empty())
        return;
    const std::string path = flag.substr(4);
    if (path.empty() || path.back() == '/' || path.back() == '\\')
    {
        std::printf("perf: --gtest_output names a directory; metrics are in <property> elements only\n");
        return;
    }
    std::string xml;
    {
        std::ifstream in(path, std::ios::binary);
        if (!in)
            return;
        std::ostringstream ss;
        ss << in.rdbuf();
        xml = ss.str();
    }
    // the last --gtest_repeat iteration is the one in the report: newest records first
    for (auto it = records().rbegin(); it != records().rend(); ++it)
    {
        const Record& r = *it;
        const Metrics& m = r.metrics;
        const std::string attrs = cv::format(
            " samples=\"%d\" outliers=\"%d\" term=\"%d\" frequency=\"%.0f\" min=\"%.0f\" median=\"%.0f\""
            " gmean=\"%.0f\" gstddev=\"%.6f\" mean=\"%.0f\" stddev=\"%.0f\"",
            m.samples, m.outliers, m.term, m.frequency, m.min, m.median, m.gmean, m.gstddev, m.mean, m.stddev);
        const std::string head = "<testcase name=\"" + xmlEscape(r.testName) + "\"";
        const std::string cls = "classname=\"" + xmlEscape(r.testCase) + "\"";
        for (size_t pos = xml.find(head); pos != std::string::npos; pos = xml.find(head, pos + 1))
        {
            size_t end = xml.find('>', pos);
            if (end == std::string::npos)
                break;
            const std::string tag = xml.substr(pos, end - pos);
            if (tag.find(cls) == std::string::npos || tag.find(" median=\"") != std::string::npos)
                continue;
            if (end > 0 && xml[end - 1] == '/')
                end--;
            xml.insert(end, attrs);
            break;
        }
    }
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << xml;
    if (!out)
        std::printf("perf: cannot rewrite %s\n", path.c_str());
}

} // namespace perf

#endif // EXPLAIN_OPENCV_TS
