// This file is part of the explain module (OpenCV contrib style). Licensed under the Apache License 2.0
// (LICENSE at the top of the repository).
#include "opencv2/explain/version.hpp"

namespace cv {
namespace explain {

String getVersionString()
{
    return format("%d.%d.%d", OPENCV_EXPLAIN_VERSION_MAJOR, OPENCV_EXPLAIN_VERSION_MINOR, OPENCV_EXPLAIN_VERSION_PATCH);
}

}} // namespace cv::explain
