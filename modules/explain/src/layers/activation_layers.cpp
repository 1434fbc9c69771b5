// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// Backward rules of element-wise activations. Rectifiers (ReLU, LeakyReLU, PReLU, ReLU6/Clip, ELU) honour
// RectifierMode:
//   exact:     R * f'(x)
//   guided:    R * f'(x) * [R > 0]      (Springenberg et al.; the exact local derivative, then only
//                                        positive incoming gradients)
//   deconvnet: the rectifier applied to R itself: R * [R > 0]; LeakyReLU/PReLU scale R < 0 by their
//              slope instead of zeroing it.
// Other activations (Swish, Mish, HardSwish, GELU, Sigmoid, TanH, HardSigmoid, Power, Log, Erf, Sqrt, Sin,
// Softplus, Selu, Celu, ...) always use their exact derivative: Swish, HardSwish and GELU reach cv::dnn as
// one layer or as a product with Sigmoid/HardSigmoid/Erf depending on the exporter and the OpenCV version, and a
// model's guided map must not depend on which (PyTorch's guided backpropagation changes ReLUs only).
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
    let the compiler vectorize it. `grad` is taken by value: a functor behind a reference could alias
    the floats the loop writes, which keeps the compiler from vectorizing. */
template <typename Grad>
inline void planeBackward(const float* __restrict xp, const float* __restrict yp, const float* __restrict rp,
                          float* __restrict dp, size_t len, int channel, const Grad grad)
{
    for (size_t i = 0; i < len; i++)
        dp[i] = grad(xp[i], yp[i], rp[i], channel);
}

/** The same in place: r[i] = grad(x[i], y[i], r[i], channel). */
template <typename Grad>
inline void planeBackwardInPlace(const float* __restrict xp, const float* __restrict yp, float* rp, size_t len,
                                 int channel, const Grad grad)
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

/** The clipping rectifiers (ReLU, LeakyReLU, ReLU6) also have an OpenCL kernel: f'(x) = 1 inside
    (lo, hi), `slope` below lo, 0 above hi. */
struct ClipRectifier
{
    bool enabled = false;
    float lo = 0.f, hi = FLT_MAX, slope = 0.f;
};

/** The rule of every one-input element-wise activation, as cv::dnn's ElementWiseLayer<Func>: the
    functor Grad is made from the layer and computes dx from (x, y, r, channel, mode); its `clip`
    member says whether the OpenCL rectifier kernel applies. */
template <typename Grad>
class ActivationRule CV_FINAL : public BackwardRule
{
public:
    explicit ActivationRule(const LayerInfo& info) : grad(info) {}

    bool computesInPlace() const CV_OVERRIDE { return true; }

    /** A clipping rectifier whose slope below the clip is not negative passes (lo, hi) exactly where its
        output does: its derivative is read from the output, so that the input, which cv::dnn may have
        computed in the same buffer (a fused convolution), need not be kept. */
    int activationsRead() const CV_OVERRIDE
    {
        return fromOutput() ? READS_OUTPUTS : READS_INPUTS | READS_OUTPUTS;
    }

    bool backwardOCL(const std::vector<UMat>& inputs, const std::vector<UMat>& outputs,
                     const std::vector<UMat>& outputGrads, const std::vector<bool>& need, RectifierMode mode,
                     std::vector<UMat>& inputGrads) CV_OVERRIDE
    {
        const ClipRectifier& clip = grad.clip;
        if (!clip.enabled || !need[0])
            return clip.enabled;
        const UMat& x = fromOutput() ? outputs[0] : inputs[0];  // as backward() reads it
        return ocl_rectifierBackward(x, outputGrads[0], inputGrads[0], clip.lo, clip.hi, clip.slope, mode);
    }

    void backward(const std::vector<Mat>& inputs, const std::vector<Mat>& outputs,
                  const std::vector<Mat>& outputGrads, const std::vector<bool>& need, RectifierMode mode,
                  std::vector<Mat>& inputGrads) CV_OVERRIDE
    {
        if (!need[0])
            return;
        // One loop per mode, so that the mode is a constant inside it and the loop can vectorize.
        const Grad f = grad;
        const Mat &x = fromOutput() ? outputs[0] : inputs[0], &y = outputs[0], &r = outputGrads[0];
        switch (mode)
        {
        case RECTIFIER_GUIDED:
            elementwiseBackward(x, y, r, inputGrads[0], [f](float a, float b, float g, int c) {
                return f(a, b, g, c, RECTIFIER_GUIDED);
            });
            break;
        case RECTIFIER_DECONVNET:
            elementwiseBackward(x, y, r, inputGrads[0], [f](float a, float b, float g, int c) {
                return f(a, b, g, c, RECTIFIER_DECONVNET);
            });
            break;
        default:
            elementwiseBackward(x, y, r, inputGrads[0], [f](float a, float b, float g, int c) {
                return f(a, b, g, c, RECTIFIER_EXACT);
            });
        }
    }

private:
    bool fromOutput() const { return grad.clip.enabled && grad.clip.slope >= 0.f; }

    Grad grad;
};

/** The activations whose gradient needs nothing from the layer. */
struct StatelessGrad
{
    explicit StatelessGrad(const LayerInfo&) {}
    ClipRectifier clip;
};

struct ReLUGrad
{
    explicit ReLUGrad(const LayerInfo& info) : slope(layerAs<dnn::ReLULayer>(info)->negativeSlope)
    {
        clip.enabled = true;
        clip.slope = slope;
    }
    float operator()(float x, float, float r, int, RectifierMode mode) const
    {
        const float pos = (float)(x > 0.f), rpos = (float)(r > 0.f);
        const float d = pos + (1.f - pos) * slope;
        return rectify(r, d, r * (rpos + (1.f - rpos) * slope), mode);
    }
    float slope;
    ClipRectifier clip;
};

struct ReLU6Grad
{
    explicit ReLU6Grad(const LayerInfo& info)
    {
        Ptr<dnn::ReLU6Layer> l = layerAs<dnn::ReLU6Layer>(info);
        clip.enabled = true;
        clip.lo = lo = l->minValue;
        clip.hi = hi = l->maxValue;
    }
    float operator()(float x, float, float r, int, RectifierMode mode) const
    {
        const float d = (float)((x > lo) & (x < hi));
        return rectify(r, d, r * (float)(r > 0.f), mode);
    }
    float lo, hi;
    ClipRectifier clip;
};

/** Clip of OpenCV 5's importer (4.x imports it as ReLU6): its bounds are private, read from the captured
    parameters ("min", "max"; absent: unbounded). */
struct ClipGrad
{
    explicit ClipGrad(const LayerInfo& info)
    {
        if (info.inputShapes.size() > 1)
            CV_Error(Error::StsNotImplemented, "explain: " + describeLayer(info) + " takes its bounds as inputs of "
                                                   "the Net; only constant bounds are supported");
        const dnn::LayerParams p = requireCapturedParams(info, "bounds").params;
        clip.enabled = true;
        clip.lo = lo = p.get<float>("min", -FLT_MAX);
        clip.hi = hi = p.get<float>("max", FLT_MAX);
    }
    float operator()(float x, float, float r, int, RectifierMode mode) const
    {
        const float d = (float)((x > lo) & (x < hi));
        return rectify(r, d, r * (float)(r > 0.f), mode);
    }
    float lo, hi;
    ClipRectifier clip;
};

struct PReLUGrad
{
    explicit PReLUGrad(const LayerInfo& info)
    {
        if (info.layer->blobs.empty())
            CV_Error(Error::StsNotImplemented, "explain: " + describeLayer(info) + " has no slope blob");
        slopes = info.layer->blobs[0].reshape(1, 1).clone();
        const int channels = info.inputShapes.empty() || info.inputShapes[0].size() < 2 ? 1 : info.inputShapes[0][1];
        if ((int)slopes.total() != channels && slopes.total() != 1)
            CV_Error(Error::StsNotImplemented, format("explain: %s has %d slopes for %d channels",
                                                      describeLayer(info).c_str(), (int)slopes.total(), channels));
    }
    float operator()(float x, float, float r, int c, RectifierMode mode) const
    {
        const float a = slopes.total() == 1 ? slopes.at<float>(0) : slopes.at<float>(c);
        return rectify(r, x > 0.f ? 1.f : a, r > 0.f ? r : a * r, mode);
    }
    Mat slopes;
    ClipRectifier clip;
};

struct ELUGrad
{
    explicit ELUGrad(const LayerInfo& info) : alpha(layerAs<dnn::ELULayer>(info)->alpha) {}
    float operator()(float x, float, float r, int, RectifierMode mode) const
    {
        const float d = x > 0.f ? 1.f : alpha * std::exp(x);
        return rectify(r, d, r > 0.f ? r : 0.f, mode);
    }
    float alpha;
    ClipRectifier clip;
};

struct SwishGrad : StatelessGrad
{
    using StatelessGrad::StatelessGrad;
    float operator()(float x, float, float r, int, RectifierMode) const
    {
        const float s = sigmoid(x);
        return r * (s * (1.f + x * (1.f - s)));
    }
};

struct MishGrad : StatelessGrad
{
    using StatelessGrad::StatelessGrad;
    float operator()(float x, float, float r, int, RectifierMode) const
    {
        const float sp = x > 20.f ? x : std::log1p(std::exp(x));
        const float t = std::tanh(sp);
        return r * (t + x * sigmoid(x) * (1.f - t * t));
    }
};

struct HardSwishGrad : StatelessGrad
{
    using StatelessGrad::StatelessGrad;
    float operator()(float x, float, float r, int, RectifierMode) const
    {
        const float d = x < -3.f ? 0.f : (x > 3.f ? 1.f : x / 3.f + 0.5f);
        return r * d;
    }
};

struct SigmoidGrad : StatelessGrad
{
    using StatelessGrad::StatelessGrad;
    float operator()(float, float y, float r, int, RectifierMode) const { return r * y * (1.f - y); }
};

struct TanHGrad : StatelessGrad
{
    using StatelessGrad::StatelessGrad;
    float operator()(float, float y, float r, int, RectifierMode) const { return r * (1.f - y * y); }
};

struct HardSigmoidGrad
{
    explicit HardSigmoidGrad(const LayerInfo& info)
    {
        Ptr<dnn::HardSigmoidLayer> l = layerAs<dnn::HardSigmoidLayer>(info);
        alpha = l->alpha;
        beta = l->beta;
    }
    float operator()(float x, float, float r, int, RectifierMode) const
    {
        const float z = alpha * x + beta;
        return (z > 0.f && z < 1.f) ? r * alpha : 0.f;
    }
    float alpha, beta;
    ClipRectifier clip;
};

struct PowerGrad
{
    explicit PowerGrad(const LayerInfo& info)
    {
        Ptr<dnn::PowerLayer> l = layerAs<dnn::PowerLayer>(info);
        p = l->power;
        a = l->scale;
        b = l->shift;
    }
    float operator()(float x, float, float r, int, RectifierMode) const
    {
        if (p == 1.f)
            return r * a;
        return r * p * a * std::pow(a * x + b, p - 1.f);
    }
    float p, a, b;
    ClipRectifier clip;
};

struct AbsGrad : StatelessGrad
{
    using StatelessGrad::StatelessGrad;
    float operator()(float x, float, float r, int, RectifierMode) const { return x > 0.f ? r : (x < 0.f ? -r : 0.f); }
};

struct ExpGrad
{
    explicit ExpGrad(const LayerInfo& info)
    {
        Ptr<dnn::ExpLayer> l = layerAs<dnn::ExpLayer>(info);
        lnBase = l->base == -1.f ? 1.f : std::log(l->base);
        scale = l->scale;
    }
    float operator()(float, float y, float r, int, RectifierMode) const { return r * y * lnBase * scale; }
    float lnBase, scale;
    ClipRectifier clip;
};

/** The smooth one-input functions of cv::dnn 4.6 (elementwise_layers.cpp): dx = r * f'(x), or from y
    where that is exact and cheaper. Outside a function's domain cv::dnn's output is NaN already. */
struct LogGrad : StatelessGrad  // y = log(x)
{
    using StatelessGrad::StatelessGrad;
    float operator()(float x, float, float r, int, RectifierMode) const { return r / x; }
};

struct ErfGrad : StatelessGrad  // y = erf(x)
{
    using StatelessGrad::StatelessGrad;
    float operator()(float x, float, float r, int, RectifierMode) const
    {
        return r * 1.1283791670955126f * std::exp(-x * x);  // 2 / sqrt(pi)
    }
};

/** GELU (4.9+ and 5.0's classic engine fuse x * 0.5 * (1 + erf(x / sqrt 2)) into one layer): y = x Phi(x),
    dy/dx = Phi(x) + x phi(x) with Phi, phi the standard normal CDF and density. */
struct GeluGrad : StatelessGrad
{
    using StatelessGrad::StatelessGrad;
    float operator()(float x, float, float r, int, RectifierMode) const
    {
        const double cdf = 0.5 * (1.0 + std::erf(x * 0.70710678118654752));  // x / sqrt(2)
        const double pdf = 0.3989422804014327 * std::exp(-0.5 * x * x);       // 1 / sqrt(2 pi)
        return (float)(r * (cdf + x * pdf));
    }
};

/** GELU's tanh approximation: y = 0.5 x (1 + tanh(u)), u = sqrt(2 / pi) (x + 0.044715 x^3). */
struct GeluApproximationGrad : StatelessGrad
{
    using StatelessGrad::StatelessGrad;
    float operator()(float x, float, float r, int, RectifierMode) const
    {
        const double k = 0.7978845608028654, c = 0.044715;
        const double t = std::tanh(k * (x + c * x * x * x));
        return (float)(r * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * k * (1.0 + 3.0 * c * x * x)));
    }
};

struct SqrtGrad : StatelessGrad  // y = sqrt(x)
{
    using StatelessGrad::StatelessGrad;
    float operator()(float, float y, float r, int, RectifierMode) const { return r * 0.5f / y; }
};

struct ReciprocalGrad : StatelessGrad  // y = 1 / x
{
    using StatelessGrad::StatelessGrad;
    float operator()(float, float y, float r, int, RectifierMode) const { return -r * y * y; }
};

struct SinGrad : StatelessGrad
{
    using StatelessGrad::StatelessGrad;
    float operator()(float x, float, float r, int, RectifierMode) const { return r * std::cos(x); }
};

struct CosGrad : StatelessGrad
{
    using StatelessGrad::StatelessGrad;
    float operator()(float x, float, float r, int, RectifierMode) const { return -r * std::sin(x); }
};

struct TanGrad : StatelessGrad  // y = tan(x): 1 + y^2
{
    using StatelessGrad::StatelessGrad;
    float operator()(float, float y, float r, int, RectifierMode) const { return r * (1.f + y * y); }
};

struct SinhGrad : StatelessGrad
{
    using StatelessGrad::StatelessGrad;
    float operator()(float x, float, float r, int, RectifierMode) const { return r * std::cosh(x); }
};

struct CoshGrad : StatelessGrad
{
    using StatelessGrad::StatelessGrad;
    float operator()(float x, float, float r, int, RectifierMode) const { return r * std::sinh(x); }
};

struct AsinGrad : StatelessGrad
{
    using StatelessGrad::StatelessGrad;
    float operator()(float x, float, float r, int, RectifierMode) const { return r / std::sqrt(1.f - x * x); }
};

struct AcosGrad : StatelessGrad
{
    using StatelessGrad::StatelessGrad;
    float operator()(float x, float, float r, int, RectifierMode) const { return -r / std::sqrt(1.f - x * x); }
};

struct AtanGrad : StatelessGrad
{
    using StatelessGrad::StatelessGrad;
    float operator()(float x, float, float r, int, RectifierMode) const { return r / (1.f + x * x); }
};

struct AsinhGrad : StatelessGrad
{
    using StatelessGrad::StatelessGrad;
    float operator()(float x, float, float r, int, RectifierMode) const { return r / std::sqrt(x * x + 1.f); }
};

struct AcoshGrad : StatelessGrad
{
    using StatelessGrad::StatelessGrad;
    float operator()(float x, float, float r, int, RectifierMode) const { return r / std::sqrt(x * x - 1.f); }
};

struct AtanhGrad : StatelessGrad
{
    using StatelessGrad::StatelessGrad;
    float operator()(float x, float, float r, int, RectifierMode) const { return r / (1.f - x * x); }
};

struct SoftplusGrad : StatelessGrad  // y = log(1 + exp(x)): sigmoid(x)
{
    using StatelessGrad::StatelessGrad;
    float operator()(float x, float, float r, int, RectifierMode) const { return r * sigmoid(x); }
};

struct SoftsignGrad : StatelessGrad  // y = x / (1 + |x|): 1 / (1 + |x|)^2
{
    using StatelessGrad::StatelessGrad;
    float operator()(float x, float, float r, int, RectifierMode) const
    {
        const float d = 1.f + std::abs(x);
        return r / (d * d);
    }
};

/** Selu: y = gamma * (x > 0 ? x : alpha * (exp(x) - 1)). */
struct SeluGrad
{
    explicit SeluGrad(const LayerInfo& info)
    {
        Ptr<dnn::SeluLayer> l = layerAs<dnn::SeluLayer>(info);
        alpha = l->alpha;
        gamma = l->gamma;
    }
    float operator()(float x, float, float r, int, RectifierMode) const
    {
        return r * gamma * (x > 0.f ? 1.f : alpha * std::exp(x));
    }
    float alpha, gamma;
    ClipRectifier clip;
};

/** Celu: y = max(0, x) + min(0, alpha * (exp(x / alpha) - 1)). */
struct CeluGrad
{
    explicit CeluGrad(const LayerInfo& info) : alpha(layerAs<dnn::CeluLayer>(info)->alpha)
    {
        if (!(alpha != 0.f))
            CV_Error(Error::StsNotImplemented, "explain: " + describeLayer(info) + " has alpha 0 (x / alpha undefined)");
    }
    float operator()(float x, float, float r, int, RectifierMode) const
    {
        return x > 0.f ? r : r * std::exp(x / alpha);
    }
    float alpha;
    ClipRectifier clip;
};

/** ThresholdedRelu: y = x > alpha ? x : 0. */
struct ThresholdedReluGrad
{
    explicit ThresholdedReluGrad(const LayerInfo& info) : alpha(layerAs<dnn::ThresholdedReluLayer>(info)->alpha) {}
    float operator()(float x, float, float r, int, RectifierMode) const { return x > alpha ? r : 0.f; }
    float alpha;
    ClipRectifier clip;
};

} // namespace

void registerActivationRules(RuleMap& rules)
{
    EXPLAIN_REGISTER_RULE(rules, "ReLU", ActivationRule<ReLUGrad>);
    EXPLAIN_REGISTER_RULE(rules, "ReLU6", ActivationRule<ReLU6Grad>);
    EXPLAIN_REGISTER_RULE(rules, "Clip", ActivationRule<ClipGrad>);
    EXPLAIN_REGISTER_RULE(rules, "PReLU", ActivationRule<PReLUGrad>);
    EXPLAIN_REGISTER_RULE(rules, "ELU", ActivationRule<ELUGrad>);
    EXPLAIN_REGISTER_RULE(rules, "Swish", ActivationRule<SwishGrad>);
    EXPLAIN_REGISTER_RULE(rules, "Mish", ActivationRule<MishGrad>);
    EXPLAIN_REGISTER_RULE(rules, "HardSwish", ActivationRule<HardSwishGrad>);
    EXPLAIN_REGISTER_RULE(rules, "Sigmoid", ActivationRule<SigmoidGrad>);
    EXPLAIN_REGISTER_RULE(rules, "TanH", ActivationRule<TanHGrad>);
    EXPLAIN_REGISTER_RULE(rules, "HardSigmoid", ActivationRule<HardSigmoidGrad>);
    EXPLAIN_REGISTER_RULE(rules, "Power", ActivationRule<PowerGrad>);
    EXPLAIN_REGISTER_RULE(rules, "AbsVal", ActivationRule<AbsGrad>);
    EXPLAIN_REGISTER_RULE(rules, "Exp", ActivationRule<ExpGrad>);
    EXPLAIN_REGISTER_RULE(rules, "Log", ActivationRule<LogGrad>);
    EXPLAIN_REGISTER_RULE(rules, "Erf", ActivationRule<ErfGrad>);
    EXPLAIN_REGISTER_RULE(rules, "Gelu", ActivationRule<GeluGrad>);
    EXPLAIN_REGISTER_RULE(rules, "GeluApproximation", ActivationRule<GeluApproximationGrad>);
    EXPLAIN_REGISTER_RULE(rules, "Sqrt", ActivationRule<SqrtGrad>);
    EXPLAIN_REGISTER_RULE(rules, "Reciprocal", ActivationRule<ReciprocalGrad>);
    EXPLAIN_REGISTER_RULE(rules, "Sin", ActivationRule<SinGrad>);
    EXPLAIN_REGISTER_RULE(rules, "Cos", ActivationRule<CosGrad>);
    EXPLAIN_REGISTER_RULE(rules, "Tan", ActivationRule<TanGrad>);
    EXPLAIN_REGISTER_RULE(rules, "Sinh", ActivationRule<SinhGrad>);
    EXPLAIN_REGISTER_RULE(rules, "Cosh", ActivationRule<CoshGrad>);
    EXPLAIN_REGISTER_RULE(rules, "Asin", ActivationRule<AsinGrad>);
    EXPLAIN_REGISTER_RULE(rules, "Acos", ActivationRule<AcosGrad>);
    EXPLAIN_REGISTER_RULE(rules, "Atan", ActivationRule<AtanGrad>);
    EXPLAIN_REGISTER_RULE(rules, "Asinh", ActivationRule<AsinhGrad>);
    EXPLAIN_REGISTER_RULE(rules, "Acosh", ActivationRule<AcoshGrad>);
    EXPLAIN_REGISTER_RULE(rules, "Atanh", ActivationRule<AtanhGrad>);
    EXPLAIN_REGISTER_RULE(rules, "Softplus", ActivationRule<SoftplusGrad>);
    EXPLAIN_REGISTER_RULE(rules, "Softsign", ActivationRule<SoftsignGrad>);
    EXPLAIN_REGISTER_RULE(rules, "Selu", ActivationRule<SeluGrad>);
    EXPLAIN_REGISTER_RULE(rules, "Celu", ActivationRule<CeluGrad>);
    EXPLAIN_REGISTER_RULE(rules, "ThresholdedRelu", ActivationRule<ThresholdedReluGrad>);
}

}} // namespace cv::explain
