// What differs between the OpenCV versions the module builds against (4.6 to 5.x), in one place:
// the rest of the module calls these and carries no version tests.
#ifndef OPENCV_EXPLAIN_OPENCV_COMPAT_HPP
#define OPENCV_EXPLAIN_OPENCV_COMPAT_HPP

#include "precomp.hpp"

namespace cv {
namespace explain {
namespace compat {

/** Net::getLayersShapes for float32 inputs (OpenCV 5 also takes the input types). */
inline void getLayersShapes(const dnn::Net& net, const std::vector<MatShape>& inputs, std::vector<int>& ids,
                            std::vector<std::vector<MatShape> >& in, std::vector<std::vector<MatShape> >& out)
{
#if CV_VERSION_MAJOR >= 5
    net.getLayersShapes(inputs, std::vector<int>(inputs.size(), CV_32F), ids, in, out);
#else
    net.getLayersShapes(inputs, ids, in, out);
#endif
}

}}} // namespace cv::explain::compat

#endif
