// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
#include "opencv2/explain/version.hpp"

namespace cv {
namespace explain {

String getVersionString()
{
    return format("%d.%d.%d", OPENCV_EXPLAIN_VERSION_MAJOR, OPENCV_EXPLAIN_VERSION_MINOR, OPENCV_EXPLAIN_VERSION_PATCH);
}

}} // namespace cv::explain
