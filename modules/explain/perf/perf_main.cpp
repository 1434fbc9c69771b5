// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
#include "perf_framework.hpp"

// Two threads by default (the reference machine has 2 cores); --perf_threads=N overrides.
CV_PERF_TEST_MAIN(explain, cv::setNumThreads(2))
