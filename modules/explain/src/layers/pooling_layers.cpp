// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// Backward rules of reductions: Pooling (1D, 2D and 3D max and average; global, padded, ceil mode, with or
// without the padded area in the average; also the new engine's MaxPool and AveragePool), Reduce and CumSum.
// Windows start at o*stride - pad_begin and stop at the padded input's end; max pooling routes the gradient to the first maximum in row-major order (as PyTorch does).
#include "layer_utils.hpp"
#include "../opencv_compat.hpp"
#include "../ocl_ops.hpp"
#include <cmath>

namespace cv {
namespace explain {

namespace {

enum { POOL_MAX = 0, POOL_AVE = 1 };

class PoolingRule CV_FINAL : public BackwardRule
{
public:
    explicit PoolingRule(const LayerInfo& info)
    {
        Ptr<dnn::PoolingLayer> pool = compat::classicPoolingOf(info);
        const int spatial = info.inputShapes.empty() ? 0 : (int)info.inputShapes[0].size() - 2;
        if (spatial < 1 || spatial > 3)
            CV_Error(Error::StsNotImplemented, "explain: only 1D, 2D and 3D pooling (3D to 5D blobs) is supported, in " +
                                                   describeLayer(info));
        type = pool->type;
        if (type != POOL_MAX && type != POOL_AVE)
            CV_Error(Error::StsNotImplemented, format("explain: pooling type %d of %s has no backward rule "
                                                      "(max and average are supported)",
                                                      type, describeLayer(info).c_str()));
        // 1D and 2D pooling are 3D pooling of depth (and height) 1
        const MatShape& in = info.inputShapes[0];
        const MatShape out = info.outputShapes.empty() ? MatShape() : info.outputShapes[0];
        inShape = std::vector<int>(in.begin(), in.end());
        if (out.size() != in.size())
            CV_Error(Error::StsNotImplemented, "explain: " + describeLayer(info) + " turns an input of shape " +
                                                   shapeToString(in) + " into " + shapeToString(out) +
                                                   "; pooling that keeps the number of axes is supported");
        paddedArea = pool->avePoolPaddedArea;
        for (int a = 0; a < 3; a++)
        {
            const int k = a - (3 - spatial);  // the axis in the layer's per-axis settings (< 0: an added axis)
            inSize[a] = k < 0 ? 1 : in[k + 2];
            outSize[a] = k < 0 ? 1 : out[k + 2];
            // isGlobalPooling is per D, H, W whatever the layer's dimensions
            const bool global = pool->globalPooling && (pool->isGlobalPooling.size() != 3 || pool->isGlobalPooling[a]);
            if (k < 0 || global)
            {
                kernel[a] = inSize[a]; stride[a] = 1; padBegin[a] = 0; padEnd[a] = 0;
                continue;
            }
            kernel[a] = (int)pool->kernel_size.at(k);
            stride[a] = (int)pool->strides.at(k);
            if (pool->padMode.empty())
            {
                padBegin[a] = (int)pool->pads_begin.at(k);
                padEnd[a] = (int)pool->pads_end.at(k);
            }
            else
            {
                const int totalPad = std::max(0, (outSize[a] - 1) * stride[a] + kernel[a] - inSize[a]);
                padBegin[a] = pool->padMode == "VALID" ? 0 : totalPad / 2;
                padEnd[a] = pool->padMode == "VALID" ? 0 : totalPad - totalPad / 2;
            }
        }
    }

    /** Average pooling reads nothing: its windows are fixed by the shapes; max pooling finds each window's
        maximum in the input. */
    int activationsRead() const CV_OVERRIDE
    {
        return type == POOL_AVE ? READS_NOTHING : READS_INPUTS;
    }

    void backward(const std::vector<Mat>& inputs, const std::vector<Mat>&,
                  const std::vector<Mat>& outputGrads, const std::vector<bool>& need, RectifierMode,
                  std::vector<Mat>& inputGrads) CV_OVERRIDE
    {
        if (!need[0])
            return;
        const Mat& x = inputs[0];  // empty for average pooling when the plan did not keep it
        const Mat& dy = outputGrads[0];
        const int volumes = inShape[0] * inShape[1];
        const size_t inVolume = (size_t)inSize[0] * inSize[1] * inSize[2];
        const size_t outVolume = (size_t)outSize[0] * outSize[1] * outSize[2];
        bool whole = type == POOL_AVE && outVolume == 1;
        for (int a = 0; a < 3; a++)
            whole = whole && kernel[a] == inSize[a] && padBegin[a] == 0 && padEnd[a] == 0;
        if (whole)
        {
            // global average pooling (every classifier head): each input gets its volume's share
            Mat dx((int)inShape.size(), inShape.data(), CV_32F);
            for (int p = 0; p < volumes; p++)
                std::fill_n(dx.ptr<float>() + p * inVolume, inVolume, dy.ptr<float>()[p] / inVolume);
            inputGrads[0] = dx;
            return;
        }
        Mat dx = Mat::zeros((int)inShape.size(), inShape.data(), CV_32F);
        // stripes of at least ~32K inputs: a global pooling at 7 x 7 is too little work to share
        const double stripes = std::max(1.0, (double)dx.total() / 32768);
        parallel_for_(Range(0, volumes), [&](const Range& r) {
            for (int p = r.start; p < r.end; p++)
                volumeBackward(x.empty() ? nullptr : x.ptr<float>() + p * inVolume, dy.ptr<float>() + p * outVolume,
                               dx.ptr<float>() + p * inVolume);
        }, stripes);
        inputGrads[0] = dx;
    }

    /** On the device: a gather kernel with the same windows (each work item owns one input element). */
    bool backwardOCL(const std::vector<UMat>& inputs, const std::vector<UMat>&, const std::vector<UMat>& outputGrads,
                     const std::vector<bool>& need, RectifierMode, std::vector<UMat>& inputGrads) CV_OVERRIDE
    {
        if (inSize[0] > 1 || outSize[0] > 1)  // 3D: on the host
            return false;
        if (!need[0])
            return true;
        return ocl_poolingBackward(inputs[0], outputGrads[0], inputGrads[0], inShape, inSize[1], inSize[2], outSize[1],
                                   outSize[2], kernel[1], kernel[2], stride[1], stride[2], padBegin[1], padBegin[2],
                                   padEnd[1], padEnd[2], type == POOL_MAX, paddedArea);
    }

private:
    /** The window of output position `o` along axis `a`, clipped to the input, and its size with the padding
        inside (the padded input's end bounds it). False when it holds no input. */
    bool axisWindow(int a, int o, int& begin, int& end, int& paddedSize) const
    {
        begin = o * stride[a] - padBegin[a];
        end = std::min(begin + kernel[a], inSize[a] + padEnd[a]);
        paddedSize = end - begin;
        begin = std::max(begin, 0);
        end = std::min(end, inSize[a]);
        return begin < end;
    }

    /** One (image, channel) volume; the window along D and H is found once per row of outputs. */
    void volumeBackward(const float* x, const float* dy, float* dx) const
    {
        int b[3], e[3], padded[3];
        for (int oz = 0; oz < outSize[0]; oz++)
        {
            const bool depthHolds = axisWindow(0, oz, b[0], e[0], padded[0]);
            for (int oy = 0; oy < outSize[1]; oy++, dy += outSize[2])
            {
                if (!depthHolds || !axisWindow(1, oy, b[1], e[1], padded[1]))
                    continue;
                for (int ox = 0; ox < outSize[2]; ox++)
                    if (axisWindow(2, ox, b[2], e[2], padded[2]))
                        windowBackward(x, dy[ox], b, e, padded, dx);
            }
        }
    }

    /** Gradient `g` of the output whose clipped window is [b, e) (`padded`: its sizes with the padding inside):
        to the window's first maximum in row-major order (max pooling), or shared among its inputs (average). */
    void windowBackward(const float* x, float g, const int b[3], const int e[3], const int padded[3], float* dx) const
    {
        const int inH = inSize[1], inW = inSize[2];
        if (type == POOL_MAX)
        {
            size_t best = ((size_t)b[0] * inH + b[1]) * inW + b[2];
            float top = x[best];
            for (int z = b[0]; z < e[0]; z++)
                for (int y = b[1]; y < e[1]; y++)
                    for (size_t i = ((size_t)z * inH + y) * inW + b[2], last = i + (e[2] - b[2]); i < last; i++)
                        if (x[i] > top)
                        {
                            top = x[i];
                            best = i;
                        }
            dx[best] += g;
            return;
        }
        const int area = paddedArea ? padded[0] * padded[1] * padded[2] : (e[0] - b[0]) * (e[1] - b[1]) * (e[2] - b[2]);
        const float share = g / area;
        for (int z = b[0]; z < e[0]; z++)
            for (int y = b[1]; y < e[1]; y++)
                for (int xx = b[2]; xx < e[2]; xx++)
                    dx[((size_t)z * inH + y) * inW + xx] += share;
    }

    int type;
    bool paddedArea;
    std::vector<int> inShape;
    int inSize[3], outSize[3];  // D, H, W
    int kernel[3], stride[3], padBegin[3], padEnd[3];
};

/** Reduce over any set of axes (what the reduction is, per OpenCV version: compat::reductionOf). Each input
    element belongs to the output element with its coordinates on the other axes. */
class ReduceRule CV_FINAL : public BackwardRule
{
public:
    explicit ReduceRule(const LayerInfo& info_) : info(info_)
    {
        if (info.inputShapes.size() != 1)
            CV_Error(Error::StsNotImplemented, "explain: " + describeLayer(info) + " with two inputs has no backward rule");
        reduction = compat::reductionOf(info, info.inputShapes[0]);
    }

    void backward(const std::vector<Mat>& inputs, const std::vector<Mat>& outputs, const std::vector<Mat>& outputGrads,
                  const std::vector<bool>& need, RectifierMode, std::vector<Mat>& inputGrads) CV_OVERRIDE
    {
        if (!need[0])
            return;
        const Mat& x = inputs[0];
        const std::vector<int> group = outputIndexOf(x, outputs[0].total());
        const float* xp = x.ptr<float>();
        const float* yp = outputs[0].ptr<float>();
        const float* rp = outputGrads[0].ptr<float>();
        const size_t n = outputs[0].total();
        std::vector<int> best(n, -1);    // MAX, MIN: the first extreme element of each group
        std::vector<double> prod(n, 1.0);  // PROD: the product of the nonzero elements, and their zeros
        std::vector<int> zeros(n, 0);
        const size_t count = x.total() / std::max<size_t>(n, 1);
        for (size_t i = 0; i < x.total(); i++)
        {
            const int o = group[i];
            if (best[o] < 0 || (reduction.op == compat::Reduction::MAX ? xp[i] > xp[best[o]] : xp[i] < xp[best[o]]))
                best[o] = (int)i;
            if (xp[i] == 0.f)
                zeros[o]++;
            else
                prod[o] *= xp[i];
        }
        Mat dx(x.dims, x.size.p, CV_32F);
        float* dp = dx.ptr<float>();
        for (size_t i = 0; i < x.total(); i++)
        {
            const int o = group[i];
            dp[i] = elementGradient(xp[i], yp[o], rp[o], (int)i == best[o], count, prod[o], zeros[o]);
        }
        inputGrads[0] = dx;
    }

private:
    /** For each input element (flat index), its output element. */
    std::vector<int> outputIndexOf(const Mat& x, size_t outputs) const
    {
        std::vector<bool> reduced(x.dims, false);
        for (int a : reduction.axes)
            reduced.at(a) = true;
        size_t kept = 1;
        for (int d = 0; d < x.dims; d++)
            kept *= reduced[d] ? 1 : x.size[d];
        if (kept != outputs)
            CV_Error(Error::StsBadArg, "explain: the reduced dimensions of " + describeLayer(info) + " do not fit its shapes");
        std::vector<int> index(x.total()), coord(x.dims, 0);
        for (size_t i = 0; i < x.total(); i++)
        {
            int o = 0;
            for (int d = 0; d < x.dims; d++)
                if (!reduced[d])
                    o = o * x.size[d] + coord[d];
            index[i] = o;
            for (int d = x.dims - 1; d >= 0 && ++coord[d] == x.size[d]; d--)
                coord[d] = 0;
        }
        return index;
    }

    float elementGradient(float v, float y, float r, bool isBest, size_t count, double prod, int zeros) const
    {
        switch (reduction.op)
        {
        case compat::Reduction::MAX: case compat::Reduction::MIN: return isBest ? r : 0.f;
        case compat::Reduction::MEAN: return r / count;
        case compat::Reduction::SUM: return r;
        case compat::Reduction::SUM_SQUARE: return 2.f * v * r;
        case compat::Reduction::L1: return v > 0 ? r : (v < 0 ? -r : 0.f);
        case compat::Reduction::L2: return y > 0 ? r * v / y : 0.f;
        case compat::Reduction::LOG_SUM: return r / std::exp(y);
        case compat::Reduction::LOG_SUM_EXP: return r * std::exp(v - y);
        case compat::Reduction::PROD:  // the product of the others
            if (zeros == 0)
                return (float)(r * prod / v);
            return zeros == 1 && v == 0.f ? (float)(r * prod) : 0.f;
        }
        return 0.f;
    }

    LayerInfo info;
    compat::Reduction reduction;
};

/** CumSum, inclusive, along the last non-trivial axis (cumsum_layer.cpp; along an axis with more elements after
    it, and exclusive after another layer, cv::dnn 4.6 computes garbage, so those are refused): y_t = sum of x_s for s <= t (exclusive: s < t; reverse: s >= t,
    exclusive reverse: s > t). The adjoint is the cumulative sum of r in the other direction, with the same
    exclusiveness. exclusive, reverse and axis are read from the captured parameters (4.6's forward uses private
    copies; the public members are not set), the axis from the second input when there is one. */
class CumSumRule CV_FINAL : public BackwardRule
{
public:
    explicit CumSumRule(const LayerInfo& info_) : info(info_)
    {
        const CapturedParams captured = requireCapturedParams(info);
        axis = captured.params.get<int>("axis", 0);
        exclusive = captured.params.get<int>("exclusive", 0);
        reverse = captured.params.get<int>("reverse", 0);
        if ((exclusive != 0 && exclusive != 1) || (reverse != 0 && reverse != 1))
            CV_Error(Error::StsNotImplemented, format("explain: %s has exclusive %d, reverse %d; 0 or 1 is supported",
                                                      describeLayer(info).c_str(), exclusive, reverse));
        // Checked on 4.6: after another layer, Net::forward() runs an exclusive CumSum in the input's buffer and
        // returns garbage, while a pass that keeps the input (ours) gets the right sum. Which one the user's Net
        // computes depends on its plan, so no gradient is given.
        if (exclusive)
            CV_Error(Error::StsNotImplemented, "explain: " + describeLayer(info) + " is exclusive; cv::dnn 4.6 computes "
                                                   "an exclusive CumSum wrongly when it runs in place, so it has no "
                                                   "backward rule");
    }

    void backward(const std::vector<Mat>& inputs, const std::vector<Mat>& outputs, const std::vector<Mat>& outputGrads,
                  const std::vector<bool>& need, RectifierMode, std::vector<Mat>& inputGrads) CV_OVERRIDE
    {
        const Mat& x = inputs[0];
        if (inputs.size() > 2)
            CV_Error(Error::StsNotImplemented, "explain: " + describeLayer(info) + " has more than two inputs");
        int ax = axis;
        if (inputs.size() == 2)
        {
            if (inputs[1].total() != 1)
                CV_Error(Error::StsNotImplemented, "explain: the axis input of " + describeLayer(info) + " is not one value");
            Mat a;
            inputs[1].convertTo(a, CV_32S);
            ax = a.at<int>(0);
            if (need[1])
                inputGrads[1] = zerosLike(inputs[1]);  // an axis index: no gradient
        }
        if (!need[0])
            return;
        ax = normalizeAxis(ax, x.dims);
        if (ax < 0 || ax >= x.dims)
            CV_Error(Error::StsNotImplemented, format("explain: %s sums along axis %d of a %d-D blob",
                                                      describeLayer(info).c_str(), axis, x.dims));
        const size_t outer = totalOf(x, 0, ax), count = x.size[ax], inner = totalOf(x, ax + 1);
        if (inner > 1)  // checked on 4.6 against numpy: NaN or wildly wrong values, and heap corruption
            CV_Error(Error::StsNotImplemented, format("explain: %s sums along axis %d, which is not the last axis of "
                                                      "a %d-D blob with more than one element after it; cv::dnn 4.6's "
                                                      "CumSum does not compute a cumulative sum there",
                                                      describeLayer(info).c_str(), ax, x.dims));
        verifyForward(x, outputs[0], outer, count, inner);
        // the adjoint is the same scan against the forward direction
        inputGrads[0] = cumulativeSum(outputGrads[0].reshape(1, x.dims, x.size.p), outer, count, inner, reverse == 0);
    }

private:
    /** The (exclusive, when the layer is) cumulative sum of src along the middle axis of outer x count x inner,
        from the last element down when `backwards`; accumulated in double. */
    Mat cumulativeSum(const Mat& src, size_t outer, size_t count, size_t inner, bool backwards) const
    {
        Mat dst(src.dims, src.size.p, CV_32F);
        const float* sp = src.ptr<float>();
        float* dp = dst.ptr<float>();
        for (size_t o = 0; o < outer; o++)
            for (size_t i = 0; i < inner; i++)
            {
                double acc = 0;
                for (size_t k = 0; k < count; k++)
                {
                    const size_t at = (o * count + (backwards ? count - 1 - k : k)) * inner + i;
                    if (!exclusive)
                        acc += sp[at];
                    dp[at] = (float)acc;
                    if (exclusive)
                        acc += sp[at];
                }
            }
        return dst;
    }

    /** The recorded output must be the cumulative sum of the recorded input: cv::dnn 4.6 computes an
        exclusive CumSum wrongly when its output shares the input's buffer (after another layer), and then
        the gradient of the intended sum would not be the gradient of what the Net computes. */
    void verifyForward(const Mat& x, const Mat& y, size_t outer, size_t count, size_t inner) const
    {
        const Mat expected = cumulativeSum(x, outer, count, inner, reverse != 0);
        const double worst = norm(y.reshape(1, 1), expected.reshape(1, 1), NORM_INF);
        const double scale = std::max(1.0, norm(expected.reshape(1, 1), NORM_INF));
        if (!(worst <= 1e-4 * scale * count))
            CV_Error(Error::StsNotImplemented, format("explain: the output of %s is not the cumulative sum of its input "
                                                      "(off by %g; cv::dnn 4.6 computes an exclusive CumSum wrongly "
                                                      "when it runs in place, after another layer)",
                                                      describeLayer(info).c_str(), worst));
    }

    LayerInfo info;
    int axis, exclusive, reverse;
};

} // namespace

void registerPoolingRules(RuleMap& rules)
{
    EXPLAIN_REGISTER_RULE(rules, "Pooling", PoolingRule);
    EXPLAIN_REGISTER_RULE(rules, "MaxPool", PoolingRule);      // OpenCV 5's new engine
    EXPLAIN_REGISTER_RULE(rules, "AveragePool", PoolingRule);
    EXPLAIN_REGISTER_RULE(rules, "Reduce", ReduceRule);
    EXPLAIN_REGISTER_RULE(rules, "Reduce2", ReduceRule);  // OpenCV 5's new engine
    EXPLAIN_REGISTER_RULE(rules, "CumSum", CumSumRule);
}

}} // namespace cv::explain
