// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// Shared by the OpenCL tests: turning OpenCL on for one test, and skipping (or failing, in CI) where
// no OpenCL device is in use.
#ifndef OPENCV_EXPLAIN_TEST_OCL_COMMON_HPP
#define OPENCV_EXPLAIN_TEST_OCL_COMMON_HPP

#include "test_common.hpp"
#include <opencv2/core/ocl.hpp>
#include <cstdlib>

#ifdef EXPLAIN_OPENCV_TS
#include "opencv2/ts/ocl_test.hpp"
#else
// The standalone build's stand-ins for OpenCV's ts/ocl_test.hpp (Debian's OpenCV ships no ts): a test
// runs the same code with OpenCL on (OCL_ON) and off (OCL_OFF) and compares; instances get an OCL_ prefix.
#define OCL_TEST_P TEST_P
#define OCL_ON(...) cv::ocl::setUseOpenCL(true); __VA_ARGS__;
#define OCL_OFF(...) cv::ocl::setUseOpenCL(false); __VA_ARGS__;
#define OCL_INSTANTIATE_TEST_CASE_P(prefix, suite, generator) INSTANTIATE_TEST_SUITE_P(OCL_##prefix, suite, generator)
#endif

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
