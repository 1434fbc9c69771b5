// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
#ifndef OPENCV_EXPLAIN_VERSION_HPP
#define OPENCV_EXPLAIN_VERSION_HPP

#include <opencv2/core.hpp>

// The module's version (the standalone build's CMake project reads it from here).
#define OPENCV_EXPLAIN_VERSION_MAJOR 0
#define OPENCV_EXPLAIN_VERSION_MINOR 1
#define OPENCV_EXPLAIN_VERSION_PATCH 0

namespace cv {
namespace explain {

//! @addtogroup explain
//! @{

/** @brief The module's version as "major.minor.patch", e.g. "0.1.0" (OPENCV_EXPLAIN_VERSION_* of the
headers the library was built with). */
CV_EXPORTS_W String getVersionString();

//! @}

}} // namespace cv::explain

#endif
