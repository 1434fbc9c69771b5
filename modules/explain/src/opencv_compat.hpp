// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
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

/** Whether the Net runs on OpenCV 5's new DNN engine (its own graph of fused operations), which the
    module does not differentiate; a Net read with ENGINE_CLASSIC runs on the engine of 4.x. */
inline bool runsOnNewEngine(const dnn::Net& net)
{
#if CV_VERSION_MAJOR >= 5
    return !net.getMainGraph().empty();
#else
    CV_UNUSED(net);
    return false;
#endif
}

/** How to read a model on the engine the module differentiates, for error messages. */
inline const char* classicEngineHint()
{
    return "read the model with the classic engine: cv::explain::readNet(model) (Python: cv2.explain.readNet(model)) "
           "or cv::dnn::readNet(model, \"\", \"\", cv::dnn::ENGINE_CLASSIC), or run the program with the "
           "environment variable OPENCV_FORCE_DNN_ENGINE=1";
}

/** cv::dnn 4.7 and newer pack a convolution's weights once, in its first forward pass, with whatever
    BatchNorm, Scale or Power that pass's fusion folded into them, and keep them when a later pass with
    other requested outputs fuses differently (4.6 packs them again). */
inline bool fusionCanGoStale()
{
    return CV_VERSION_MAJOR > 4 || (CV_VERSION_MAJOR == 4 && CV_VERSION_MINOR >= 7);
}

/** Where fusion can go stale, turns it off, so that the packed weights are the layers' own whatever
    outputs a pass requests (exact if no pass with fusion ran before; BackwardRule::verifyForward
    catches that case). 4.6 keeps its fusion. */
inline void keepWeightsUnfolded(dnn::Net& net)
{
    if (fusionCanGoStale())
        net.enableFusion(false);
}

/** Gives back fusion to a Net whose packed weights hold what an earlier pass folded: its own forward
    passes are right again with fusion on. */
inline void restoreFusion(dnn::Net& net)
{
    if (fusionCanGoStale())
        net.enableFusion(true);
}

/** The operation of a NaryEltwise layer (4.7 and newer), by its ONNX-importer name in lower case ("add",
    "sub", "mul", "div", "max", "min", "mean", "sum", "pow", "equal", ...): OpenCV 5 says it in a public
    member, 4.x only in the captured parameters. */
String naryOperationOf(const LayerInfo& info);

/** The settings of a Gemm layer (4.9 and newer): Y = alpha op(A) op(B) + beta C. */
struct GemmSettings
{
    bool transA = false, transB = false, flattenA = true;
    float alpha = 1.f, beta = 1.f;
};
GemmSettings gemmOf(const LayerInfo& info);

/** The settings of a MatMul layer (4.9 and newer): Y = alpha op(A) op(B), batched and broadcast. */
GemmSettings matMulOf(const LayerInfo& info);

/** The epsilon of an InstanceNormalization layer (4.9 and newer). */
float instanceNormEpsilonOf(const LayerInfo& info);

/** The settings of a LayerNormalization layer (4.9 and newer): normalized over the axes [axis, end). */
struct LayerNormSettings
{
    int axis = -1;
    float epsilon = 1e-5f;
};
LayerNormSettings layerNormOf(const LayerInfo& info);

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
