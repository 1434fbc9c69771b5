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

/** Whether the Net runs on OpenCV 5's new DNN engine (its own graph of fused operations, read through
    readProgram below); a Net read with ENGINE_CLASSIC runs on the engine of 4.x. */
inline bool runsOnNewEngine(const dnn::Net& net)
{
#if CV_VERSION_MAJOR >= 5
    return !net.getMainGraph().empty();
#else
    CV_UNUSED(net);
    return false;
#endif
}

/** One operation of a Net on OpenCV 5's new engine, as its public graph lists it. Ids: 0 is the net
    input, operation k of Program::ops has id k + 1. */
struct ProgramOp
{
    String name, type;
    Ptr<dnn::Layer> layer;                       // empty for a constant tensor (type "Constant")
    std::vector<std::pair<int, int> > inputs;    // (producer id, output index) of each input
    std::vector<String> outputNames;             // the names of its output tensors
    Mat constant;                                // the tensor of a "Constant"
};

/** The graph of a Net on the new engine, exact to the tensor: the operations in program order (the
    constant tensors they read listed as operations of their own), the net inputs' names, and the pins
    of the net outputs. */
struct Program
{
    std::vector<String> inputNames;
    std::vector<ProgramOp> ops;
    std::vector<std::pair<int, int> > outputs;
};

/** Reads the main graph of a Net on the new engine (OpenCV 5); throws for what cannot be run operation
    by operation (subgraphs: If, Loop). */
Program readProgram(const dnn::Net& net);

/** What the runs of a program reuse, as the Net's own forward pass does: each operation's outputs and the
    scratch space of the layers. */
struct ProgramBuffers
{
    std::vector<std::vector<Mat> > outputs;
    std::vector<Mat> scratch;
};

/** Runs a program operation by operation through the public Layer API, as the Net's own forward pass
    does, with the Net's own layer objects: each operation's outputs as the layers wrote them (blocked
    layouts included), in `buffers`, which the next run with them overwrites. */
const std::vector<std::vector<Mat> >& runProgram(const Program& program, const std::vector<Mat>& inputs,
                                                 ProgramBuffers& buffers);

/** A blob as the rules and the maps read it, as on the classic engine: a blocked layout as a plain
    N x C x ... copy, any other blob as it is. */
Mat plainBlob(const Mat& m);

/** The shape of plainBlob(m), without the copy. */
MatShape plainShape(const Mat& m);

/** Whether a TransformLayout layer (new engine) only moves between the block layout and the plain one,
    which runProgram keeps as the same plain blob: its gradient passes unchanged. */
bool isPlainLayoutTransform(const LayerInfo& info);

/** A pooling layer as the classic engine's PoolingLayer describes it: the layer itself, or for the new
    engine's MaxPool and AveragePool a PoolingLayer holding their windows (refused where it cannot: dilated
    windows, SAME_LOWER padding). */
Ptr<dnn::PoolingLayer> classicPoolingOf(const LayerInfo& info);

/** The factor a Softmax layer applies to its input first: softmax(scale x) (OpenCV 5 fuses a preceding
    multiplication into it; 1 on 4.x). */
float softmaxScaleOf(const LayerInfo& info);

/** The axis of a Concat (or the new engine's Concat2) layer. */
int concatAxisOf(const LayerInfo& info);

/** The axis of a Gather layer (captured) or of the new engine's Gather2 (public). */
int gatherAxisOf(const LayerInfo& info);

/** ONNX Slice settings: the sliced axes (empty: 0, 1, ...) with their starts, ends and steps (empty: 1). */
struct SliceSettings
{
    std::vector<int> starts, ends, axes, steps;
};

/** The settings of the new engine's Slice2: from its inputs 1 to 4 where it has them, else its public
    members (`inputs` are the layer's inputs of the forward pass). */
SliceSettings sliceOf(const LayerInfo& info, const std::vector<Mat>& inputs);

/** The new engine's Pad2: its mode ("constant", "reflect", "edge", "wrap") and where the input starts in
    its output per axis, from its pads input (`inputs` of the forward pass) or its captured "paddings".
    False for other layers. */
bool pad2Of(const LayerInfo& info, const std::vector<Mat>& inputs, String& mode, std::vector<int>& begin);

/** The order of a Transpose layer of the new engine (its public `perm`); empty for other layers. */
std::vector<int> transposeOrderOf(const LayerInfo& info);

/** The per-channel scale of a BatchNorm (Layer::getScaleShift) or BatchNorm2 (new engine) layer; empty
    when the layer gives none. */
Mat channelScaleOf(const LayerInfo& info);

/** A layer as Net::forward(name) reads it: the name it takes for the layer's output 0 (on the new engine
    the name of that output tensor; on the classic engine the layer's name) and the layer's type. */
struct NetOutput
{
    String forwardName, type;
};

/** The NetOutput of a layer of the Net, by layer name (or, on the new engine, output tensor name); an
    empty name is the Net's last output. Throws naming an unknown layer. */
NetOutput netOutputOf(const dnn::Net& net, const String& layer);

/** A key that stays the same for one Net object's whole life, whichever engine it runs on. */
const void* netIdentity(const dnn::Net& net);

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
