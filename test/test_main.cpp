#include "test_common.hpp"

int main(int argc, char** argv)
{
    ::testing::InitGoogleTest(&argc, argv);
    cv::setNumThreads(2);
    return RUN_ALL_TESTS();
}
