// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// OpenCV 5's new DNN engine through its public graph API (see opencv_compat.hpp): the program of
// operations with exact tensor edges, and a forward pass that keeps every tensor.
#include "opencv_compat.hpp"
#include "layers/layer_utils.hpp"
#include <map>

namespace cv {
namespace explain {
namespace compat {

/** The captured axis of a classic Gather layer. */
static int capturedGatherAxis(const LayerInfo& info)
{
    const CapturedParams captured(info);
    if (!captured.known)
        CV_Error(Error::StsNotImplemented, "explain: the axis of " + describeLayer(info) +
                                               " was not captured (Net read before the explain library was loaded)");
    return captured.params.get<int>("axis", 0);
}

/** netOutputOf on the classic engine (every version). */
static NetOutput classicNetOutputOf(const dnn::Net& net, const String& layer)
{
    int id;
    if (layer.empty())
    {
        const std::vector<int> outs = net.getUnconnectedOutLayers();
        if (outs.empty())
            CV_Error(Error::StsError, "explain: the Net has no output layer");
        id = outs.back();
    }
    else
    {
        id = net.getLayerId(layer);
        if (id <= 0)
            CV_Error(Error::StsBadArg, "explain: the Net has no layer named '" + layer + "'");
    }
    Ptr<dnn::Layer> l = net.getLayer(id);
    return NetOutput{l->name, l->type};
}

#if CV_VERSION_MAJOR >= 5

namespace {

typedef std::pair<int, int> Pin;

std::string describeOp(const ProgramOp& op)
{
    return "layer '" + op.name + "' (" + op.type + ")";
}

/** The constant tensor `arg` (or input `input` of `consumer` left empty) as an operation of its own. */
ProgramOp constantOp(const dnn::Net& net, dnn::Arg arg, const String& consumer, size_t input)
{
    ProgramOp op;
    op.type = "Constant";
    op.name = arg.idx == 0 ? format("%s: no input %d", consumer.c_str(), (int)input) : net.argName(arg);
    op.outputNames.push_back(op.name);
    if (arg.idx != 0)
        op.constant = net.argTensor(arg);
    return op;
}

/** Runs one operation on `ins` into `outs`, as Net::Impl::forwardGraph does (buffers reused when they fit). */
void runOp(const ProgramOp& op, const std::vector<Mat>& ins, std::vector<Mat>& outs, std::vector<Mat>& scratch)
{
    dnn::Layer& layer = *op.layer;
    const int outputCount = (int)op.outputNames.size();
    std::vector<MatShape> inShapes, outShapes, tempShapes;
    std::vector<dnn::MatType> inTypes, outTypes, tempTypes;
    for (const Mat& m : ins)
    {
        inShapes.push_back(m.shape());
        inTypes.push_back(m.type());
    }
    outs.resize(outputCount);
    if (!layer.dynamicOutputShapes())
    {
        layer.getMemoryShapes(inShapes, outputCount, outShapes, tempShapes);
        layer.getTypes(inTypes, outputCount, (int)tempShapes.size(), outTypes, tempTypes);
        for (int i = 0; i < outputCount; i++)
            outs[i].fit(outShapes.at(i), outTypes.at(i));
        if (scratch.size() < tempShapes.size())
            scratch.resize(tempShapes.size());
        for (size_t i = 0; i < tempShapes.size(); i++)
            scratch[i].fit(tempShapes[i], tempTypes.at(i));
    }
    layer.finalize(ins, outs);
    layer.forward(ins, outs, scratch);
}

} // namespace

Program readProgram(const dnn::Net& net)
{
    Ptr<dnn::Graph> graph = net.getMainGraph();
    CV_Assert(!graph.empty());
    Program program;
    std::map<int, Pin> pinOfArg;  // Arg::idx -> the (id, output) that produces it
    const std::vector<dnn::Arg>& inputs = graph->inputs();
    for (size_t i = 0; i < inputs.size(); i++)
    {
        program.inputNames.push_back(net.argName(inputs[i]));
        pinOfArg[inputs[i].idx] = Pin(0, (int)i);
    }
    for (const Ptr<dnn::Layer>& layer : graph->prog())
    {
        if (!layer)
            continue;
        ProgramOp op;
        op.name = layer->name;
        op.type = layer->type;
        op.layer = layer;
        const std::vector<Ptr<dnn::Graph> >* subgraphs = layer->subgraphs();
        if (subgraphs && !subgraphs->empty())
            CV_Error(Error::StsNotImplemented, "explain: " + describeOp(op) + " of OpenCV 5's new engine runs "
                                                   "subgraphs, which explain does not run layer by layer; " +
                                                   classicEngineHint());
        for (size_t i = 0; i < layer->inputs.size(); i++)
        {
            const dnn::Arg arg = layer->inputs[i];
            auto it = arg.idx == 0 ? pinOfArg.end() : pinOfArg.find(arg.idx);
            if (it == pinOfArg.end())
            {
                if (arg.idx != 0 && net.argKind(arg) != dnn::DNN_ARG_CONST)
                    CV_Error(Error::StsError, "explain: " + describeOp(op) + " reads the tensor '" + net.argName(arg) +
                                                  "', which no layer before it computes");
                program.ops.push_back(constantOp(net, arg, op.name, i));
                if (arg.idx == 0)
                {
                    op.inputs.push_back(Pin((int)program.ops.size(), 0));
                    continue;
                }
                it = pinOfArg.emplace(arg.idx, Pin((int)program.ops.size(), 0)).first;
            }
            op.inputs.push_back(it->second);
        }
        const int id = (int)program.ops.size() + 1;
        for (size_t o = 0; o < layer->outputs.size(); o++)
        {
            op.outputNames.push_back(net.argName(layer->outputs[o]));
            pinOfArg[layer->outputs[o].idx] = Pin(id, (int)o);
        }
        program.ops.push_back(op);
    }
    for (dnn::Arg arg : graph->outputs())
        program.outputs.push_back(pinOfArg.at(arg.idx));
    return program;
}

const std::vector<std::vector<Mat> >& runProgram(const Program& program, const std::vector<Mat>& inputs,
                                                 ProgramBuffers& buffers)
{
    if (inputs.size() != program.inputNames.size())
        CV_Error(Error::StsBadArg, format("explain: the Net has %d inputs, %d given", (int)program.inputNames.size(),
                                          (int)inputs.size()));
    std::vector<std::vector<Mat> >& outputs = buffers.outputs;
    outputs.resize(program.ops.size());
    auto valueAt = [&](const Pin& p) { return p.first == 0 ? inputs.at(p.second) : outputs[p.first - 1].at(p.second); };
    for (size_t k = 0; k < program.ops.size(); k++)
    {
        const ProgramOp& op = program.ops[k];
        if (op.type == "Constant")
        {
            outputs[k] = {op.constant};
            continue;
        }
        std::vector<Mat> ins;
        for (const Pin& p : op.inputs)
            ins.push_back(valueAt(p));
        try
        {
            runOp(op, ins, outputs[k], buffers.scratch);
        }
        catch (const cv::Exception& e)
        {
            CV_Error(Error::StsError, "explain: " + describeOp(op) + " failed in the layer-by-layer forward pass: " +
                                          e.err);
        }
    }
    return outputs;
}

MatShape plainShape(const Mat& m)
{
    const MatShape s = m.shape();
    if (s.layout != DATA_LAYOUT_BLOCK || m.dims < 3)
        return s;
    MatShape plain({m.size[0], s.C});  // N x C1 x spatial x C0 holds N x C x spatial, C <= C1 * C0
    for (int d = 2; d < m.dims - 1; d++)
        plain.push_back(m.size[d]);
    return plain;
}

Mat plainBlob(const Mat& m)
{
    if (m.shape().layout != DATA_LAYOUT_BLOCK || m.dims < 3)
        return m;
    CV_Assert(m.depth() == CV_32F && m.isContinuous());
    const MatShape shape = plainShape(m);
    const int n = m.size[0], groups = m.size[1], c0 = m.size[m.dims - 1], channels = shape[1];
    CV_Assert(channels > 0 && channels <= groups * c0);
    const int plane = (int)(m.total() / ((size_t)n * groups * c0));
    Mat plain(shape, CV_32F), part;
    for (int b = 0; b < n; b++)
        for (int g = 0; g < groups; g++)
        {
            // a group is plane x c0 (channels last); plain holds its c0 channels as c0 x plane
            const Mat block(plane, c0, CV_32F, (void*)m.ptr<float>(b, g));
            const int valid = std::min(c0, channels - g * c0);
            Mat to(valid, plane, CV_32F, plain.ptr<float>(b, g * c0));
            if (valid == c0)
                transpose(block, to);
            else
            {
                transpose(block, part);
                part.rowRange(0, valid).copyTo(to);
            }
        }
    return plain;
}

bool isPlainLayoutTransform(const LayerInfo& info)
{
    const DataLayout layout = layerAs<dnn::TransformLayoutLayer>(info)->layout;
    const bool plain = layout != DATA_LAYOUT_NHWC && layout != DATA_LAYOUT_NDHWC && layout != DATA_LAYOUT_PLANAR;
    return plain && info.inputShapes.size() == 1 && info.outputShapes.size() == 1 &&
           info.inputShapes[0] == info.outputShapes[0];
}

namespace {

/** A classic PoolingLayer with the windows of a new-engine MaxPool or AveragePool. */
template <typename NewPool>
Ptr<dnn::PoolingLayer> asClassicPooling(const LayerInfo& info, const NewPool& l, bool max, bool countPadding)
{
    for (int d : l.dilations)
        if (d != 1)
            CV_Error(Error::StsNotImplemented, "explain: " + describeLayer(info) + " has dilated windows; not supported");
    if (l.auto_pad == dnn::AUTO_PAD_SAME_LOWER)
        CV_Error(Error::StsNotImplemented, "explain: " + describeLayer(info) + " pads SAME_LOWER; not supported");
    dnn::LayerParams lp;
    lp.name = info.name;
    lp.set("pool", max ? "max" : "ave");
    lp.set("kernel_size", dnn::DictValue::arrayInt(l.kernel_shape.data(), (int)l.kernel_shape.size()));
    Ptr<dnn::PoolingLayer> pool = dnn::PoolingLayer::create(lp);
    const size_t axes = l.kernel_shape.size();
    pool->kernel_size.assign(l.kernel_shape.begin(), l.kernel_shape.end());
    pool->strides.assign(axes, 1);
    for (size_t a = 0; a < axes && a < l.strides.size(); a++)
        pool->strides[a] = l.strides[a];
    pool->pads_begin.assign(axes, 0);
    pool->pads_end.assign(axes, 0);
    if (l.auto_pad == dnn::AUTO_PAD_NONE && l.pads.size() == 2 * axes)
        for (size_t a = 0; a < axes; a++)
        {
            pool->pads_begin[a] = l.pads[a];
            pool->pads_end[a] = l.pads[axes + a];
        }
    pool->padMode = l.auto_pad == dnn::AUTO_PAD_SAME_UPPER ? "SAME" : l.auto_pad == dnn::AUTO_PAD_VALID ? "VALID" : "";
    pool->ceilMode = l.ceil_mode;
    pool->avePoolPaddedArea = countPadding;
    pool->globalPooling = false;
    return pool;
}

} // namespace

Ptr<dnn::PoolingLayer> classicPoolingOf(const LayerInfo& info)
{
    if (Ptr<dnn::MaxPoolLayer> maxPool = info.layer.dynamicCast<dnn::MaxPoolLayer>())
        return asClassicPooling(info, *maxPool, true, false);
    if (Ptr<dnn::AveragePoolLayer> avePool = info.layer.dynamicCast<dnn::AveragePoolLayer>())
        return asClassicPooling(info, *avePool, false, avePool->count_include_pad);
    return layerAs<dnn::PoolingLayer>(info);
}

float softmaxScaleOf(const LayerInfo& info)
{
    return layerAs<dnn::SoftmaxLayer>(info)->scale;
}

int concatAxisOf(const LayerInfo& info)
{
    Ptr<dnn::Concat2Layer> concat2 = info.layer.dynamicCast<dnn::Concat2Layer>();
    return concat2 ? concat2->axis : layerAs<dnn::ConcatLayer>(info)->axis;
}

/** An integer tensor (int32 or int64) as ints, saturated. */
static std::vector<int> intsOf(const Mat& m)
{
    Mat i32;
    m.convertTo(i32, CV_32S);
    return std::vector<int>(i32.ptr<int>(), i32.ptr<int>() + i32.total());
}

SliceSettings sliceOf(const LayerInfo& info, const std::vector<Mat>& inputs)
{
    Ptr<dnn::Slice2Layer> l = layerAs<dnn::Slice2Layer>(info);
    SliceSettings s;
    s.starts = inputs.size() > 1 ? intsOf(inputs[1]) : l->starts;
    s.ends = inputs.size() > 2 ? intsOf(inputs[2]) : l->ends;
    s.axes = inputs.size() > 3 && !inputs[3].empty() ? intsOf(inputs[3]) : l->axes;
    if (inputs.size() > 4 && !inputs[4].empty())
        s.steps = intsOf(inputs[4]);
    if (s.starts.size() != s.ends.size() || (!s.axes.empty() && s.axes.size() != s.starts.size()) ||
        (!s.steps.empty() && s.steps.size() != s.starts.size()))
        CV_Error(Error::StsBadArg, "explain: the starts, ends, axes and steps of " + describeLayer(info) +
                                       " differ in length");
    return s;
}

bool pad2Of(const LayerInfo& info, const std::vector<Mat>& inputs, String& mode, std::vector<int>& begin)
{
    if (!info.layer.dynamicCast<dnn::Pad2Layer>())
        return false;
    const dnn::LayerParams p = requireCapturedParams(info, "mode and paddings").params;
    mode = p.get<String>("mode", "constant");
    const int dims = inputs.at(0).dims;
    begin.assign(dims, 0);
    if (inputs.size() > 1 && !inputs[1].empty())
    {
        const std::vector<int> pads = intsOf(inputs[1]);  // ONNX: all begins, then all ends
        std::vector<int> axes = inputs.size() > 3 && !inputs[3].empty() ? intsOf(inputs[3]) : std::vector<int>();
        for (int i = (int)axes.size(); i < (int)pads.size() / 2; i++)
            axes.push_back(i);
        for (size_t i = 0; i < pads.size() / 2; i++)
            begin.at(normalizeAxis(axes[i], dims)) = pads[i];
    }
    else if (p.has("paddings"))
    {
        const dnn::DictValue pads = p.get("paddings");  // (begin, end) per axis
        for (int i = 0; 2 * i < pads.size() && i < dims; i++)
            begin[i] = pads.get<int>(2 * i);
    }
    return true;
}

int gatherAxisOf(const LayerInfo& info)
{
    Ptr<dnn::Gather2Layer> gather2 = info.layer.dynamicCast<dnn::Gather2Layer>();
    return gather2 ? gather2->axis : capturedGatherAxis(info);
}

std::vector<int> transposeOrderOf(const LayerInfo& info)
{
    Ptr<dnn::TransposeLayer> transpose = info.layer.dynamicCast<dnn::TransposeLayer>();
    return transpose ? transpose->perm : std::vector<int>();
}

Mat channelScaleOf(const LayerInfo& info)
{
    Mat scale, shift;
    Ptr<dnn::BatchNorm2Layer> bn2 = info.layer.dynamicCast<dnn::BatchNorm2Layer>();
    if (bn2)
        bn2->getScaleBias(scale, shift);
    else
        info.layer->getScaleShift(scale, shift);
    return scale;
}

NetOutput netOutputOf(const dnn::Net& net, const String& layer)
{
    if (!runsOnNewEngine(net))
        return classicNetOutputOf(net, layer);
    Ptr<dnn::Graph> graph = net.getMainGraph();
    const String tensor = layer.empty() && !graph->outputs().empty() ? net.argName(graph->outputs().back()) : layer;
    for (const Ptr<dnn::Layer>& l : graph->prog())
    {
        if (!l || l->outputs.empty())
            continue;
        if (l->name == tensor)
            return NetOutput{net.argName(l->outputs[0]), l->type};
        for (dnn::Arg out : l->outputs)
            if (net.argName(out) == tensor)
                return NetOutput{tensor, l->type};
    }
    CV_Error(Error::StsBadArg, layer.empty() ? String("explain: the Net has no output layer")
                                             : "explain: the Net has no layer named '" + layer + "'");
}

const void* netIdentity(const dnn::Net& net)
{
    return runsOnNewEngine(net) ? (const void*)net.getMainGraph().get() : (const void*)net.getLayer(0).get();
}

#else  // OpenCV 4: no new engine

Program readProgram(const dnn::Net&)
{
    CV_Error(Error::StsInternal, "explain: OpenCV 4 has no new DNN engine");
}

const std::vector<std::vector<Mat> >& runProgram(const Program&, const std::vector<Mat>&, ProgramBuffers&)
{
    CV_Error(Error::StsInternal, "explain: OpenCV 4 has no new DNN engine");
}

MatShape plainShape(const Mat& m)
{
    return dnn::shape(m);
}

Mat plainBlob(const Mat& m)
{
    return m;
}

bool isPlainLayoutTransform(const LayerInfo&)
{
    return false;
}

Ptr<dnn::PoolingLayer> classicPoolingOf(const LayerInfo& info)
{
    return layerAs<dnn::PoolingLayer>(info);
}

float softmaxScaleOf(const LayerInfo&)
{
    return 1.f;
}

int concatAxisOf(const LayerInfo& info)
{
    return layerAs<dnn::ConcatLayer>(info)->axis;
}

int gatherAxisOf(const LayerInfo& info)
{
    return capturedGatherAxis(info);
}

bool pad2Of(const LayerInfo&, const std::vector<Mat>&, String&, std::vector<int>&)
{
    return false;
}

SliceSettings sliceOf(const LayerInfo& info, const std::vector<Mat>&)
{
    CV_Error(Error::StsNotImplemented, "explain: " + describeLayer(info) + " is a layer of OpenCV 5's new engine");
}

std::vector<int> transposeOrderOf(const LayerInfo&)
{
    return std::vector<int>();
}

Mat channelScaleOf(const LayerInfo& info)
{
    Mat scale, shift;
    info.layer->getScaleShift(scale, shift);
    return scale;
}

NetOutput netOutputOf(const dnn::Net& net, const String& layer)
{
    return classicNetOutputOf(net, layer);
}

const void* netIdentity(const dnn::Net& net)
{
    return net.getLayer(0).get();
}

#endif

}}} // namespace cv::explain::compat
