// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// Reads a model on the engine explain differentiates, for the perf tests and the comparison tool.
#ifndef OPENCV_EXPLAIN_PERF_READ_NET_HPP
#define OPENCV_EXPLAIN_PERF_READ_NET_HPP

#include <opencv2/dnn.hpp>
#include <string>

namespace perf {

/** OpenCV 5: the classic engine (the explainers refuse its new one), so that the plain forward pass the
    ratios divide by is the same Net's; 4.x: the only engine. */
inline cv::dnn::Net readNetToExplain(const std::string& model)
{
#if CV_VERSION_MAJOR >= 5
    return cv::dnn::readNet(model, "", "", cv::dnn::ENGINE_CLASSIC);
#else
    return cv::dnn::readNet(model);
#endif
}

} // namespace perf

#endif
