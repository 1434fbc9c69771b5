// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// The test harness of the explain tests: OpenCV's ts where OpenCV's tree builds the module
// (opencv_test_explain, EXPLAIN_OPENCV_TS), GoogleTest otherwise (the standalone build: Debian's OpenCV
// ships no ts). The same test sources build on both.
#ifndef OPENCV_EXPLAIN_TEST_PRECOMP_HPP
#define OPENCV_EXPLAIN_TEST_PRECOMP_HPP

#ifdef EXPLAIN_OPENCV_TS
#include "opencv2/ts.hpp"
#include <sstream>
// ts's bundled GoogleTest predates GTEST_SKIP() and the _SUITE_ spellings: skip through ts's
// SkipTestException (reported as a skip by ts), with the message streamed as GTEST_SKIP() takes it.
#ifndef GTEST_SKIP
#define GTEST_SKIP() \
    for (std::ostringstream explain_skip_;; throw ::cvtest::SkipTestException(explain_skip_.str())) explain_skip_
#endif
#ifndef INSTANTIATE_TEST_SUITE_P
#define INSTANTIATE_TEST_SUITE_P INSTANTIATE_TEST_CASE_P
#endif
#else
#include <gtest/gtest.h>
#endif

#endif
