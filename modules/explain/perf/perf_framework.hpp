// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// The perf harness: OpenCV's ts perf framework where OpenCV's tree builds the module (opencv_perf_explain,
// EXPLAIN_OPENCV_TS), otherwise a small stand-in for it on GoogleTest (Debian ships no opencv_ts) with the
// same test-side API. Both write OpenCV's perf XML with --gtest_output=xml:FILE (read by OpenCV's
// modules/ts/misc/summary.py). The stand-in:
//
//   typedef perf::TestBaseWithParam<std::tuple<std::string, int> > MyFixture;
//   PERF_TEST_P(MyFixture, name, testing::Combine(testing::Values("a", "b"), testing::Values(1, 8)))
//   {
//       ... setup (not timed) ...
//       TEST_CYCLE() { work(); }
//       SANITY_CHECK_NOTHING();
//   }
//
// Sampling: one untimed warm-up iteration, then --perf_min_samples=N samples (default 10), stopping
// earlier once --perf_max_time=SECONDS of measured time is spent (at least one sample);
// --perf_force_samples=N takes exactly N samples and ignores the time limit.
// Each test records, as gtest properties (RecordProperty) and, after the run, as attributes of its
// <testcase> in the --gtest_output=xml:FILE report (OpenCV's perf XML layout, read by
// modules/ts/misc/summary.py): samples, outliers, term, frequency
// (ticks per second, cv::getTickFrequency()), and min, median, gmean, mean, stddev in ticks
// (cv::getTickCount()), gstddev (of the log). Outliers (log-normal model, beyond 3 sigma) are left out
// of the statistics, as OpenCV does. A readable line in ms is printed per test.
#ifndef EXPLAIN_PERF_FRAMEWORK_HPP
#define EXPLAIN_PERF_FRAMEWORK_HPP

#include <opencv2/core.hpp>

#include <map>
#include <string>
#include <vector>

#ifdef EXPLAIN_OPENCV_TS
#include "opencv2/ts.hpp"  // with ts_perf.hpp: perf::TestBase, PERF_TEST_P, TEST_CYCLE, CV_PERF_TEST_MAIN
#include <sstream>
#ifndef GTEST_SKIP  // ts's GoogleTest predates it: ts's skip exception, with the message streamed
#define GTEST_SKIP() \
    for (std::ostringstream explain_skip_;; throw ::cvtest::SkipTestException(explain_skip_.str())) explain_skip_
#endif
#ifndef INSTANTIATE_TEST_SUITE_P
#define INSTANTIATE_TEST_SUITE_P INSTANTIATE_TEST_CASE_P
#endif
#else
#include <gtest/gtest.h>
#endif

namespace perf {

/** Statistics of one test; times in ticks of cv::getTickCount(). */
struct Metrics
{
    int samples = 0, outliers = 0;
    int term = -1;  // as OpenCV: 0 iterations, 1 time limit, -1 unknown
    double frequency = 0, min = 0, median = 0, gmean = 0, gstddev = 0, mean = 0, stddev = 0;
    double ms(double ticks) const { return frequency > 0 ? ticks * 1000. / frequency : 0; }
};

/** One finished test, for summaries printed after the run. */
struct Record
{
    std::string testCase, testName, valueParam;
    std::map<std::string, std::string> tags;  // set by the test body with tag()
    Metrics metrics;
};

/** The tests measured so far in this run, in run order. */
const std::vector<Record>& records();

} // namespace perf

#ifdef EXPLAIN_OPENCV_TS

/** Attaches a key/value to the record of the running test (the test property tag_<key>). */
void tag(const std::string& key, const std::string& value);

#else

namespace perf {

struct Options
{
    int minSamples = 10;    //!< --perf_min_samples
    int forceSamples = 0;   //!< --perf_force_samples (0: off)
    double maxTime = 3.0;   //!< --perf_max_time, seconds of measured time per test (<= 0: no limit)
    int threads = -1;       //!< --perf_threads (-1: leave the main() default)
};

Options& options();

class TestBase : public ::testing::Test
{
public:
    TestBase();

    // TEST_CYCLE machinery
    bool next();
    bool startTimer();
    void stopTimer();

    /** Attaches a key/value to the record of this test (also written as an XML attribute). */
    void tag(const std::string& key, const std::string& value);

    void setVerified() { verified = true; }

protected:
    virtual void PerfTestBody() = 0;
    void RunPerfTestBody();

private:
    Metrics calcMetrics() const;

    std::vector<int64> times;
    int64 startTick = 0, totalTicks = 0;
    int iteration = -1;  // -1 before the warm-up, 0 during it, then 1..samples
    bool timing = false, verified = false, timeLimitHit = false;
    std::map<std::string, std::string> tags;
};

template <typename T>
class TestBaseWithParam : public TestBase, public ::testing::WithParamInterface<T>
{
};

/** Parses and removes the --perf_* options, then initializes GoogleTest. */
void init(int* argc, char** argv);

/** After RUN_ALL_TESTS(): copies the metrics into attributes of the <testcase> elements of the
--gtest_output=xml:FILE report. GoogleTest >= 1.10 writes RecordProperty() values only as
<property> children, OpenCV's bundled (older) one as attributes; the report gets both. */
void finish();

} // namespace perf

#define PERF_TEST_P(fixture, name, params)                                  \
    class fixture##_##name : public fixture                                 \
    {                                                                       \
    public:                                                                 \
        fixture##_##name() {}                                               \
                                                                            \
    protected:                                                              \
        virtual void PerfTestBody() override;                               \
    };                                                                      \
    TEST_P(fixture##_##name, name) { RunPerfTestBody(); }                   \
    INSTANTIATE_TEST_SUITE_P(/*none*/, fixture##_##name, params);          \
    void fixture##_##name::PerfTestBody()

#define TEST_CYCLE() for (; next() && startTimer(); stopTimer())
#define SANITY_CHECK_NOTHING() this->setVerified()

/** main(): parses options, runs INIT (a statement), runs all tests. */
#define CV_PERF_TEST_MAIN(modulename, INIT)          \
    int main(int argc, char** argv)                  \
    {                                                \
        ::perf::init(&argc, argv);                   \
        INIT;                                        \
        if (::perf::options().threads >= 0)          \
            cv::setNumThreads(::perf::options().threads); \
        const int rc = RUN_ALL_TESTS();              \
        ::perf::finish();                            \
        return rc;                                   \
    }

#endif // EXPLAIN_OPENCV_TS

#endif
