// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// InputAttribution: the same attributions as GradCAM's on the same forward pass, SmoothGrad as a
// NoiseTunnel that wraps any attribution, and its errors.
#include "test_common.hpp"
#include "../src/input_attribution.hpp"  // internal: noiseTunnel

namespace opencv_test { namespace {

namespace xd = cv::explain::detail;

/** conv - ReLU - conv - ReLU - GAP - FC(4): rectifiers, so that the guided and deconvnet modes differ. */
dnn::Net reluNet(RNG& rng)
{
    dnn::Net net;
    int c1 = addLayer(net, "conv1", "Convolution", convParams(4, 3, 3, rng, 1, 1, 1), {0});
    int r1 = addLayer(net, "relu1", "ReLU", dnn::LayerParams(), {c1});
    int c2 = addLayer(net, "conv2", "Convolution", convParams(4, 4, 3, rng, 1, 1, 1), {r1});
    int r2 = addLayer(net, "relu2", "ReLU", dnn::LayerParams(), {c2});
    addGapFcHead(net, r2, 4, 4, rng);
    return net;
}

Ptr<xd::InputAttributionImpl> implOf(const Ptr<InputAttribution>& attr)
{
    Ptr<xd::InputAttributionImpl> impl = attr.dynamicCast<xd::InputAttributionImpl>();
    CV_Assert(impl);
    return impl;
}

TEST(InputAttribution, EqualsGradCAMsMethods)
{
    RNG rng(801);
    for (bool smooth : {true, false})
    {
        dnn::Net net = smooth ? smoothNet(rng) : reluNet(rng);
        const std::string which = smooth ? "smooth net" : "ReLU net";
        Mat x = randomBlob({2, 3, 6, 6}, rng), x0 = randomBlob({1, 3, 6, 6}, rng, -0.2f, 0.2f);
        Ptr<GradCAM> cam = GradCAM::create(net, "conv2");
        Ptr<InputAttribution> attr = InputAttribution::create(net);
        Mat camScores, scores;
        cam->forward(x, camScores);
        attr->forward(x, scores);
        EXPECT_EQ(attr->getScoreLayerName(), cam->getScoreLayerName());
        EXPECT_EQ(cv::norm(scores, camScores, NORM_INF), 0.0) << which;
        EXPECT_EQ(cv::norm(attr->getScores(), cam->getScores(), NORM_INF), 0.0) << which;
        Mat a, b;
        for (int mode : {RECTIFIER_EXACT, RECTIFIER_GUIDED, RECTIFIER_DECONVNET})
            for (int cls : {2, -1})
            {
                attr->gradient(cls, a, mode);
                cam->inputGradient(cls, b, mode);
                EXPECT_EQ(cv::norm(a, b, NORM_INF), 0.0) << which << " mode " << mode << " class " << cls;
            }
        Mat outputGrad = randomBlob({2, 4}, rng);
        attr->gradientFromGradient("fc", outputGrad, a, RECTIFIER_GUIDED);
        cam->inputGradientFromGradient("fc", outputGrad, b, RECTIFIER_GUIDED);
        EXPECT_EQ(cv::norm(a, b, NORM_INF), 0.0) << which << " from a gradient";
        attr->inputTimesGradient(1, a);
        cam->inputTimesGradient(1, b);
        EXPECT_EQ(cv::norm(a, b, NORM_INF), 0.0) << which << " input x gradient";
        attr->smoothGrad(3, a, 5, 0.2, RECTIFIER_GUIDED, 77, 2);
        cam->smoothGrad(3, b, 5, 0.2, RECTIFIER_GUIDED, 77, 2);
        EXPECT_EQ(cv::norm(a, b, NORM_INF), 0.0) << which << " SmoothGrad";
        attr->integratedGradients(0, a, 8, x0, 3);
        cam->integratedGradients(0, b, 8, x0, 3);
        EXPECT_EQ(cv::norm(a, b, NORM_INF), 0.0) << which << " Integrated Gradients";
        EXPECT_GT(cv::norm(a, NORM_INF), 0.0) << which << ": an all-zero attribution proves little";
    }
}

TEST(InputAttribution, SmoothGradIsTheNoiseTunnelOverTheGradient)
{
    RNG rng(802);
    dnn::Net net = reluNet(rng);
    Mat x = randomBlob({2, 3, 6, 6}, rng);
    Ptr<InputAttribution> attr = InputAttribution::create(net);
    Mat scores;
    attr->forward(x, scores);
    Mat sg;
    attr->smoothGrad(1, sg, 4, 0.1, RECTIFIER_GUIDED, 5, 3);
    Mat tunnel = xd::noiseTunnel(x, {1, 1}, implOf(attr)->gradientOf(RECTIFIER_GUIDED, 3), 4, 0.1, 5);
    EXPECT_EQ(cv::norm(sg, tunnel, NORM_INF), 0.0);
}

TEST(InputAttribution, NoiseTunnelOverInputTimesGradient)
{
    RNG rng(803);
    dnn::Net net = smoothNet(rng);
    Mat x = randomBlob({1, 3, 6, 6}, rng);
    Ptr<InputAttribution> attr = InputAttribution::create(net);
    attr->forward(x);
    const xd::BatchAttribution ixg = implOf(attr)->inputTimesGradientOf(4);
    {   // without noise: input x gradient of the clean image
        Mat tunnel = xd::noiseTunnel(x, {2}, ixg, 5, 0.0, 1), expected;
        attr->inputTimesGradient(2, expected);
        EXPECT_LE(cv::norm(tunnel, expected, NORM_INF), 1e-6 * std::max(1.0, cv::norm(expected, NORM_INF)));
    }
    {   // one sample: input x gradient at the noisy input, times the noisy input (not the clean one)
        Mat tunnel = xd::noiseTunnel(x, {2}, ixg, 1, 0.2, 77);
        double lo, hi;
        minMaxLoc(x.reshape(1, 1), &lo, &hi);
        Mat noisy = x.clone(), noise(x.dims, x.size.p, CV_32F);
        RNG(77).fill(noise, RNG::NORMAL, 0.0, 0.2 * (hi - lo));
        noisy += noise;
        Ptr<InputAttribution> other = InputAttribution::create(net);
        other->forward(noisy);
        Mat expected;
        other->inputTimesGradient(2, expected);
        EXPECT_LE(cv::norm(tunnel, expected, NORM_INF), 1e-6 * std::max(1.0, cv::norm(expected, NORM_INF)));
        Mat g;
        other->gradient(2, g);
        EXPECT_GT(cv::norm(tunnel, Mat(g.mul(x)), NORM_INF), 0.0) << "the clean input was used";
    }
}

/** Two inputs "a" and "b" (1 x 3 x 4 x 4 each), summed, then conv - GAP - FC(4). */
dnn::Net twoInputNet(RNG& rng)
{
    dnn::Net net;
    net.setInputsNames({"a", "b"});
    int sum = addLayer(net, "sum", "Eltwise", dnn::LayerParams(), {0, 0}, {0, 1});
    int c = addLayer(net, "conv", "Convolution", convParams(4, 3, 3, rng, 1, 1, 1), {sum});
    addGapFcHead(net, c, 4, 4, rng);
    return net;
}

TEST(InputAttribution, Errors)
{
    RNG rng(804);
    expectError([] { InputAttribution::create(dnn::Net()); },
                "explain: the Net is empty; read a model (e.g. cv::dnn::readNet) first");
    dnn::Net net = smoothNet(rng);
    expectError([&] { InputAttribution::create(net, "scores"); }, "explain: the Net has no layer named 'scores'");
    Ptr<InputAttribution> attr = InputAttribution::create(net);
    Mat out;
    expectError([&] { attr->gradient(0, out); }, "explain: call InputAttribution::forward() with an input blob first");
    expectError([&] { attr->smoothGrad(0, out); },
                "explain: call InputAttribution::forward() with an input blob first");
    attr->forward(randomBlob({1, 3, 6, 6}, rng));
    expectError([&] { attr->gradient(4, out); },
                "explain: class index 4 is out of range [0, 4) of the scores of layer 'fc' (-1 picks the top class)");
    expectError([&] { attr->inputTimesGradient(-2, out); },
                "explain: class index -2 is out of range [0, 4) of the scores of layer 'fc' (-1 picks the top class)");
    expectError([&] { attr->smoothGrad(0, out, 0); },
                "explain: SmoothGrad needs samples >= 1 (got 0), noiseLevel >= 0 (got 0.15) and "
                "batchSize >= 1 (got 8)");
    expectError([&] { attr->smoothGrad(0, out, 4, -0.5); },
                "explain: SmoothGrad needs samples >= 1 (got 4), noiseLevel >= 0 (got -0.5) and "
                "batchSize >= 1 (got 8)");
    expectError([&] { attr->smoothGrad(0, out, 4, 0.1, RECTIFIER_EXACT, 1, 0); },
                "explain: SmoothGrad needs samples >= 1 (got 4), noiseLevel >= 0 (got 0.1) and batchSize >= 1 (got 0)");
    expectError([&] { attr->integratedGradients(0, out, 0); },
                "explain: Integrated Gradients needs steps >= 1 (got 0) and batchSize >= 1 (got 8)");
    expectError([&] { attr->integratedGradients(0, out, 4, noArray(), 0); },
                "explain: Integrated Gradients needs steps >= 1 (got 4) and batchSize >= 1 (got 0)");
    expectError([&] { attr->integratedGradients(0, out, 4, Mat::zeros(2, 2, CV_32F)); },
                "explain: the Integrated Gradients baseline must be a float32 blob of the input blob's shape "
                "[1 x 3 x 6 x 6] or of one image [1 x 3 x 6 x 6], got [2 x 2] with 1 channel(s)");

    Ptr<InputAttribution> two = InputAttribution::create(twoInputNet(rng));
    Mat a = randomBlob({1, 3, 4, 4}, rng), b = randomBlob({1, 3, 4, 4}, rng);
    two->forwardInputs(std::vector<Mat>{a, b}, {"a", "b"});
    two->gradient(0, out);
    EXPECT_EQ(dnn::shape(out), dnn::shape(a));
    expectError([&] { two->smoothGrad(0, out); }, "explain: SmoothGrad needs a single-input Net");
    expectError([&] { two->integratedGradients(0, out); }, "explain: Integrated Gradients needs a single-input Net");
}

/** Batched gradients need one row of scores per input: a Net whose scores do not follow the batch (here a
    reshape to one row) is refused with the scores' shape and the remedy, not a bare assertion. */
TEST(InputAttribution, ScoresThatDoNotFollowTheBatch)
{
    RNG rng(805);
    dnn::Net net;
    int conv = addLayer(net, "conv", "Convolution", convParams(2, 3, 3, rng, 1, 1, 1), {0});
    dnn::LayerParams flat;
    const int dims[] = {1, -1};
    flat.set("dim", DictValue::arrayInt(dims, 2));
    addLayer(net, "scores", "Reshape", flat, {conv});
    Ptr<InputAttribution> attr = InputAttribution::create(net);
    attr->forward(randomBlob({1, 3, 4, 4}, rng));
    Mat out;
    attr->integratedGradients(1, out, 4, noArray(), 1);  // one input at a time: fine
    EXPECT_EQ(dnn::shape(out), explain::MatShape({1, 3, 4, 4}));
    expectError([&] { attr->integratedGradients(1, out, 4, noArray(), 2); },
                "explain: the scores of layer 'scores' have shape [1 x 64] for a batch of 2 inputs, not one row per "
                "input with class 1 in it; pass batchSize = 1");
}

}} // namespace
