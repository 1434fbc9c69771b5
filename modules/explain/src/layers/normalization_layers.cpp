// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// Backward rules of normalizing layers: Softmax / LogSoftmax (any axis), LRN across channels, MVN (mean-variance
// normalization: ONNX InstanceNormalization on 4.6, Caffe MVN), InstanceNormalization (4.9+: per image and
// channel, scale and bias as inputs), LayerNormalization (4.9+: over the last axes, weights per value) and
// Normalize (cv::dnn's NormalizeBBox: Lp normalization).
#include "layer_utils.hpp"
#include "../opencv_compat.hpp"
#include "../ocl_ops.hpp"
#include <cmath>

namespace cv {
namespace explain {

namespace {

/** Softmax's axis from its captured parameters (1 when they were not captured). */
int softmaxAxis(const LayerInfo& info, int dims)
{
    const CapturedParams captured(info);
    return normalizeAxis(captured.known ? captured.params.get<int>("axis", 1) : 1, dims);
}

/** y_c = x_c * s_c^-beta, s_c = bias + a * sum_{c' in window(c)} x_c'^2. */
class LRNRule CV_FINAL : public BackwardRule
{
public:
    explicit LRNRule(const LayerInfo& info_) : info(info_) {}

    void backward(const std::vector<Mat>& inputs, const std::vector<Mat>&, const std::vector<Mat>& outputGrads,
                  const std::vector<bool>& need, RectifierMode, std::vector<Mat>& inputGrads) CV_OVERRIDE
    {
        if (!need[0])
            return;
        Ptr<dnn::LRNLayer> l = layerAs<dnn::LRNLayer>(info);
        if (l->type != 0)
            CV_Error(Error::StsNotImplemented, "explain: within-channel LRN of " + describeLayer(info) +
                                                   " has no backward rule yet (across channels is supported)");
        const Mat& x = inputs[0];
        const int n = x.size[0], channels = x.size[1], half = l->size / 2;
        const size_t plane = totalOf(x, 2);
        const double a = l->normBySize ? l->alpha / l->size : l->alpha, beta = l->beta, bias = l->bias;
        Mat dx(x.dims, x.size.p, CV_32F);
        const float* rp = outputGrads[0].ptr<float>();
        std::vector<double> s(channels), t(channels);
        for (int b = 0; b < n; b++)
            for (size_t p = 0; p < plane; p++)
            {
                auto at = [&](int c) { return ((size_t)b * channels + c) * plane + p; };
                const float* xp = x.ptr<float>();
                for (int c = 0; c < channels; c++)
                {
                    double sum = 0;
                    for (int k = std::max(0, c - half); k <= std::min(channels - 1, c + half); k++)
                        sum += (double)xp[at(k)] * xp[at(k)];
                    s[c] = bias + a * sum;
                    t[c] = rp[at(c)] * xp[at(c)] * std::pow(s[c], -beta - 1);
                }
                for (int j = 0; j < channels; j++)
                {
                    double sum = 0;
                    for (int c = std::max(0, j - half); c <= std::min(channels - 1, j + half); c++)
                        sum += t[c];
                    dx.ptr<float>()[at(j)] = (float)(rp[at(j)] * std::pow(s[j], -beta) - 2 * a * beta * xp[at(j)] * sum);
                }
            }
        inputGrads[0] = dx;
    }

private:
    LayerInfo info;
};

/** Softmax with its device version: one work item per position along the other axes. */
class SoftmaxRule CV_FINAL : public BackwardRule
{
public:
    explicit SoftmaxRule(const LayerInfo& info_) : info(info_) {}

    void backward(const std::vector<Mat>& inputs, const std::vector<Mat>& outputs, const std::vector<Mat>& outputGrads,
                  const std::vector<bool>& need, RectifierMode, std::vector<Mat>& inputGrads) CV_OVERRIDE
    {
        if (!need[0])
            return;
        const bool logSoftmax = layerAs<dnn::SoftmaxLayer>(info)->logSoftMax;
        const float scale = compat::softmaxScaleOf(info);  // y = softmax(scale x)
        const Mat& y = outputs[0];
        const int axis = softmaxAxis(info, y.dims);
        const size_t outer = totalOf(y, 0, axis), count = y.size[axis], inner = totalOf(y, axis + 1);
        Mat dx(inputs[0].dims, inputs[0].size.p, CV_32F);
        const float* yp = y.ptr<float>();
        const float* rp = outputGrads[0].ptr<float>();
        float* dp = dx.ptr<float>();
        for (size_t o = 0; o < outer; o++)
            for (size_t i = 0; i < inner; i++)
            {
                const size_t base = o * count * inner + i;
                double dot = 0;  // softmax: sum_c r_c y_c; log-softmax: sum_c r_c
                for (size_t c = 0; c < count; c++)
                    dot += logSoftmax ? rp[base + c * inner] : rp[base + c * inner] * yp[base + c * inner];
                for (size_t c = 0; c < count; c++)
                {
                    const size_t k = base + c * inner;
                    dp[k] = scale * (logSoftmax ? (float)(rp[k] - std::exp(yp[k]) * dot) : (float)(yp[k] * (rp[k] - dot)));
                }
            }
        inputGrads[0] = dx;
    }

    bool backwardOCL(const std::vector<UMat>& inputs, const std::vector<UMat>& outputs,
                     const std::vector<UMat>& outputGrads, const std::vector<bool>& need, RectifierMode,
                     std::vector<UMat>& inputGrads) CV_OVERRIDE
    {
        if (!useOpenCLFor(outputGrads[0]))
            return false;
        if (!need[0])
            return true;
        const bool logSoftmax = layerAs<dnn::SoftmaxLayer>(info)->logSoftMax;
        const UMat& y = outputs[0];
        const int axis = softmaxAxis(info, y.dims);
        if (axis < 0 || axis >= y.dims || y.total() != inputs[0].total() || compat::softmaxScaleOf(info) != 1.f)
            return false;
        UMat dx;
        if (!ocl_softmaxBackward(y, outputGrads[0], dx, (int)totalOf(y, 0, axis), y.size[axis],
                                 (int)totalOf(y, axis + 1), logSoftmax))
            return false;
        inputGrads[0] = dx.reshape(1, inputs[0].dims, inputs[0].size.p);
        return true;
    }

private:
    LayerInfo info;
};

/** MVN as cv::dnn 4.6 computes it (mvn_layer.cpp): per group (one per sample across channels, else one per sample
    and channel) y = x - mean, divided by sqrt(var + eps) with normVariance (var the population variance). With
    xhat = y and inv = 1 / sqrt(var + eps): dx = inv * (r - mean(r) - xhat * mean(r * xhat)); without
    normVariance dx = r - mean(r). */
class MVNRule CV_FINAL : public BackwardRule
{
public:
    explicit MVNRule(const LayerInfo& info_) : info(info_)
    {
        Ptr<dnn::MVNLayer> l = layerAs<dnn::MVNLayer>(info);
        eps = l->eps;
        normVariance = l->normVariance;
        acrossChannels = l->acrossChannels;
        if (!info.layer->blobs.empty())
            CV_Error(Error::StsNotImplemented, "explain: " + describeLayer(info) + " has weight blobs; "
                                                   "cv::dnn's MVN has none, so their meaning is unknown");
        if (!(eps >= 0.f))
            CV_Error(Error::StsNotImplemented, format("explain: %s has eps %g; a non-negative eps is supported",
                                                      describeLayer(info).c_str(), eps));
    }

    void backward(const std::vector<Mat>& inputs, const std::vector<Mat>& outputs, const std::vector<Mat>& outputGrads,
                  const std::vector<bool>& need, RectifierMode, std::vector<Mat>& inputGrads) CV_OVERRIDE
    {
        if (!need[0])
            return;
        if (inputs.size() != 1)
            CV_Error(Error::StsNotImplemented, "explain: " + describeLayer(info) + " with several inputs has no backward rule");
        checkOutputIsNormalized(inputs[0], outputs[0]);
        const Mat& x = inputs[0];
        if (x.dims < 2)
            CV_Error(Error::StsNotImplemented, "explain: " + describeLayer(info) + " on a 1-D blob has no backward rule");
        const size_t groups = totalOf(x, 0, acrossChannels ? 1 : 2);
        const size_t len = x.total() / std::max<size_t>(groups, 1);
        Mat dx(x.dims, x.size.p, CV_32F);
        const float* xp = x.ptr<float>();
        const float* rp = outputGrads[0].ptr<float>();
        float* dp = dx.ptr<float>();
        for (size_t g = 0; g < groups; g++)
        {
            const float* xs = xp + g * len;
            const float* rs = rp + g * len;
            float* ds = dp + g * len;
            double mean = 0, rmean = 0;
            for (size_t i = 0; i < len; i++)
            {
                mean += xs[i];
                rmean += rs[i];
            }
            mean /= len;
            rmean /= len;
            if (!normVariance)
            {
                for (size_t i = 0; i < len; i++)
                    ds[i] = (float)(rs[i] - rmean);
                continue;
            }
            double var = 0;
            for (size_t i = 0; i < len; i++)
                var += (xs[i] - mean) * (xs[i] - mean);
            var /= len;
            const double inv = 1.0 / std::sqrt(var + eps);
            double rx = 0;  // mean(r * xhat)
            for (size_t i = 0; i < len; i++)
                rx += rs[i] * (xs[i] - mean) * inv;
            rx /= len;
            for (size_t i = 0; i < len; i++)
                ds[i] = (float)(inv * (rs[i] - rmean - (xs[i] - mean) * inv * rx));
        }
        inputGrads[0] = dx;
    }

private:
    /** cv::dnn 4.6 folds a following BatchNorm/Scale into MVN in a plain forward pass and keeps it folded
        when a later pass requests both layers' outputs, which then applies it twice: an output that is
        not the input normalized is refused rather than differentiated as if it were. */
    void checkOutputIsNormalized(const Mat& x, const Mat& y) const
    {
        const size_t groups = totalOf(x, 0, acrossChannels ? 1 : 2);
        const size_t len = x.total() / std::max<size_t>(groups, 1);
        const float* xp = x.ptr<float>();
        const float* yp = y.ptr<float>();
        for (size_t g = 0; g < groups && len > 0; g++)
        {
            double mean = 0, var = 0;
            for (size_t i = 0; i < len; i++)
                mean += xp[g * len + i];
            mean /= len;
            for (size_t i = 0; i < len; i++)
                var += (xp[g * len + i] - mean) * (xp[g * len + i] - mean);
            const double inv = normVariance ? 1.0 / std::sqrt(var / len + eps) : 1.0;
            for (size_t i = 0; i < len; i++)
            {
                const double expected = (xp[g * len + i] - mean) * inv;
                if (std::abs(yp[g * len + i] - expected) > 1e-3 * (1.0 + std::abs(expected)))
                    CV_Error(Error::StsError, "explain: the output of " + describeLayer(info) + " is not its input "
                             "normalized: cv::dnn kept a layer folded into it by an earlier forward pass of this Net "
                             "(a cv::dnn bug); explain a Net on which no plain forward ran before, or call "
                             "net.enableFusion(false) before its first forward pass");
            }
        }
    }

    LayerInfo info;
    float eps;
    bool normVariance, acrossChannels;
};

/** Normalize (cv::dnn's NormalizeBBox, normalize_bbox_layer.cpp): the blob is num x planes x planeSize with
    num = the axes before start_axis, planes = the axes [start_axis, end_axis]; per sample and position j,
    n_j = (sum_i |x_ij|^p + eps)^(1/p) and y_ij = s_i x_ij / n_j (s one scale, one per plane, or none). Then
    dx_kj = (s_k r_kj - sum_i s_i r_ij x_ij * |x_kj|^(p-1) sign(x_kj) / (S_j + eps)) / n_j. start_axis and
    end_axis are private in 4.6: they come from the captured parameters. */
class NormalizeRule CV_FINAL : public BackwardRule
{
public:
    explicit NormalizeRule(const LayerInfo& info_) : info(info_)
    {
        Ptr<dnn::NormalizeBBoxLayer> l = layerAs<dnn::NormalizeBBoxLayer>(info);
        p = l->pnorm;
        eps = l->epsilon;
        if (!(p >= 1.f))
            CV_Error(Error::StsNotImplemented, format("explain: %s normalizes with p = %g; p >= 1 is supported",
                                                      describeLayer(info).c_str(), p));
        const CapturedParams captured = requireCapturedParams(info, "axes");
        const bool acrossSpatial = captured.params.get<bool>("across_spatial", true);
        startAxis = captured.params.get<int>("start_axis", 1);
        endAxis = captured.params.get<int>("end_axis", acrossSpatial ? -1 : startAxis);
        if (info.layer->blobs.size() > 1)
            CV_Error(Error::StsNotImplemented, "explain: " + describeLayer(info) + " has more than one blob");
        if (!info.layer->blobs.empty())
            scale = info.layer->blobs[0].reshape(1, 1).clone();
    }

    void backward(const std::vector<Mat>& inputs, const std::vector<Mat>&, const std::vector<Mat>& outputGrads,
                  const std::vector<bool>& need, RectifierMode, std::vector<Mat>& inputGrads) CV_OVERRIDE
    {
        if (!need[0])
            return;
        const Mat& x = inputs[0];
        // as cv::dnn's finalize() and forward(): -1 is the last axis, other negative axes count from the end
        const int start = startAxis == -1 ? x.dims - 1 : normalizeAxis(startAxis, x.dims);
        const int end = endAxis == -1 ? x.dims - 1 : normalizeAxis(endAxis, x.dims);
        if (start < 0 || end < start || end >= x.dims)
            CV_Error(Error::StsNotImplemented, format("explain: %s normalizes over axes %d..%d of a %d-D blob",
                                                      describeLayer(info).c_str(), startAxis, endAxis, x.dims));
        const size_t num = totalOf(x, 0, start), planes = totalOf(x, start, end + 1);
        const size_t planeSize = x.total() / std::max<size_t>(num * planes, 1);
        if (!scale.empty() && scale.total() != 1 && scale.total() != planes)
            CV_Error(Error::StsNotImplemented, format("explain: %s has %d scales for %d planes",
                                                      describeLayer(info).c_str(), (int)scale.total(), (int)planes));
        Mat dx(x.dims, x.size.p, CV_32F);
        const float* xp = x.ptr<float>();
        const float* rp = outputGrads[0].ptr<float>();
        float* dp = dx.ptr<float>();
        auto s = [&](size_t i) { return scale.empty() ? 1.f : scale.at<float>(scale.total() == 1 ? 0 : (int)i); };
        for (size_t n = 0; n < num; n++)
        {
            const size_t base = n * planes * planeSize;
            for (size_t j = 0; j < planeSize; j++)
            {
                double sum = 0, dot = 0;
                for (size_t i = 0; i < planes; i++)
                {
                    const float v = xp[base + i * planeSize + j];
                    sum += std::pow((double)std::abs(v), (double)p);
                    dot += (double)s(i) * rp[base + i * planeSize + j] * v;
                }
                const double total = sum + eps, norm = std::pow(total, 1.0 / p);
                for (size_t i = 0; i < planes; i++)
                {
                    const size_t k = base + i * planeSize + j;
                    const float v = xp[k];
                    const double d = (v > 0.f ? 1.0 : (v < 0.f ? -1.0 : 0.0)) *
                                     (p == 1.f ? 1.0 : std::pow((double)std::abs(v), (double)p - 1.0));
                    dp[k] = (float)((s(i) * rp[k] - dot * d / total) / norm);
                }
            }
        }
        inputGrads[0] = dx;
    }

private:
    LayerInfo info;
    float p, eps;
    int startAxis, endAxis;
    Mat scale;
};

/** The backward of y = w (x - mean) / sqrt(var + eps) + b over one group of `len` values (population
    variance), w per value (wStep 1) or one for the group (wStep 0). With xhat the normalized x and r' = r w:
    dx = (r' - mean(r') - xhat mean(r' xhat)) / sqrt(var + eps); r xhat is added to dw and r to db (per value
    with wStep 1, summed with wStep 0). */
void affineNormBackward(const float* x, const float* r, size_t len, double eps, const float* w, int wStep,
                        float* dx, float* dw, float* db)
{
    double mean = 0, var = 0;
    for (size_t i = 0; i < len; i++)
        mean += x[i];
    mean /= len;
    for (size_t i = 0; i < len; i++)
        var += (x[i] - mean) * (x[i] - mean);
    const double inv = 1.0 / std::sqrt(var / len + eps);
    double rmean = 0, rx = 0, dwGroup = 0, dbGroup = 0;  // mean(r'), mean(r' xhat); wStep 0: sum r xhat, sum r
    for (size_t i = 0; i < len; i++)
    {
        const double xhat = (x[i] - mean) * inv, rw = (double)r[i] * w[i * wStep];
        rmean += rw;
        rx += rw * xhat;
        if (wStep)
        {
            dw[i] += (float)(r[i] * xhat);
            db[i] += r[i];
        }
        dwGroup += r[i] * xhat;
        dbGroup += r[i];
    }
    if (!wStep)
    {
        *dw += (float)dwGroup;
        *db += (float)dbGroup;
    }
    rmean /= len;
    rx /= len;
    for (size_t i = 0; i < len; i++)
        dx[i] = (float)(inv * ((double)r[i] * w[i * wStep] - rmean - (x[i] - mean) * inv * rx));
}

/** InstanceNormalization (cv::dnn 4.9+): y = s_c (x - mean) / sqrt(var + eps) + b_c over each image and
    channel's plane, scale s and bias b the second and third inputs (affineNormBackward per plane). */
class InstanceNormRule CV_FINAL : public BackwardRule
{
public:
    explicit InstanceNormRule(const LayerInfo& info) : eps(compat::instanceNormEpsilonOf(info))
    {
        if (info.inputShapes.size() != 3 || info.inputShapes[0].size() < 3)
            CV_Error(Error::StsNotImplemented, "explain: " + describeLayer(info) + " is not an N x C x ... input "
                                                   "with scale and bias inputs");
    }

    void backward(const std::vector<Mat>& inputs, const std::vector<Mat>&, const std::vector<Mat>& outputGrads,
                  const std::vector<bool>& need, RectifierMode, std::vector<Mat>& inputGrads) CV_OVERRIDE
    {
        const Mat& x = inputs[0];
        const int channels = x.size[1];
        const size_t planes = totalOf(x, 0, 2), len = totalOf(x, 2);
        const float* scale = inputs[1].ptr<float>();
        Mat dx(x.dims, x.size.p, CV_32F), ds = Mat::zeros(1, channels, CV_32F), db = Mat::zeros(1, channels, CV_32F);
        for (size_t p = 0; p < planes; p++)
        {
            const int c = (int)(p % channels);
            affineNormBackward(x.ptr<float>() + p * len, outputGrads[0].ptr<float>() + p * len, len, eps, scale + c,
                               0, dx.ptr<float>() + p * len, ds.ptr<float>() + c, db.ptr<float>() + c);
        }
        if (need[0])
            inputGrads[0] = dx;
        if (need[1])
            inputGrads[1] = ds.reshape(1, inputs[1].dims, inputs[1].size.p);
        if (need[2])
            inputGrads[2] = db.reshape(1, inputs[2].dims, inputs[2].size.p);
    }

private:
    float eps;
};

/** LayerNormalization (4.9+ and OpenCV 5's classic engine: ONNX LayerNormalization, and the ReduceMean / Sub /
    Pow / Sqrt / Div subgraph the ONNX importer fuses into it): y = w (x - mean) / sqrt(var + eps) + b over the
    axes [axis, end) of each leading position, w and b of those axes' shape, as the layer's weights or as its
    second and third inputs (affineNormBackward per position, w per value). */
class LayerNormRule CV_FINAL : public BackwardRule
{
public:
    explicit LayerNormRule(const LayerInfo& info_) : info(info_), settings(compat::layerNormOf(info_))
    {
        if (!(settings.epsilon >= 0.f))
            CV_Error(Error::StsNotImplemented, format("explain: %s has epsilon %g; a non-negative one is supported",
                                                      describeLayer(info).c_str(), settings.epsilon));
    }

    void backward(const std::vector<Mat>& inputs, const std::vector<Mat>&, const std::vector<Mat>& outputGrads,
                  const std::vector<bool>& need, RectifierMode, std::vector<Mat>& inputGrads) CV_OVERRIDE
    {
        const Mat& x = inputs[0];
        const int axis = normalizeAxis(settings.axis, x.dims);
        if (axis < 0 || axis >= x.dims)
            CV_Error(Error::StsNotImplemented, format("explain: %s normalizes from axis %d of a %d-D input",
                                                      describeLayer(info).c_str(), settings.axis, x.dims));
        const size_t rows = totalOf(x, 0, axis), len = totalOf(x, axis);
        const Mat w = weightOrInput(inputs, 0, 1);
        if (w.empty() || w.total() != len)
            CV_Error(Error::StsNotImplemented, format("explain: %s has %d weights for %d normalized values",
                                                      describeLayer(info).c_str(), (int)w.total(), (int)len));
        Mat dx(x.dims, x.size.p, CV_32F), dw = Mat::zeros(1, (int)len, CV_32F), db = Mat::zeros(1, (int)len, CV_32F);
        const Mat wc = w.isContinuous() ? w : w.clone();
        for (size_t row = 0; row < rows; row++)
            affineNormBackward(x.ptr<float>() + row * len, outputGrads[0].ptr<float>() + row * len, len,
                               settings.epsilon, wc.ptr<float>(), 1, dx.ptr<float>() + row * len, dw.ptr<float>(),
                               db.ptr<float>());
        if (need[0])
            inputGrads[0] = dx;
        if (inputs.size() > 1 && need[1])
            inputGrads[1] = dw.reshape(1, inputs[1].dims, inputs[1].size.p);
        if (inputs.size() > 2 && need[2])
            inputGrads[2] = db.reshape(1, inputs[2].dims, inputs[2].size.p);
    }

private:
    /** The layer's weight blob `blob`, or else its input `input` (an empty Mat when it has neither). */
    Mat weightOrInput(const std::vector<Mat>& inputs, size_t blob, size_t input) const
    {
        if (info.layer->blobs.size() > blob)
            return info.layer->blobs[blob];
        return inputs.size() > input ? inputs[input] : Mat();
    }

    LayerInfo info;
    compat::LayerNormSettings settings;
};

} // namespace

void registerNormalizationRules(RuleMap& rules)
{
    EXPLAIN_REGISTER_RULE(rules, "Softmax", SoftmaxRule);
    EXPLAIN_REGISTER_RULE(rules, "SoftMax", SoftmaxRule);
    EXPLAIN_REGISTER_RULE(rules, "LRN", LRNRule);
    EXPLAIN_REGISTER_RULE(rules, "MVN", MVNRule);
    EXPLAIN_REGISTER_RULE(rules, "Normalize", NormalizeRule);
    EXPLAIN_REGISTER_RULE(rules, "InstanceNormalization", InstanceNormRule);
    EXPLAIN_REGISTER_RULE(rules, "LayerNormalization", LayerNormRule);
    EXPLAIN_REGISTER_RULE(rules, "LayerNormalization2", LayerNormRule);  // OpenCV 5's new engine
}

}} // namespace cv::explain
