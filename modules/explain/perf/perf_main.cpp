#include "perf_framework.hpp"

// Two threads by default (the reference machine has 2 cores); --perf_threads=N overrides.
CV_PERF_TEST_MAIN(explain, cv::setNumThreads(2))
