// Backward rules of layers that only move data: Concat, Slice, Split, Flatten, Reshape, Permute,
// Padding, ShuffleChannel, Identity/Dropout. Each gradient is the inverse data movement. The device
// versions do the same on UMats (2D views, whose ROI copies and sums OpenCV runs on the device, or a
// kernel); they return false, for the CPU rule to run, for whatever they do not handle.
#include "layer_utils.hpp"
#include "../ocl_ops.hpp"
#include <algorithm>
#include <numeric>

namespace cv {
namespace explain {

namespace {

/** Flatten, Reshape, Identity, Dropout: the gradient takes the input's shape back (on the device too). */
class PassThroughRule CV_FINAL : public BackwardRule
{
public:
    explicit PassThroughRule(const LayerInfo&) {}

    void backward(const std::vector<Mat>& inputs, const std::vector<Mat>&, const std::vector<Mat>& outputGrads,
                  const std::vector<bool>& need, RectifierMode, std::vector<Mat>& inputGrads) CV_OVERRIDE
    {
        if (need[0])
            inputGrads[0] = outputGrads[0].reshape(1, inputs[0].dims, inputs[0].size.p);
    }

    bool backwardOCL(const std::vector<UMat>& inputs, const std::vector<UMat>&, const std::vector<UMat>& outputGrads,
                     const std::vector<bool>& need, RectifierMode, std::vector<UMat>& inputGrads) CV_OVERRIDE
    {
        if (need[0])
            inputGrads[0] = outputGrads[0].reshape(1, inputs[0].dims, inputs[0].size.p);
        return true;
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
        Ptr<dnn::ConcatLayer> l = layerAs<dnn::ConcatLayer>(info);
        const Mat& r = outputGrads[0];
        const int axis = normalizeAxis(l->axis, r.dims);
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
        const int axis = normalizeAxis(layerAs<dnn::ConcatLayer>(info)->axis, r.dims);
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
            if (r.total() != dnn::total(outShape))
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

/** Permute's order from its captured parameters (the identity without "order"). */
std::vector<int> permuteOrderOf(const LayerInfo& info, int dims)
{
    std::vector<int> order(dims);
    std::iota(order.begin(), order.end(), 0);
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
        if (!CapturedParams(info).known)
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
        if (!CapturedParams(info).known || dims > 6 || outputGrads[0].total() != inputs[0].total())
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
        const CapturedParams captured(info);
        if (!captured.known)
            CV_Error(Error::StsNotImplemented, "explain: the paddings of " + describeLayer(info) +
                                                   " were not captured (Net read before the explain library was loaded)");
        const String type = captured.params.get<String>("type", "constant");
        std::vector<int> begin = paddingBeginOf(info, x.dims);
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
        if (!captured.known || captured.params.get<String>("type", "constant") != "constant" || r.dims != x.dims ||
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

} // namespace

void registerShapeRules(RuleMap& rules)
{
    for (const char* type : {"Flatten", "Reshape", "Identity", "Dropout"})
        EXPLAIN_REGISTER_RULE(rules, type, PassThroughRule);
    EXPLAIN_REGISTER_RULE(rules, "Split", SplitRule);
    EXPLAIN_REGISTER_RULE(rules, "Concat", ConcatRule);
    EXPLAIN_REGISTER_RULE(rules, "Slice", SliceRule);
    EXPLAIN_REGISTER_RULE(rules, "Permute", PermuteRule);
    EXPLAIN_REGISTER_RULE(rules, "Padding", PaddingRule);
    EXPLAIN_REGISTER_RULE(rules, "ShuffleChannel", ShuffleChannelRule);
    EXPLAIN_REGISTER_RULE(rules, "PriorBox", ConstantRule);
    EXPLAIN_REGISTER_RULE(rules, "PriorBoxClustered", ConstantRule);
}

}} // namespace cv::explain
