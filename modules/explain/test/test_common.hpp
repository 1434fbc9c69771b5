// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// Shared helpers of the explain tests: small nets built in C++ and a numerical gradient checker.
#ifndef EXPLAIN_TEST_COMMON_HPP
#define EXPLAIN_TEST_COMMON_HPP

#include "test_precomp.hpp"
#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>
#include <opencv2/dnn/shape_utils.hpp>
#include <opencv2/explain.hpp>

namespace opencv_test {
using namespace cv;
using namespace cv::explain;
using cv::dnn::DictValue;

/** Relative L2 difference |a - b| / |b| (UMats are read back to the host). */
inline double relDiff(InputArray a, InputArray b)
{
    const Mat x = a.getMat(), y = b.getMat();
    return cv::norm(x, y, NORM_L2) / std::max(cv::norm(y, NORM_L2), 1e-12);
}

/** A blob's shape as a vector (dnn::shape() is a class of its own on OpenCV 5). */
inline std::vector<int> shapeOf(const Mat& m)
{
    return std::vector<int>(m.size.p, m.size.p + m.dims);
}

inline Mat randomBlob(const std::vector<int>& shape, RNG& rng, float lo = -1.f, float hi = 1.f)
{
    Mat m(shape, CV_32F);
    rng.fill(m, RNG::UNIFORM, lo, hi);
    return m;
}

/** Adds a layer fed by `inputs` (layer ids; 0 is the net input) and returns its id. */
inline int addLayer(dnn::Net& net, const String& name, const String& type, dnn::LayerParams lp,
                    const std::vector<int>& inputs, const std::vector<int>& outputIndexes = {})
{
    lp.name = name;
    lp.type = type;
    int id = net.addLayer(name, type, lp);
    for (size_t i = 0; i < inputs.size(); i++)
        net.connect(inputs[i], outputIndexes.empty() ? 0 : outputIndexes[i], id, (int)i);
    return id;
}

inline dnn::LayerParams convParams(int outC, int inCPerGroup, int k, RNG& rng, int group = 1, int stride = 1,
                                   int pad = 0, int dilation = 1)
{
    dnn::LayerParams lp;
    lp.set("kernel_size", k);
    lp.set("num_output", outC);
    lp.set("stride", stride);
    lp.set("pad", pad);
    lp.set("dilation", dilation);
    lp.set("group", group);
    lp.set("bias_term", true);
    lp.blobs.push_back(randomBlob({outC, inCPerGroup, k, k}, rng, -0.5f, 0.5f));
    lp.blobs.push_back(randomBlob({1, outC}, rng, -0.1f, 0.1f));
    return lp;
}

/** Expects fn() to throw a cv::Exception with exactly this message. */
template <typename Fn>
void expectError(Fn fn, const std::string& message)
{
    try
    {
        fn();
        ADD_FAILURE() << "no exception, expected: " << message;
    }
    catch (const cv::Exception& e)
    {
        EXPECT_EQ(e.err, message);
    }
}

/** conv -> relu -> fc(4) on a 1 x 2 x 6 x 6 input: "conv", "relu", "fc". */
inline dnn::Net convReluFcNet(RNG& rng)
{
    dnn::Net net;
    int c = addLayer(net, "conv", "Convolution", convParams(3, 2, 3, rng, 1, 1, 1), {0});
    int r = addLayer(net, "relu", "ReLU", dnn::LayerParams(), {c});
    dnn::LayerParams fc;
    fc.set("num_output", 4);
    fc.set("bias_term", false);
    fc.blobs = {randomBlob({4, 3 * 6 * 6}, rng)};
    addLayer(net, "fc", "InnerProduct", fc, {r});
    return net;
}

/** A custom layer of the user's (no backward rule of ours): y = factor * x. */
class ScaledCopyLayer : public dnn::Layer
{
public:
    explicit ScaledCopyLayer(const dnn::LayerParams& p) : Layer(p), factor(p.get<float>("factor", 1.f)) {}
    static Ptr<dnn::Layer> create(dnn::LayerParams& p) { return makePtr<ScaledCopyLayer>(p); }
    bool getMemoryShapes(const std::vector<explain::MatShape>& in, const int, std::vector<explain::MatShape>& out,
                         std::vector<explain::MatShape>&) const CV_OVERRIDE
    {
        out = in;
        return false;
    }
    void forward(InputArrayOfArrays in, OutputArrayOfArrays out, OutputArrayOfArrays) CV_OVERRIDE
    {
        std::vector<Mat> i, o;
        in.getMatVector(i);
        out.getMatVector(o);
        i[0].convertTo(o[0], CV_32F, factor);
    }

private:
    float factor;
};

/** A global-average-pooling -> fully-connected head ("gap", "fc") on layer `input`; returns the fc id. */
inline int addGapFcHead(dnn::Net& net, int input, int channels, int classes, RNG& rng, bool bias = true)
{
    dnn::LayerParams gp;
    gp.set("pool", "ave");
    gp.set("global_pooling", true);
    int gap = addLayer(net, "gap", "Pooling", gp, {input});
    dnn::LayerParams fc;
    fc.set("num_output", classes);
    fc.set("bias_term", bias);
    fc.blobs = {randomBlob({classes, channels}, rng)};
    if (bias)
        fc.blobs.push_back(randomBlob({1, classes}, rng));
    return addLayer(net, "fc", "InnerProduct", fc, {gap});
}

/** conv - tanh - conv - sigmoid - GAP - FC(4): smooth, so path integrals converge fast. */
inline dnn::Net smoothNet(RNG& rng, bool linear = false)
{
    dnn::Net net;
    int c1 = addLayer(net, "conv1", "Convolution", convParams(4, 3, 3, rng, 1, 1, 1), {0});
    int a1 = linear ? c1 : addLayer(net, "tanh", "TanH", dnn::LayerParams(), {c1});
    int c2 = addLayer(net, "conv2", "Convolution", convParams(4, 4, 3, rng, 1, 1, 1), {a1});
    int a2 = linear ? c2 : addLayer(net, "sig", "Sigmoid", dnn::LayerParams(), {c2});
    dnn::LayerParams gp;
    gp.set("pool", "ave"); gp.set("global_pooling", true);
    int gap = addLayer(net, "gap", "Pooling", gp, {a2});
    dnn::LayerParams fc;
    fc.set("num_output", 4); fc.set("bias_term", true);
    fc.blobs = {randomBlob({4, 4}, rng, -2.f, 2.f), randomBlob({1, 4}, rng)};
    addLayer(net, "fc", "InnerProduct", fc, {gap});
    return net;
}

struct GradientCheckResult
{
    int checked = 0;
    int kinks = 0;
    double maxError = 0;  // max |analytic - numeric| / max(|analytic|, |numeric|, 1)
};

/** Central-difference check of d(sum(r * output))/d(input), r random, like Caffe's GradientChecker:
    a step h, error scaled by max(|a|, |n|, 1), and points where the one-sided differences disagree
    (a kink within the step: ReLU at zero, max-pool ties) are skipped and counted. */
inline GradientCheckResult checkInputGradient(dnn::Net& net, const Mat& input, const String& outputLayer,
                                              uint64 seed = 0x1234, double h = 1e-2, int maxPoints = 120,
                                              const Mat& givenSeed = Mat(), const std::vector<Mat>& otherInputs = {},
                                              const std::vector<String>& inputNames = {})
{
#if CV_VERSION_MAJOR > 4 || CV_VERSION_MINOR >= 7
    net.enableWinograd(false);  // its float noise is of the order of the finite differences at small steps
#endif
    Ptr<Backprop> bp = Backprop::create(net);
    std::vector<Mat> inputs{input};
    inputs.insert(inputs.end(), otherInputs.begin(), otherInputs.end());
    if (inputNames.empty())
        bp->forward(input);
    else
        bp->forwardInputs(inputs, inputNames);
    Mat out = bp->getActivation(outputLayer);
    RNG rng(seed);
    Mat r(out.dims, out.size.p, CV_32F);
    if (givenSeed.empty())
        rng.fill(r, RNG::UNIFORM, -1.f, 1.f);
    else
        givenSeed.reshape(1, out.dims, out.size.p).copyTo(r);
    std::vector<Mat> grads;
    bp->backward({outputLayer}, {r}, {String()}, grads, RECTIFIER_EXACT);
    Mat g = grads[0];

    auto loss = [&](const Mat& x) {
        if (inputNames.empty())
            net.setInput(x);
        else
        {
            net.setInput(x, inputNames[0]);
            for (size_t i = 0; i < otherInputs.size(); i++)
                net.setInput(otherInputs[i], inputNames[i + 1]);
        }
        Mat y = net.forward(outputLayer);
        return r.reshape(1, 1).dot(y.reshape(1, 1));  // accumulated in double
    };
    GradientCheckResult res;
    const double l0 = loss(input);
    Mat x = input.clone();
    float* xp = x.ptr<float>();
    const int total = (int)x.total();
    for (int k = 0; k < std::min(total, maxPoints); k++)
    {
        const int i = total <= maxPoints ? k : rng.uniform(0, total);
        const float orig = xp[i];
        xp[i] = orig + (float)h;
        const double lp = loss(x);
        xp[i] = orig - (float)h;
        const double lm = loss(x);
        xp[i] = orig;
        const double numeric = (lp - lm) / (2 * h);
        const double right = (lp - l0) / h, left = (l0 - lm) / h;
        const double scale = std::max({std::abs(right), std::abs(left), 1.0});
        if (std::abs(right - left) > 0.05 * scale)
        {
            res.kinks++;
            continue;
        }
        const double analytic = g.ptr<float>()[i];
        const double err = std::abs(analytic - numeric) / std::max({std::abs(analytic), std::abs(numeric), 1.0});
        res.maxError = std::max(res.maxError, err);
        res.checked++;
    }
    return res;
}

} // namespace opencv_test

#endif
