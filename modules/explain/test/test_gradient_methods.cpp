// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// Input-gradient methods: input x gradient, SmoothGrad, Integrated Gradients (completeness).
#include "test_common.hpp"

namespace opencv_test { namespace {

double score(dnn::Net& net, const Mat& x, int cls, int image = 0)
{
    net.setInput(x);
    Mat out = net.forward("fc");
    return out.at<float>(image, cls);
}

TEST(GradientMethods, InputTimesGradient)
{
    RNG rng(501);
    dnn::Net net = smoothNet(rng);
    Ptr<GradCAM> cam = GradCAM::create(net, "conv2");
    Mat x = randomBlob({2, 3, 6, 6}, rng);
    cam->forward(x);
    Mat ixg, g;
    cam->inputTimesGradient(2, ixg);
    cam->inputGradient(2, g, RECTIFIER_EXACT);
    EXPECT_EQ(cv::norm(ixg, Mat(g.mul(x)), NORM_INF), 0.0);
}

TEST(GradientMethods, SmoothGradWithoutNoiseIsTheGradient)
{
    RNG rng(502);
    dnn::Net net = smoothNet(rng);
    Ptr<GradCAM> cam = GradCAM::create(net, "conv2");
    Mat x = randomBlob({2, 3, 6, 6}, rng);
    cam->forward(x);
    Mat sg, g;
    cam->smoothGrad(1, sg, 5, 0.0);
    cam->inputGradient(1, g, RECTIFIER_EXACT);
    EXPECT_LE(cv::norm(sg, g, NORM_INF), 1e-6 * std::max(1.0, cv::norm(g, NORM_INF)));
}

TEST(GradientMethods, SmoothGradOfOneSampleIsTheGradientAtTheNoisyInput)
{
    RNG rng(503);
    dnn::Net net = smoothNet(rng);
    Ptr<GradCAM> cam = GradCAM::create(net, "conv2");
    Mat x = randomBlob({1, 3, 6, 6}, rng);
    cam->forward(x);
    Mat sg;
    cam->smoothGrad(3, sg, 1, 0.2, RECTIFIER_EXACT, 77);
    double lo, hi;
    minMaxLoc(x.reshape(1, 1), &lo, &hi);
    Mat noisy = x.clone(), noise(x.dims, x.size.p, CV_32F);
    RNG(77).fill(noise, RNG::NORMAL, 0.0, 0.2 * (hi - lo));
    noisy += noise;
    Ptr<GradCAM> other = GradCAM::create(net, "conv2");
    other->forward(noisy);
    Mat g;
    other->inputGradient(3, g, RECTIFIER_EXACT);
    EXPECT_LE(cv::norm(sg, g, NORM_INF), 1e-6 * std::max(1.0, cv::norm(g, NORM_INF)));
    EXPECT_GT(cv::norm(sg, x, NORM_INF), 0.0);
}

TEST(GradientMethods, IntegratedGradientsAreCompleteAndExactOnLinearNets)
{
    RNG rng(504);
    {   // smooth net: sum of attributions = f(x) - f(x0) up to the midpoint rule's O(1/steps^2)
        dnn::Net net = smoothNet(rng);
        Ptr<GradCAM> cam = GradCAM::create(net, "conv2");
        Mat x = randomBlob({2, 3, 6, 6}, rng), x0 = randomBlob({1, 3, 6, 6}, rng, -0.2f, 0.2f);
        cam->forward(x);
        for (int cls = 0; cls < 4; cls++)
        {
            Mat ig;
            cam->integratedGradients(cls, ig, 64, x0, 16);
            for (int b = 0; b < 2; b++)
            {
                std::vector<Range> r(4, Range::all());
                r[0] = Range(b, b + 1);
                const double expected = score(net, x(r).clone(), cls) - score(net, x0, cls);
                const double total = sum(ig(r).clone().reshape(1, 1))[0];
                EXPECT_NEAR(total, expected, 1e-3 * std::max(1.0, std::abs(expected))) << "class " << cls << " image " << b;
            }
        }
    }
    {   // linear net: the gradient is constant, so IG = (x - x0) * gradient for any number of steps
        dnn::Net net = smoothNet(rng, true);
        Ptr<GradCAM> cam = GradCAM::create(net, "conv2");
        Mat x = randomBlob({1, 3, 6, 6}, rng);
        cam->forward(x);
        Mat ig, g;
        cam->integratedGradients(0, ig, 3);
        cam->inputGradient(0, g, RECTIFIER_EXACT);
        EXPECT_LE(cv::norm(ig, Mat(g.mul(x)), NORM_INF), 1e-5 * std::max(1.0, cv::norm(ig, NORM_INF)));
    }
}

TEST(GradientMethods, ErrorsAndSaliency)
{
    RNG rng(505);
    dnn::Net net = smoothNet(rng);
    Ptr<GradCAM> cam = GradCAM::create(net, "conv2");
    cam->forward(randomBlob({1, 3, 6, 6}, rng));
    Mat out;
    try { cam->integratedGradients(0, out, 0); ADD_FAILURE(); }
    catch (const cv::Exception& e)
    {
        EXPECT_EQ(e.err, "explain: Integrated Gradients needs steps >= 1 (got 0) and batchSize >= 1 (got 8)");
    }
    try { cam->integratedGradients(0, out, 4, Mat::zeros(2, 2, CV_32F)); ADD_FAILURE(); }
    catch (const cv::Exception& e)
    {
        EXPECT_EQ(e.err, "explain: the Integrated Gradients baseline must be a float32 blob of the input blob's shape "
                         "[1 x 3 x 6 x 6] or of one image [1 x 3 x 6 x 6], got [2 x 2] with 1 channel(s)");
    }
    try { cam->smoothGrad(0, out, 0); ADD_FAILURE(); }
    catch (const cv::Exception& e)
    {
        EXPECT_EQ(e.err, "explain: SmoothGrad needs samples >= 1 (got 0), noiseLevel >= 0 (got 0.15) and "
                         "batchSize >= 1 (got 8)");
    }
    Mat g, sal;
    cam->inputGradient(0, g, RECTIFIER_EXACT);
    gradientToSaliency(g, sal);
    ASSERT_EQ(sal.size(), Size(6, 6));
    for (int y = 0; y < 6; y++)
        for (int x = 0; x < 6; x++)
        {
            float m = 0;
            for (int c = 0; c < 3; c++)
                m = std::max(m, std::abs(g.at<float>(std::vector<int>{0, c, y, x}.data())));
            EXPECT_EQ(sal.at<float>(y, x), m);
        }
}

}} // namespace

namespace opencv_test { namespace {

/** conv -> SiLU -> GAP -> FC(3), with SiLU as one Swish layer or as conv * Sigmoid(conv). */
dnn::Net siluNet(bool oneLayer)
{
    RNG rng(77);
    dnn::Net net;
    int c = addLayer(net, "conv", "Convolution", convParams(4, 2, 3, rng, 1, 1, 1), {0});
    int act;
    if (oneLayer)
        act = addLayer(net, "silu", "Swish", dnn::LayerParams(), {c});
    else
    {
        int s = addLayer(net, "sig", "Sigmoid", dnn::LayerParams(), {c});
        dnn::LayerParams prod;
        prod.set("operation", "prod");
        act = addLayer(net, "silu", "Eltwise", prod, {c, s});
    }
    addGapFcHead(net, act, 4, 3, rng);
    return net;
}

// The same model imported with SiLU as one layer or decomposed gets the same map in every mode.
TEST(GradientMethods, SwishIsTheSameOneLayerOrDecomposed)
{
    RNG rng(78);
    Mat x = randomBlob({1, 2, 6, 6}, rng, -3.f, 3.f), seed = randomBlob({1, 3}, rng);
    for (RectifierMode mode : {RECTIFIER_EXACT, RECTIFIER_GUIDED, RECTIFIER_DECONVNET})
    {
        std::vector<Mat> grads[2];
        for (int oneLayer = 0; oneLayer <= 1; oneLayer++)
        {
            dnn::Net net = siluNet(oneLayer == 1);
            Ptr<Backprop> bp = Backprop::create(net);
            bp->forward(x);
            bp->backward({"fc"}, {seed}, {""}, grads[oneLayer], mode);
        }
        EXPECT_LE(relDiff(grads[1][0], grads[0][0]), 1e-5) << "mode " << (int)mode;
    }
}

}} // namespace
