// Backward rules of element-wise activations. Rectifiers (ReLU, LeakyReLU, PReLU, ReLU6/Clip, ELU,
// Swish, Mish, HardSwish) honour RectifierMode:
//   exact:     R * f'(x)
//   guided:    R * f'(x) * [R > 0]      (Springenberg et al.; the exact local derivative, then only
//                                        positive incoming gradients)
//   deconvnet: the rectifier applied to R itself: R * [R > 0]; LeakyReLU/PReLU scale R < 0 by their
//              slope instead of zeroing it.
// Other activations (Sigmoid, TanH, HardSigmoid, Power, ...) always use their exact derivative.
#include "layer_utils.hpp"
#include "../ocl_ops.hpp"
#include <cfloat>
#include <cmath>

namespace cv {
namespace explain {

namespace {

inline float sigmoid(float x)
{
    return 1.f / (1.f + std::exp(-x));
}

/** dx[i] = grad(x[i], y[i], r[i], channel) over one plane; restrict pointers and a branch-free grad
    let the compiler vectorize it. */
template <typename Grad>
inline void planeBackward(const float* __restrict xp, const float* __restrict yp, const float* __restrict rp,
                          float* __restrict dp, size_t len, int channel, const Grad& grad)
{
    for (size_t i = 0; i < len; i++)
        dp[i] = grad(xp[i], yp[i], rp[i], channel);
}

/** The same in place: r[i] = grad(x[i], y[i], r[i], channel). */
template <typename Grad>
inline void planeBackwardInPlace(const float* __restrict xp, const float* __restrict yp, float* rp, size_t len,
                                 int channel, const Grad& grad)
{
    for (size_t i = 0; i < len; i++)
        rp[i] = grad(xp[i], yp[i], rp[i], channel);
}

/** Applies `grad(x, y, r, channel)` element-wise, channel = index along axis 1. When dx comes in as
    r's own buffer (the engine offers it when nothing else holds r), it is computed in place. */
template <typename Grad>
void elementwiseBackward(const Mat& x, const Mat& y, const Mat& r, Mat& dx, const Grad& grad)
{
    CV_Assert(x.isContinuous() && y.isContinuous() && r.isContinuous());
    const bool inPlace = dx.data == r.data && dx.total() == x.total() && dx.type() == CV_32F;
    if (!inPlace)
        dx.create(x.dims, x.size.p, CV_32F);
    const int n = x.dims > 0 ? x.size[0] : 1;
    const int channels = x.dims > 1 ? x.size[1] : 1;
    const size_t plane = x.total() / std::max(1, n * channels);
    const float* xp = x.ptr<float>();
    const float* yp = y.ptr<float>();
    const float* rp = r.ptr<float>();
    float* dp = dx.ptr<float>();
    parallel_for_(Range(0, n * channels), [&](const Range& range) {
        for (int nc = range.start; nc < range.end; nc++)
        {
            const size_t at = (size_t)nc * plane;
            if (inPlace)
                planeBackwardInPlace(xp + at, yp + at, dp + at, plane, nc % channels, grad);
            else
                planeBackward(xp + at, yp + at, rp + at, dp + at, plane, nc % channels, grad);
        }
    });
}

/** Combines a rectifier's exact local derivative d (at x) and its deconvnet rule with the mode;
    written as selects, not branches, so that the loops vectorize. */
inline float rectify(float r, float d, float deconv, RectifierMode mode)
{
    if (mode == RECTIFIER_DECONVNET)
        return deconv;
    const float v = r * d;
    return mode == RECTIFIER_GUIDED ? v * (float)(r > 0.f) : v;
}

/** A rule for a one-input activation; Fn computes dx from (x, y, r, channel, mode). */
/** The clipping rectifiers (ReLU, LeakyReLU, ReLU6) also have an OpenCL kernel: f'(x) = 1 inside
    (lo, hi), `slope` below lo, 0 above hi. */
struct ClipRectifier
{
    bool enabled = false;
    float lo = 0.f, hi = FLT_MAX, slope = 0.f;
};

template <typename Fn>
class ActivationRule CV_FINAL : public BackwardRule
{
public:
    explicit ActivationRule(const Fn& fn_, const ClipRectifier& clip_ = ClipRectifier()) : fn(fn_), clip(clip_) {}

    bool computesInPlace() const CV_OVERRIDE { return true; }

    bool backwardOCL(const std::vector<UMat>& inputs, const std::vector<UMat>&, const std::vector<UMat>& outputGrads,
                     const std::vector<bool>& need, RectifierMode mode, std::vector<UMat>& inputGrads) CV_OVERRIDE
    {
        if (!clip.enabled || !need[0])
            return clip.enabled;
        return ocl_rectifierBackward(inputs[0], outputGrads[0], inputGrads[0], clip.lo, clip.hi, clip.slope, mode);
    }

    void backward(const std::vector<Mat>& inputs, const std::vector<Mat>& outputs,
                  const std::vector<Mat>& outputGrads, const std::vector<bool>& need, RectifierMode mode,
                  std::vector<Mat>& inputGrads) CV_OVERRIDE
    {
        if (!need[0])
            return;
        // One loop per mode, so that the mode is a constant inside it and the loop can vectorize.
        const Fn f = fn;
        const Mat &x = inputs[0], &y = outputs[0], &r = outputGrads[0];
        switch (mode)
        {
        case RECTIFIER_GUIDED:
            elementwiseBackward(x, y, r, inputGrads[0], [&f](float a, float b, float g, int c) {
                return f(a, b, g, c, RECTIFIER_GUIDED);
            });
            break;
        case RECTIFIER_DECONVNET:
            elementwiseBackward(x, y, r, inputGrads[0], [&f](float a, float b, float g, int c) {
                return f(a, b, g, c, RECTIFIER_DECONVNET);
            });
            break;
        default:
            elementwiseBackward(x, y, r, inputGrads[0], [&f](float a, float b, float g, int c) {
                return f(a, b, g, c, RECTIFIER_EXACT);
            });
        }
    }

private:
    Fn fn;
    ClipRectifier clip;
};

template <typename Fn>
Ptr<BackwardRule> makeActivationRule(const Fn& fn, const ClipRectifier& clip = ClipRectifier())
{
    return makePtr<ActivationRule<Fn> >(fn, clip);
}

Ptr<BackwardRule> createReLU(const LayerInfo& info)
{
    const float slope = layerAs<dnn::ReLULayer>(info)->negativeSlope;
    ClipRectifier clip;
    clip.enabled = true;
    clip.slope = slope;
    return makeActivationRule([slope](float x, float, float r, int, RectifierMode mode) {
        const float pos = (float)(x > 0.f), rpos = (float)(r > 0.f);
        const float d = pos + (1.f - pos) * slope;
        return rectify(r, d, r * (rpos + (1.f - rpos) * slope), mode);
    }, clip);
}

Ptr<BackwardRule> createReLU6(const LayerInfo& info)
{
    Ptr<dnn::ReLU6Layer> l = layerAs<dnn::ReLU6Layer>(info);
    const float lo = l->minValue, hi = l->maxValue;
    ClipRectifier clip;
    clip.enabled = true;
    clip.lo = lo;
    clip.hi = hi;
    return makeActivationRule([lo, hi](float x, float, float r, int, RectifierMode mode) {
        const float d = (float)((x > lo) & (x < hi));
        return rectify(r, d, r * (float)(r > 0.f), mode);
    }, clip);
}

Ptr<BackwardRule> createPReLU(const LayerInfo& info)
{
    if (info.layer->blobs.empty())
        CV_Error(Error::StsNotImplemented, "explain: " + describeLayer(info) + " has no slope blob");
    Mat slopes = info.layer->blobs[0].reshape(1, 1).clone();
    const int channels = info.inputShapes.empty() || info.inputShapes[0].size() < 2 ? 1 : info.inputShapes[0][1];
    if ((int)slopes.total() != channels && slopes.total() != 1)
        CV_Error(Error::StsNotImplemented, format("explain: %s has %d slopes for %d channels",
                                                  describeLayer(info).c_str(), (int)slopes.total(), channels));
    return makeActivationRule([slopes](float x, float, float r, int c, RectifierMode mode) {
        const float a = slopes.total() == 1 ? slopes.at<float>(0) : slopes.at<float>(c);
        return rectify(r, x > 0.f ? 1.f : a, r > 0.f ? r : a * r, mode);
    });
}

Ptr<BackwardRule> createELU(const LayerInfo& info)
{
    const float alpha = layerAs<dnn::ELULayer>(info)->alpha;
    return makeActivationRule([alpha](float x, float, float r, int, RectifierMode mode) {
        const float d = x > 0.f ? 1.f : alpha * std::exp(x);
        return rectify(r, d, r > 0.f ? r : 0.f, mode);
    });
}

Ptr<BackwardRule> createSwish(const LayerInfo&)
{
    return makeActivationRule([](float x, float, float r, int, RectifierMode mode) {
        const float s = sigmoid(x);
        return rectify(r, s * (1.f + x * (1.f - s)), r > 0.f ? r : 0.f, mode);
    });
}

Ptr<BackwardRule> createMish(const LayerInfo&)
{
    return makeActivationRule([](float x, float, float r, int, RectifierMode mode) {
        const float sp = x > 20.f ? x : std::log1p(std::exp(x));
        const float t = std::tanh(sp);
        return rectify(r, t + x * sigmoid(x) * (1.f - t * t), r > 0.f ? r : 0.f, mode);
    });
}

Ptr<BackwardRule> createHardSwish(const LayerInfo&)
{
    return makeActivationRule([](float x, float, float r, int, RectifierMode mode) {
        const float d = x < -3.f ? 0.f : (x > 3.f ? 1.f : x / 3.f + 0.5f);
        return rectify(r, d, r > 0.f ? r : 0.f, mode);
    });
}

Ptr<BackwardRule> createSigmoid(const LayerInfo&)
{
    return makeActivationRule([](float, float y, float r, int, RectifierMode) { return r * y * (1.f - y); });
}

Ptr<BackwardRule> createTanH(const LayerInfo&)
{
    return makeActivationRule([](float, float y, float r, int, RectifierMode) { return r * (1.f - y * y); });
}

Ptr<BackwardRule> createHardSigmoid(const LayerInfo& info)
{
    Ptr<dnn::HardSigmoidLayer> l = layerAs<dnn::HardSigmoidLayer>(info);
    const float alpha = l->alpha, beta = l->beta;
    return makeActivationRule([alpha, beta](float x, float, float r, int, RectifierMode) {
        const float z = alpha * x + beta;
        return (z > 0.f && z < 1.f) ? r * alpha : 0.f;
    });
}

Ptr<BackwardRule> createPower(const LayerInfo& info)
{
    Ptr<dnn::PowerLayer> l = layerAs<dnn::PowerLayer>(info);
    const float p = l->power, a = l->scale, b = l->shift;
    return makeActivationRule([p, a, b](float x, float, float r, int, RectifierMode) {
        if (p == 1.f)
            return r * a;
        return r * p * a * std::pow(a * x + b, p - 1.f);
    });
}

Ptr<BackwardRule> createAbs(const LayerInfo&)
{
    return makeActivationRule([](float x, float, float r, int, RectifierMode) {
        return x > 0.f ? r : (x < 0.f ? -r : 0.f);
    });
}

Ptr<BackwardRule> createExp(const LayerInfo& info)
{
    Ptr<dnn::ExpLayer> l = layerAs<dnn::ExpLayer>(info);
    const float lnBase = l->base == -1.f ? 1.f : std::log(l->base);
    const float scale = l->scale;
    return makeActivationRule([lnBase, scale](float, float y, float r, int, RectifierMode) {
        return r * y * lnBase * scale;
    });
}


} // namespace

void registerActivationRules(RuleMap& rules)
{
    rules["ReLU"] = createReLU;
    rules["ReLU6"] = createReLU6;
    rules["PReLU"] = createPReLU;
    rules["ELU"] = createELU;
    rules["Swish"] = createSwish;
    rules["Mish"] = createMish;
    rules["HardSwish"] = createHardSwish;
    rules["Sigmoid"] = createSigmoid;
    rules["TanH"] = createTanH;
    rules["HardSigmoid"] = createHardSigmoid;
    rules["Power"] = createPower;
    rules["AbsVal"] = createAbs;
    rules["Exp"] = createExp;
}

}} // namespace cv::explain
