// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// Backward rules of layers that only move data: Concat, Slice, Split, Flatten, Reshape, Permute,
// Padding, ShuffleChannel, Identity/Dropout, and (cv::dnn 4.9+) Expand, Tile, Gather, DepthToSpace,
// SpaceToDepth. Each gradient is the inverse data movement. The device
// versions do the same on UMats (2D views, whose ROI copies and sums OpenCV runs on the device, or a
// kernel); they return false, for the CPU rule to run, for whatever they do not handle.
#include "layer_utils.hpp"
#include "../opencv_compat.hpp"
#include "../ocl_ops.hpp"
#include <algorithm>
#include <numeric>

namespace cv {
namespace explain {

namespace {

/** Flatten, Reshape, Identity, Dropout and the new engine's Reshape2, Squeeze, Unsqueeze (whose shape and axes
    inputs are integers, which carry no gradient): the gradient takes the input's shape back (on the device
    too). */
class PassThroughRule : public BackwardRule
{
public:
    explicit PassThroughRule(const LayerInfo& info)
    {
        if (info.inputShapes.size() == 1)
            inShape = std::vector<int>(info.inputShapes[0].begin(), info.inputShapes[0].end());
    }

    /** With one input, its recorded shape is all the rule needs. */
    int activationsRead() const CV_OVERRIDE
    {
        return inShape.empty() ? READS_INPUTS | READS_OUTPUTS : READS_NOTHING;
    }

    void backward(const std::vector<Mat>& inputs, const std::vector<Mat>&, const std::vector<Mat>& outputGrads,
                  const std::vector<bool>& need, RectifierMode, std::vector<Mat>& inputGrads) CV_OVERRIDE
    {
        if (!need[0])
            return;
        if (inShape.empty())
            inputGrads[0] = outputGrads[0].reshape(1, inputs[0].dims, inputs[0].size.p);
        else
            inputGrads[0] = outputGrads[0].reshape(1, (int)inShape.size(), inShape.data());
    }

    bool backwardOCL(const std::vector<UMat>& inputs, const std::vector<UMat>&, const std::vector<UMat>& outputGrads,
                     const std::vector<bool>& need, RectifierMode, std::vector<UMat>& inputGrads) CV_OVERRIDE
    {
        if (!need[0])
            return true;
        if (inShape.empty())
            inputGrads[0] = outputGrads[0].reshape(1, inputs[0].dims, inputs[0].size.p);
        else
            inputGrads[0] = outputGrads[0].reshape(1, (int)inShape.size(), inShape.data());
        return true;
    }

private:
    std::vector<int> inShape;  // of the only input
};

/** The new engine's Cast2: a float-to-float cast passes the gradient (a cast of integers is never asked for
    one: integers carry none), and a cast of floats to integers (rounding) is refused as not differentiable. */
class CastRule CV_FINAL : public BackwardRule
{
public:
    explicit CastRule(const LayerInfo& info) : describe(describeLayer(info)) {}

    void backward(const std::vector<Mat>& inputs, const std::vector<Mat>& outputs, const std::vector<Mat>& outputGrads,
                  const std::vector<bool>& need, RectifierMode, std::vector<Mat>& inputGrads) CV_OVERRIDE
    {
        if (!need[0])
            return;
        if (outputs[0].depth() == CV_32F)
            inputGrads[0] = outputGrads[0].reshape(1, inputs[0].dims, inputs[0].size.p);
        else
            CV_Error(Error::StsNotImplemented, "explain: " + describe + " casts floats to " +
                                                   typeToString(outputs[0].type()) + ": not differentiable");
    }

private:
    String describe;
};

/** OpenCV 5's TransformLayout between the block layout and the plain one: the engine keeps both sides as
    the same plain blob (compat::runProgram), so the gradient passes unchanged. */
class LayoutRule CV_FINAL : public PassThroughRule
{
public:
    explicit LayoutRule(const LayerInfo& info) : PassThroughRule(info)
    {
        if (!compat::isPlainLayoutTransform(info))
            CV_Error(Error::StsNotImplemented, "explain: " + describeLayer(info) + " changes the order of the "
                                                   "elements (to a channels-last layout): no backward rule for it");
    }
};

class SplitRule CV_FINAL : public BackwardRule
{
public:
    explicit SplitRule(const LayerInfo&) {}

    void backward(const std::vector<Mat>& inputs, const std::vector<Mat>& outputs, const std::vector<Mat>& outputGrads,
                  const std::vector<bool>& need, RectifierMode, std::vector<Mat>& inputGrads) CV_OVERRIDE
    {
        if (!need[0])
            return;
        Mat g = outputGrads[0].clone();
        for (size_t i = 1; i < outputGrads.size(); i++)
            g += outputGrads[i];
        inputGrads[0] = g.reshape(1, inputs[0].dims, inputs[0].size.p);
    }

    bool backwardOCL(const std::vector<UMat>& inputs, const std::vector<UMat>& outputs, const std::vector<UMat>& outputGrads,
                         const std::vector<bool>& need, RectifierMode, std::vector<UMat>& inputGrads) CV_OVERRIDE
    {
        if (!useOpenCLFor(outputGrads.at(0)))
            return false;
        if (!need[0])
            return true;
        for (const UMat& g : outputGrads)
            if (!g.isContinuous() || g.total() != inputs[0].total())
                return false;
        UMat sum = as2D(outputGrads[0], 1);
        for (size_t i = 1; i < outputGrads.size(); i++)
        {
            UMat next;  // a new buffer: the output gradients may be shared
            add(sum, as2D(outputGrads[i], 1), next);
            sum = next;
        }
        inputGrads[0] = sum.reshape(1, inputs[0].dims, inputs[0].size.p);
        return true;
    }
};

class ConcatRule CV_FINAL : public BackwardRule
{
public:
    explicit ConcatRule(const LayerInfo& info_) : info(info_) {}

    void backward(const std::vector<Mat>& inputs, const std::vector<Mat>& outputs, const std::vector<Mat>& outputGrads,
                  const std::vector<bool>& need, RectifierMode, std::vector<Mat>& inputGrads) CV_OVERRIDE
    {
        const Mat& r = outputGrads[0];
        const int axis = normalizeAxis(compat::concatAxisOf(info), r.dims);
        std::vector<Range> ranges(r.dims, Range::all());
        int offset = 0;
        for (size_t i = 0; i < inputs.size(); i++)
        {
            for (int d = 0; d < r.dims; d++)
                if (d != axis && inputs[i].size[d] != r.size[d])
                    CV_Error(Error::StsNotImplemented, "explain: " + describeLayer(info) +
                                                           " pads its inputs to a common size; not supported");
            ranges[axis] = Range(offset, offset + inputs[i].size[axis]);
            offset += inputs[i].size[axis];
            if (need[i])
                inputGrads[i] = r(ranges).clone();
        }
    }

    bool backwardOCL(const std::vector<UMat>& inputs, const std::vector<UMat>& outputs, const std::vector<UMat>& outputGrads,
                         const std::vector<bool>& need, RectifierMode, std::vector<UMat>& inputGrads) CV_OVERRIDE
    {
        if (!useOpenCLFor(outputGrads.at(0)))
            return false;
        const UMat& r = outputGrads[0];
        const int axis = normalizeAxis(compat::concatAxisOf(info), r.dims);
        if (!r.isContinuous() || axis < 0 || axis >= r.dims)
            return false;
        for (const UMat& in : inputs)
            for (int d = 0; d < r.dims; d++)
                if (in.dims != r.dims || (d != axis && in.size[d] != r.size[d]))
                    return false;  // padded concatenation: the CPU rule reports it
        // outer x (axis size * inner) views: each input is a block of columns
        const int outer = (int)totalOf(r, 0, axis), inner = (int)totalOf(r, axis + 1);
        UMat rows = as2D(r, outer);
        int offset = 0;
        for (size_t i = 0; i < inputs.size(); i++)
        {
            const int cols = inputs[i].size[axis] * inner;
            if (need[i])
            {
                UMat g;
                rows.colRange(offset, offset + cols).copyTo(g);
                inputGrads[i] = g.reshape(1, inputs[i].dims, inputs[i].size.p);
            }
            offset += cols;
        }
        return true;
    }

private:
    LayerInfo info;
};

class SliceRule CV_FINAL : public BackwardRule
{
public:
    explicit SliceRule(const LayerInfo& info_) : info(info_) {}

    void backward(const std::vector<Mat>& inputs, const std::vector<Mat>& outputs, const std::vector<Mat>& outputGrads,
                  const std::vector<bool>& need, RectifierMode, std::vector<Mat>& inputGrads) CV_OVERRIDE
    {
        if (!need[0])
            return;
        Ptr<dnn::SliceLayer> l = layerAs<dnn::SliceLayer>(info);
        const Mat& x = inputs[0];
        Mat dx = zerosLike(x);
        std::vector<MatShape> outShapes;
        for (const Mat& g : outputGrads)
            outShapes.push_back(dnn::shape(g));
        for (size_t o = 0; o < outputGrads.size(); o++)
        {
            const Mat& r = outputGrads[o];
            const std::vector<int> steps = sliceStepsOf(*l, x.dims, o);
            std::vector<Range> ranges = sliceRangesOf(l, dnn::shape(x), outShapes, o, true);
            if (std::all_of(steps.begin(), steps.end(), [](int s) { return s == 1; }))
            {
                Mat view = dx(ranges);
                if (view.total() != r.total())
                    CV_Error(Error::StsNotImplemented, "explain: the output gradient of " + describeLayer(info) +
                                                           " does not fit the range it copies");
                view += r.reshape(1, view.dims, view.size.p);
                continue;
            }
            // with steps: output index i_d reads the input at start_d + i_d * step_d
            const MatShape outShape = outShapes[o];
            const std::vector<int> inStrides = stridesOf(dnn::shape(x));
            const int dims = (int)outShape.size();
            if (dims != x.dims)
                CV_Error(Error::StsNotImplemented, "explain: " + describeLayer(info) + " slices with steps and changes the rank");
            if (r.total() != (size_t)dnn::total(outShape))
                CV_Error(Error::StsNotImplemented, "explain: the output gradient of " + describeLayer(info) +
                                                       " does not fit the elements it copies");
            std::vector<int> idx(dims, 0);
            const float* rp = r.ptr<float>();
            float* dp = dx.ptr<float>();
            for (size_t k = 0, n = r.total(); k < n; k++)
            {
                size_t at = 0;
                for (int d = 0; d < dims; d++)
                    at += (size_t)((ranges[d] == Range::all() ? 0 : ranges[d].start) + idx[d] * steps[d]) * inStrides[d];
                dp[at] += rp[k];
                for (int d = dims - 1; d >= 0; d--)
                {
                    if (++idx[d] < outShape[d])
                        break;
                    idx[d] = 0;
                }
            }
        }
        inputGrads[0] = dx;
    }

    bool backwardOCL(const std::vector<UMat>& inputs, const std::vector<UMat>& outputs, const std::vector<UMat>& outputGrads,
                         const std::vector<bool>& need, RectifierMode, std::vector<UMat>& inputGrads) CV_OVERRIDE
    {
        if (!useOpenCLFor(outputGrads.at(0)))
            return false;
        if (!need[0])
            return true;
        Ptr<dnn::SliceLayer> l = layerAs<dnn::SliceLayer>(info);
        const MatShape inShape = dnn::shape(inputs[0]);
        std::vector<MatShape> outShapes;
        for (const UMat& g : outputGrads)
            outShapes.push_back(dnn::shape(g));
        for (size_t o = 0; o < outputGrads.size(); o++)
            for (int s : sliceStepsOf(*l, (int)inShape.size(), o))
                if (s != 1)
                    return false;  // steps: the CPU rule
        UMat dx;
        for (size_t o = 0; o < outputGrads.size(); o++)  // later outputs add to the earlier ones, as on the CPU
            if (!ocl_sliceBackward(outputGrads[o], dx, inShape, sliceRangesOf(l, inShape, outShapes, o), o > 0))
                return false;
        inputGrads[0] = dx;
        return true;
    }

private:
    LayerInfo info;
};

/** Generic N-d transpose: out[idx] = in[perm applied to idx]; used for Permute's inverse. */
Mat permuteBlob(const Mat& src, const std::vector<int>& order)
{
    const int dims = src.dims;
    std::vector<int> outShape(dims), srcStride(dims);
    size_t stride = 1;
    for (int d = dims - 1; d >= 0; d--)
    {
        srcStride[d] = (int)stride;
        stride *= src.size[d];
    }
    for (int d = 0; d < dims; d++)
        outShape[d] = src.size[order[d]];
    Mat dst(dims, outShape.data(), CV_32F);
    const float* sp = src.ptr<float>();
    float* dp = dst.ptr<float>();
    std::vector<int> idx(dims, 0);
    for (size_t i = 0, n = src.total(); i < n; i++)
    {
        size_t off = 0;
        for (int d = 0; d < dims; d++)
            off += (size_t)idx[d] * srcStride[order[d]];
        dp[i] = sp[off];
        for (int d = dims - 1; d >= 0; d--)
        {
            if (++idx[d] < outShape[d])
                break;
            idx[d] = 0;
        }
    }
    return dst;
}

/** Whether the order of a Permute or Transpose layer is known: captured (Permute) or public (Transpose of
    OpenCV 5's new engine). */
bool permuteOrderKnown(const LayerInfo& info)
{
    return CapturedParams(info).known || !compat::transposeOrderOf(info).empty();
}

/** Permute's order from its captured parameters (the identity without "order"), or Transpose's. */
std::vector<int> permuteOrderOf(const LayerInfo& info, int dims)
{
    std::vector<int> order(dims);
    std::iota(order.begin(), order.end(), 0);
    const std::vector<int> perm = compat::transposeOrderOf(info);
    if (!perm.empty())
    {
        for (int i = 0; i < (int)perm.size() && i < dims; i++)
            order[i] = normalizeAxis(perm[i], dims);
        return order;
    }
    const CapturedParams captured(info);
    if (captured.known && captured.params.has("order"))
    {
        DictValue o = captured.params.get("order");
        for (int i = 0; i < o.size() && i < dims; i++)
            order[i] = normalizeAxis(o.get<int>(i), dims);
    }
    return order;
}

class PermuteRule CV_FINAL : public BackwardRule
{
public:
    explicit PermuteRule(const LayerInfo& info_) : info(info_) {}

    void backward(const std::vector<Mat>& inputs, const std::vector<Mat>& outputs, const std::vector<Mat>& outputGrads,
                  const std::vector<bool>& need, RectifierMode, std::vector<Mat>& inputGrads) CV_OVERRIDE
    {
        if (!need[0])
            return;
        const Mat& x = inputs[0];
        std::vector<int> order = permuteOrderOf(info, x.dims);
        if (!permuteOrderKnown(info))
        {
            // Parameters not captured: accept the order only if the values prove it.
            std::sort(order.begin(), order.end());
            bool found = false;
            do
            {
                bool shapeOk = true;
                for (int d = 0; d < x.dims; d++)
                    shapeOk = shapeOk && x.size[order[d]] == outputs[0].size[d];
                found = shapeOk && norm(permuteBlob(x, order).reshape(1, 1), outputs[0].reshape(1, 1), NORM_INF) == 0;
            } while (!found && std::next_permutation(order.begin(), order.end()));
            if (!found)
                CV_Error(Error::StsNotImplemented, "explain: cannot tell the order of " + describeLayer(info));
        }
        std::vector<int> inverse(x.dims);
        for (int d = 0; d < x.dims; d++)
            inverse[order[d]] = d;
        Mat r = outputGrads[0].reshape(1, outputs[0].dims, outputs[0].size.p);
        inputGrads[0] = permuteBlob(r, inverse);
    }

    bool backwardOCL(const std::vector<UMat>& inputs, const std::vector<UMat>& outputs, const std::vector<UMat>& outputGrads,
                         const std::vector<bool>& need, RectifierMode, std::vector<UMat>& inputGrads) CV_OVERRIDE
    {
        if (!useOpenCLFor(outputGrads.at(0)))
            return false;
        if (!need[0])
            return true;
        const MatShape inShape = dnn::shape(inputs[0]);
        const int dims = (int)inShape.size();
        if (!permuteOrderKnown(info) || dims > 6 || outputGrads[0].total() != inputs[0].total())
            return false;  // an order found from the values: the CPU rule searches it
        // the output gradient has the shape out[d] = in[order[d]]; dx[idx] = r at the position whose axis d is
        // idx[order[d]], so input axis a strides by r's stride of the output axis that holds it
        std::vector<int> order = permuteOrderOf(info, dims);
        MatShape outShape(dims);
        for (int d = 0; d < dims; d++)
            outShape[d] = inShape[order[d]];
        const std::vector<int> outStrides = stridesOf(outShape);
        std::vector<int> srcStrides(dims);
        for (int d = 0; d < dims; d++)
            srcStrides[order[d]] = outStrides[d];
        UMat dx;
        if (!ocl_stridedGather(outputGrads[0], dx, inShape, srcStrides, 0))
            return false;
        inputGrads[0] = dx;
        return true;
    }

private:
    LayerInfo info;
};

/** Where the input starts in Padding's output, per axis, from its captured parameters. */
std::vector<int> paddingBeginOf(const LayerInfo& info, int dims)
{
    std::vector<int> begin(dims, 0);
    const CapturedParams captured(info);
    if (captured.known && captured.params.has("paddings"))
    {
        DictValue p = captured.params.get("paddings");
        const int padded = p.size() / 2;
        const int inputDims = captured.params.get<int>("input_dims", -1);
        const int shift = (inputDims != -1 && inputDims != dims) ? 1 : 0;  // Torch-style: batch dim first
        for (int i = 0; i < padded && i + shift < dims; i++)
            begin[i + shift] = p.get<int>(2 * i);
    }
    return begin;
}

class PaddingRule CV_FINAL : public BackwardRule
{
public:
    explicit PaddingRule(const LayerInfo& info_) : info(info_) {}

    void backward(const std::vector<Mat>& inputs, const std::vector<Mat>& outputs, const std::vector<Mat>& outputGrads,
                  const std::vector<bool>& need, RectifierMode, std::vector<Mat>& inputGrads) CV_OVERRIDE
    {
        if (!need[0])
            return;
        const Mat& x = inputs[0];
        const Mat& y = outputs[0];
        String type;
        std::vector<int> begin;
        if (!compat::pad2Of(info, inputs, type, begin))  // the new engine's Pad2, or Padding:
        {
            type = requireCapturedParams(info, "paddings").params.get<String>("type", "constant");
            begin = paddingBeginOf(info, x.dims);
        }
        if (type == "reflect" || type == "edge")
        {
            inputGrads[0] = borderBackward(x, outputGrads[0].reshape(1, y.dims, y.size.p), begin,
                                           type == "reflect" ? BORDER_REFLECT_101 : BORDER_REPLICATE);
            return;
        }
        if (type != "constant")
            CV_Error(Error::StsNotImplemented, "explain: padding type '" + type + "' of " + describeLayer(info) +
                                                   " has no backward rule (constant, reflect and edge are supported)");
        std::vector<Range> ranges(x.dims);
        for (int d = 0; d < x.dims; d++)
        {
            ranges[d] = Range(begin[d], begin[d] + x.size[d]);
            if (ranges[d].end > y.size[d])
                CV_Error(Error::StsBadArg, "explain: the paddings of " + describeLayer(info) + " do not fit its shapes");
        }
        inputGrads[0] = outputGrads[0].reshape(1, y.dims, y.size.p)(ranges).clone();
    }

    bool backwardOCL(const std::vector<UMat>& inputs, const std::vector<UMat>& outputs, const std::vector<UMat>& outputGrads,
                         const std::vector<bool>& need, RectifierMode, std::vector<UMat>& inputGrads) CV_OVERRIDE
    {
        if (!useOpenCLFor(outputGrads.at(0)))
            return false;
        if (!need[0])
            return true;
        const UMat& x = inputs[0];
        const UMat& r = outputGrads[0];
        const CapturedParams captured(info);
        if (info.type != "Padding" || !captured.known || captured.params.get<String>("type", "constant") != "constant" || r.dims != x.dims ||
            x.dims > 6)
            return false;  // the CPU rule reports what it does not support
        // the gradient is the crop of the output gradient where the input sits
        const std::vector<int> begin = paddingBeginOf(info, x.dims);
        const MatShape inShape = dnn::shape(x), outShape = dnn::shape(r);
        const std::vector<int> strides = stridesOf(outShape);
        int base = 0;
        for (int d = 0; d < x.dims; d++)
        {
            if (begin[d] < 0 || begin[d] + inShape[d] > outShape[d])
                return false;
            base += begin[d] * strides[d];
        }
        UMat dx;
        if (!ocl_stridedGather(r, dx, inShape, strides, base))
            return false;
        inputGrads[0] = dx;
        return true;
    }

private:
    /** reflect / edge (4.6 pads the two spatial axes of a 4-D blob with copyMakeBorder, BORDER_REFLECT_101 or
        BORDER_REPLICATE): each output position reads the input position borderInterpolate gives; the
        gradient adds r there. */
    Mat borderBackward(const Mat& x, const Mat& r, const std::vector<int>& begin, int borderType) const
    {
        if (x.dims != 4 || r.dims != 4 || x.size[0] != r.size[0] || x.size[1] != r.size[1])
            CV_Error(Error::StsNotImplemented, "explain: " + describeLayer(info) +
                                                   " pads other than the two spatial axes of a 4-D blob in reflect/edge mode");
        const int inH = x.size[2], inW = x.size[3], outH = r.size[2], outW = r.size[3];
        const int top = begin[2], left = begin[3];
        if (top < 0 || left < 0 || top + inH > outH || left + inW > outW)
            CV_Error(Error::StsNotImplemented, "explain: " + describeLayer(info) + " crops in reflect/edge mode");
        std::vector<int> rows(outH), cols(outW);
        for (int i = 0; i < outH; i++)
            rows[i] = borderInterpolate(i - top, inH, borderType);
        for (int j = 0; j < outW; j++)
            cols[j] = borderInterpolate(j - left, inW, borderType);
        Mat dx = zerosLike(x);
        const size_t planes = (size_t)x.size[0] * x.size[1];
        for (size_t pl = 0; pl < planes; pl++)
        {
            const float* rp = r.ptr<float>() + pl * outH * outW;
            float* dp = dx.ptr<float>() + pl * inH * inW;
            for (int i = 0; i < outH; i++)
                for (int j = 0; j < outW; j++)
                    dp[rows[i] * inW + cols[j]] += rp[i * outW + j];
        }
        return dx;
    }

    LayerInfo info;
};

class ShuffleChannelRule CV_FINAL : public BackwardRule
{
public:
    explicit ShuffleChannelRule(const LayerInfo& info_) : info(info_) {}

    void backward(const std::vector<Mat>& inputs, const std::vector<Mat>& outputs, const std::vector<Mat>& outputGrads,
                  const std::vector<bool>& need, RectifierMode, std::vector<Mat>& inputGrads) CV_OVERRIDE
    {
        if (!need[0])
            return;
        // out[c] = in[groupSize * (c % group) + c / group]  =>  dIn[that] = dOut[c].
        const int group = layerAs<dnn::ShuffleChannelLayer>(info)->group;
        const Mat& x = inputs[0];
        const int n = x.size[0], channels = x.size[1], groupSize = channels / group;
        const size_t plane = totalOf(x, 2);
        Mat dx(x.dims, x.size.p, CV_32F);
        for (int b = 0; b < n; b++)
            for (int c = 0; c < channels; c++)
            {
                const int src = groupSize * (c % group) + c / group;
                std::copy_n(outputGrads[0].ptr<float>() + ((size_t)b * channels + c) * plane, plane,
                            dx.ptr<float>() + ((size_t)b * channels + src) * plane);
            }
        inputGrads[0] = dx;
    }

private:
    LayerInfo info;
};

/** PriorBox and other layers whose output depends only on their inputs' shapes: constants, no gradient. */
class ConstantRule CV_FINAL : public BackwardRule
{
public:
    explicit ConstantRule(const LayerInfo&) {}

    void backward(const std::vector<Mat>& inputs, const std::vector<Mat>& outputs, const std::vector<Mat>& outputGrads,
                  const std::vector<bool>& need, RectifierMode, std::vector<Mat>& inputGrads) CV_OVERRIDE
    {
        for (size_t i = 0; i < inputs.size(); i++)
            if (need[i])
                inputGrads[i] = zerosLike(inputs[i]);
    }
};

/** The gradient of a layer whose output element i is input element source[i]: each output gradient added
    to the input element it came from. */
Mat scatterToSource(const Mat& dy, const std::vector<size_t>& source, const MatShape& inShape)
{
    Mat dx(inShape, CV_32F, Scalar(0));
    const float* g = dy.ptr<float>();
    float* d = dx.ptr<float>();
    for (size_t i = 0; i < source.size(); i++)
        d[source[i]] += g[i];
    return dx;
}

/** The source index of every output element of a layer that copies input elements (see scatterToSource):
    one class for the layers whose copy pattern the shapes and the captured parameters fix. */
class CopyRule : public BackwardRule
{
public:
    void backward(const std::vector<Mat>& inputs, const std::vector<Mat>&, const std::vector<Mat>& outputGrads,
                  const std::vector<bool>& need, RectifierMode, std::vector<Mat>& inputGrads) CV_OVERRIDE
    {
        for (size_t i = 1; i < inputs.size(); i++)  // shapes, repeats, slice bounds are integers: never asked
            if (need[i])
                CV_Error(Error::StsNotImplemented, format("explain: input %d of %s has no gradient here",
                                                          (int)i, describe.c_str()));
        if (!need[0])
            return;
        const std::vector<size_t> source = sourceOf(inputs);
        if (source.size() != outputGrads[0].total())
            CV_Error(Error::StsBadArg, "explain: the output gradient of " + describe + " does not fit its shapes");
        inputGrads[0] = scatterToSource(outputGrads[0], source, dnn::shape(inputs[0]));
    }

protected:
    explicit CopyRule(const LayerInfo& info) : describe(describeLayer(info)) {}
    virtual std::vector<size_t> sourceOf(const std::vector<Mat>& inputs) const = 0;
    String describe;
};

/** Expand (numpy broadcasting to a given shape): fixed by the shapes. */
class ExpandRule CV_FINAL : public CopyRule
{
public:
    explicit ExpandRule(const LayerInfo& info) : CopyRule(info), in(info.inputShapes.at(0)), out(info.outputShapes.at(0)) {}

private:
    std::vector<size_t> sourceOf(const std::vector<Mat>&) const CV_OVERRIDE { return broadcastIndex(in, out); }
    MatShape in, out;
};

/** Tile: every axis repeated out/in times, so the source position is the output position modulo the input's size. */
class TileRule CV_FINAL : public CopyRule
{
public:
    explicit TileRule(const LayerInfo& info) : CopyRule(info), in(info.inputShapes.at(0)), out(info.outputShapes.at(0))
    {
        if (in.size() != out.size())
            CV_Error(Error::StsNotImplemented, "explain: " + describe + " changes the number of axes");
        for (size_t d = 0; d < in.size(); d++)
            if (in[d] <= 0 || out[d] % in[d] != 0)
                CV_Error(Error::StsBadArg, "explain: the shapes of " + describe + " are not a tiling");
    }

private:
    std::vector<size_t> sourceOf(const std::vector<Mat>&) const CV_OVERRIDE
    {
        std::vector<size_t> source((size_t)dnn::total(out));
        const std::vector<int> inStrides = stridesOf(in);
        std::vector<int> pos(out.size(), 0);
        for (size_t i = 0; i < source.size(); i++)
        {
            size_t at = 0;
            for (size_t d = 0; d < out.size(); d++)
                at += (size_t)(pos[d] % in[d]) * inStrides[d];
            source[i] = at;
            for (int d = (int)out.size() - 1; d >= 0 && ++pos[d] == out[d]; d--)
                pos[d] = 0;
        }
        return source;
    }
    MatShape in, out;
};

/** ONNX Slice as the new engine's Slice2 runs it: starts, ends, axes and steps (negative too) from the layer
    or its inputs (compat::sliceOf), clamped as ONNX says. */
class OnnxSliceRule CV_FINAL : public CopyRule
{
public:
    explicit OnnxSliceRule(const LayerInfo& info_) : CopyRule(info_), info(info_) {}

private:
    std::vector<size_t> sourceOf(const std::vector<Mat>& inputs) const CV_OVERRIDE
    {
        const compat::SliceSettings s = compat::sliceOf(info, inputs);
        const Mat& x = inputs.at(0);
        std::vector<int> start(x.dims, 0), step(x.dims, 1), count(x.size.p, x.size.p + x.dims);
        for (size_t i = 0; i < s.starts.size(); i++)
        {
            const int a = normalizeAxis(s.axes.empty() ? (int)i : s.axes.at(i), x.dims), size = x.size[a];
            const int st = s.steps.empty() ? 1 : s.steps.at(i);
            if (st == 0)
                CV_Error(Error::StsBadArg, "explain: " + describe + " slices with step 0");
            int b = s.starts[i] < 0 ? s.starts[i] + size : s.starts[i];
            int e = s.ends.at(i) < 0 ? s.ends[i] + size : s.ends[i];
            const int lo = st > 0 ? 0 : -1, hi = st > 0 ? size : size - 1;
            b = std::min(std::max(b, lo), hi);
            e = std::min(std::max(e, lo), hi);
            start[a] = b;
            step[a] = st;
            count[a] = std::max(0, st > 0 ? (e - b + st - 1) / st : (b - e - st - 1) / -st);
        }
        const std::vector<int> strides = stridesOf(dnn::shape(x));
        size_t total = 1;
        for (int c : count)
            total *= c;
        std::vector<size_t> source(total);
        std::vector<int> pos(x.dims, 0);
        for (size_t k = 0; k < total; k++)
        {
            size_t at = 0;
            for (int d = 0; d < x.dims; d++)
                at += (size_t)(start[d] + pos[d] * step[d]) * strides[d];
            source[k] = at;
            for (int d = x.dims - 1; d >= 0 && ++pos[d] == count[d]; d--)
                pos[d] = 0;
        }
        return source;
    }
    LayerInfo info;
};

/** Gather along an axis (captured) at indices given by the second input (constant in the models cv::dnn
    imports; the gradient reaches the data only). */
class GatherRule CV_FINAL : public CopyRule
{
public:
    explicit GatherRule(const LayerInfo& info) : CopyRule(info), axis(compat::gatherAxisOf(info)) {}

    void backward(const std::vector<Mat>& inputs, const std::vector<Mat>& outputs, const std::vector<Mat>& outputGrads,
                  const std::vector<bool>& need, RectifierMode mode, std::vector<Mat>& inputGrads) CV_OVERRIDE
    {
        if (need.size() > 1 && need[1])
            CV_Error(Error::StsNotImplemented, "explain: the indices of " + describe + " are not differentiable");
        CopyRule::backward(inputs, outputs, outputGrads, need, mode, inputGrads);
    }

private:
    std::vector<size_t> sourceOf(const std::vector<Mat>& inputs) const CV_OVERRIDE
    {
        const Mat& x = inputs.at(0);
        const int ax = normalizeAxis(axis, x.dims), size = x.size[ax];
        const size_t inner = totalOf(x, ax + 1), outer = totalOf(x, 0, ax);
        Mat idx;
        inputs.at(1).convertTo(idx, CV_64F);
        std::vector<size_t> source;
        for (size_t o = 0; o < outer; o++)
            for (size_t j = 0; j < idx.total(); j++)
            {
                int k = (int)idx.ptr<double>()[j];
                k = k < 0 ? k + size : k;
                if (k < 0 || k >= size)
                    CV_Error(Error::StsOutOfRange, format("explain: index %d of %s is out of range [0, %d)",
                                                          (int)idx.ptr<double>()[j], describe.c_str(), size));
                for (size_t i = 0; i < inner; i++)
                    source.push_back((o * size + k) * inner + i);
            }
        return source;
    }
    int axis;
};

/** DepthToSpace (modes DCR and CRD) and SpaceToDepth with a captured block size b, on N x C x H x W:
    out[n, c, h b + i, w b + j] = in[n, (i b + j) C' + c, h, w] (DCR) or in[n, c b b + i b + j, h, w] (CRD),
    C' = C / b^2; SpaceToDepth is the DCR pattern the other way round. */
class DepthSpaceRule CV_FINAL : public CopyRule
{
public:
    explicit DepthSpaceRule(const LayerInfo& info) : CopyRule(info), toSpace(info.type == "DepthToSpace")
    {
        const CapturedParams captured(info);
        if (!captured.known)
            CV_Error(Error::StsNotImplemented, "explain: the block size of " + describe +
                                                   " was not captured (Net read before the explain library was loaded)");
        b = captured.params.get<int>("blocksize", 1);
        crd = toSpace && captured.params.get<String>("mode", "DCR") == "CRD";
        space = toSpace ? info.outputShapes.at(0) : info.inputShapes.at(0);  // the N x C' x Hb x Wb side
        if (space.size() != 4 || b < 1)
            CV_Error(Error::StsNotImplemented, "explain: " + describe + " is not on 4-D blobs");
    }

private:
    std::vector<size_t> sourceOf(const std::vector<Mat>&) const CV_OVERRIDE
    {
        const int C = space[1], H = space[2] / b, W = space[3] / b;
        std::vector<size_t> source((size_t)dnn::total(space));
        size_t e = 0;
        for (int n = 0; n < space[0]; n++)
            for (int c = 0; c < C; c++)
                for (int y = 0; y < H * b; y++)
                    for (int x = 0; x < W * b; x++, e++)
                    {
                        const int i = y % b, j = x % b;
                        const int depth = crd ? c * b * b + i * b + j : (i * b + j) * C + c;
                        const size_t deep = (((size_t)n * C * b * b + depth) * H + y / b) * W + x / b;
                        // DepthToSpace copies deep -> e; SpaceToDepth copies e -> deep
                        if (toSpace)
                            source[e] = deep;
                        else
                            source[deep] = e;
                    }
        return source;
    }
    bool toSpace, crd = false;
    int b = 1;
    MatShape space;
};

} // namespace

void registerShapeRules(RuleMap& rules)
{
    for (const char* type : {"Flatten", "Reshape", "Identity", "Dropout"})
        EXPLAIN_REGISTER_RULE(rules, type, PassThroughRule);
    EXPLAIN_REGISTER_RULE(rules, "Split", SplitRule);
    EXPLAIN_REGISTER_RULE(rules, "Concat", ConcatRule);
    EXPLAIN_REGISTER_RULE(rules, "Concat2", ConcatRule);  // OpenCV 5's new engine, as Transpose and the reshapes
    EXPLAIN_REGISTER_RULE(rules, "Transpose", PermuteRule);
    for (const char* type : {"Reshape2", "Squeeze", "Unsqueeze"})
        EXPLAIN_REGISTER_RULE(rules, type, PassThroughRule);
    EXPLAIN_REGISTER_RULE(rules, "Slice", SliceRule);
    EXPLAIN_REGISTER_RULE(rules, "Permute", PermuteRule);
    EXPLAIN_REGISTER_RULE(rules, "Padding", PaddingRule);
    EXPLAIN_REGISTER_RULE(rules, "Pad2", PaddingRule);
    EXPLAIN_REGISTER_RULE(rules, "ShuffleChannel", ShuffleChannelRule);
    EXPLAIN_REGISTER_RULE(rules, "Expand", ExpandRule);
    EXPLAIN_REGISTER_RULE(rules, "Tile", TileRule);
    EXPLAIN_REGISTER_RULE(rules, "Gather", GatherRule);
    EXPLAIN_REGISTER_RULE(rules, "Gather2", GatherRule);
    EXPLAIN_REGISTER_RULE(rules, "Slice2", OnnxSliceRule);
    EXPLAIN_REGISTER_RULE(rules, "Expand2", ExpandRule);
    EXPLAIN_REGISTER_RULE(rules, "Tile2", TileRule);
    EXPLAIN_REGISTER_RULE(rules, "Shape", ConstantRule);  // depends on its input's shape only
    EXPLAIN_REGISTER_RULE(rules, "Cast2", CastRule);
    EXPLAIN_REGISTER_RULE(rules, "DepthToSpace", DepthSpaceRule);
    EXPLAIN_REGISTER_RULE(rules, "SpaceToDepth", DepthSpaceRule);
    EXPLAIN_REGISTER_RULE(rules, "PriorBox", ConstantRule);
    EXPLAIN_REGISTER_RULE(rules, "PriorBoxClustered", ConstantRule);
    EXPLAIN_REGISTER_RULE(rules, "Constant", ConstantRule);  // a constant tensor of the new engine
    EXPLAIN_REGISTER_RULE(rules, "TransformLayout", LayoutRule);
}

}} // namespace cv::explain
