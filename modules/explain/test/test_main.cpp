#include "test_common.hpp"
#include <cstdlib>

int main(int argc, char** argv)
{
    ::testing::InitGoogleTest(&argc, argv);
    // EXPLAIN_TEST_OPENCV_THREADS=0 runs OpenCV's parallel loops serially: ThreadSanitizer then sees only
    // the threads the tests start (Debian's TBB-backed pool is not instrumented and reports false races)
    const char* threads = std::getenv("EXPLAIN_TEST_OPENCV_THREADS");
    cv::setNumThreads(threads ? std::atoi(threads) : 2);
    return RUN_ALL_TESTS();
}
