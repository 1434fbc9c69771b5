// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// cv::explain::getVersionString() and the version macros agree (the standalone CMake project reads them too).
#include "test_common.hpp"

namespace opencv_test { namespace {

TEST(Version, StringMatchesTheHeader)
{
    EXPECT_EQ(cv::explain::getVersionString(), format("%d.%d.%d", OPENCV_EXPLAIN_VERSION_MAJOR, OPENCV_EXPLAIN_VERSION_MINOR,
                                         OPENCV_EXPLAIN_VERSION_PATCH));
}

}} // namespace opencv_test
