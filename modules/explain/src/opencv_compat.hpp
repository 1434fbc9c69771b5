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

/** The reduction a Reduce layer computes, the same for every version. */
struct Reduction
{
    enum Op { MAX, MIN, MEAN, SUM, L1, L2, PROD, SUM_SQUARE, LOG_SUM, LOG_SUM_EXP };
    Op op = SUM;
    std::vector<int> axes;  // the reduced axes of the input, ascending
};

/** The reduction of a Reduce layer for an input of `inShape`. OpenCV before 4.8 reduces the last
    axes (its importer moves the reduced ones there) and says which in public members; from 4.8 on the
    operation and ONNX-style axes are private, read from the captured parameters. */
Reduction reductionOf(const LayerInfo& info, const MatShape& inShape);

}}} // namespace cv::explain::compat

#endif
