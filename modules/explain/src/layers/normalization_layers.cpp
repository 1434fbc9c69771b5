// Backward rules of normalizing layers: Softmax / LogSoftmax (any axis) and LRN across channels.
#include "layer_utils.hpp"
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

    void backward(const std::vector<Mat>& inputs, const std::vector<Mat>& outputs, const std::vector<Mat>& outputGrads,
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
                    dp[k] = logSoftmax ? (float)(rp[k] - std::exp(yp[k]) * dot) : (float)(yp[k] * (rp[k] - dot));
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
        if (axis < 0 || axis >= y.dims || y.total() != inputs[0].total())
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

} // namespace

void registerNormalizationRules(RuleMap& rules)
{
    EXPLAIN_REGISTER_RULE(rules, "Softmax", SoftmaxRule);
    EXPLAIN_REGISTER_RULE(rules, "SoftMax", SoftmaxRule);
    EXPLAIN_REGISTER_RULE(rules, "LRN", LRNRule);
}

}} // namespace cv::explain
