// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
#include "test_common.hpp"
#include <cstdlib>

namespace opencv_test {
// EXPLAIN_TEST_OPENCV_THREADS=0 runs OpenCV's parallel loops serially: ThreadSanitizer then sees only
// the threads the tests start (Debian's TBB-backed pool is not instrumented and reports false races)
static void initExplainTests()
{
    const char* threads = std::getenv("EXPLAIN_TEST_OPENCV_THREADS");
    cv::setNumThreads(threads ? std::atoi(threads) : 2);
#ifdef EXPLAIN_OPENCV_TS
    cvtest::addDataSearchPath(EXPLAIN_DATA_DIR);  // findDataFile(): OPENCV_TEST_DATA_PATH/explain, then data/
#endif
}
} // namespace opencv_test

#ifdef EXPLAIN_OPENCV_TS
CV_TEST_MAIN("explain", opencv_test::initExplainTests())
#else
int main(int argc, char** argv)
{
    ::testing::InitGoogleTest(&argc, argv);
    opencv_test::initExplainTests();
    return RUN_ALL_TESTS();
}
#endif
