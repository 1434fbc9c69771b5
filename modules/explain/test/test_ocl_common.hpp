// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// Shared by the OpenCL tests: turning OpenCL on for one test, and skipping (or failing, in CI) where
// no OpenCL device is in use.
#ifndef OPENCV_EXPLAIN_TEST_OCL_COMMON_HPP
#define OPENCV_EXPLAIN_TEST_OCL_COMMON_HPP

#include "test_common.hpp"
#include <opencv2/core/ocl.hpp>
#include <cstdlib>

namespace opencv_test {

/** Turns OpenCL on for one test and restores the previous setting. */
struct OpenCLScope
{
    bool previous = cv::ocl::useOpenCL();
    bool ready = false;
    OpenCLScope()
    {
        if (cv::ocl::haveOpenCL())
        {
            cv::ocl::setUseOpenCL(true);
            ready = cv::ocl::useOpenCL();
        }
    }
    ~OpenCLScope() { cv::ocl::setUseOpenCL(previous); }
};

/** Skips the test without an OpenCL device, or fails it when EXPLAIN_REQUIRE_OPENCL=1 (CI). */
#define EXPLAIN_REQUIRE_OPENCL(scope)                                                                          \
    if (!scope.ready)                                                                                          \
    {                                                                                                          \
        const char* req = std::getenv("EXPLAIN_REQUIRE_OPENCL");                                               \
        if (req && std::string(req) == "1")                                                                    \
            FAIL() << "EXPLAIN_REQUIRE_OPENCL=1 but no OpenCL device is in use";                               \
        GTEST_SKIP() << "no OpenCL device (with PoCL: OPENCV_OPENCL_DEVICE=:CPU: "                             \
                        "OPENCV_DNN_OPENCL_ALLOW_ALL_DEVICES=1)";                                              \
    }

} // namespace opencv_test

#endif
