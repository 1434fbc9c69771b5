// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// The CAM family: each method's definition on a hand-checked 2-channel, 1 x 2 pixel case, and the
// methods through GradCAM on a small net.
#include "test_common.hpp"

namespace opencv_test { namespace {

// A: channel 0 = [2, -1], channel 1 = [1, 3];  g: channel 0 = [1, 3], channel 1 = [-1, 2].
Mat blob4(const std::vector<float>& v)
{
    return Mat(std::vector<int>{1, 2, 1, 2}, CV_32F, (void*)v.data()).clone();
}

void expectMap(int method, const Mat& g, float p0, float p1)
{
    const Mat a = blob4({2, -1, 1, 3});
    std::vector<Mat> maps;
    computeCAM(method, a, g, maps);
    ASSERT_EQ(maps.size(), 1u);
    ASSERT_EQ(maps[0].size(), Size(2, 1));
    EXPECT_NEAR(maps[0].at<float>(0, 0), p0, 1e-5) << "method " << method;
    EXPECT_NEAR(maps[0].at<float>(0, 1), p1, 1e-5) << "method " << method;
}

/** pytorch-grad-cam's scale_cam_image: (x - min) / (1e-7 + max(x - min)), then cv::resize. */
Mat scaleCamLikePytorch(const Mat& cam, Size size)
{
    double lo, hi;
    minMaxLoc(cam, &lo, &hi);
    Mat m = (cam - lo) / (1e-7 + (hi - lo));
    if (!size.empty())
        resize(m, m, size);
    return m;
}

TEST(CAMMethods, HandCheckedDefinitions)
{
    const Mat g = blob4({1, 3, -1, 2});
    // Grad-CAM: w = (2, 0.5): [4 + 0.5, -2 + 1.5] -> ReLU
    expectMap(CAM_GRADCAM, g, 4.5f, 0.f);
    // counterfactual (-g): [-4.5, 0.5] -> ReLU
    expectMap(CAM_GRADCAM, Mat(-g), 0.f, 0.5f);
    // HiResCAM: g*A = [2, -3] + [-1, 6]
    expectMap(CAM_HIRESCAM, g, 1.f, 3.f);
    // element-wise: ReLU(g*A) summed: [2, 0] + [0, 6]
    expectMap(CAM_GRADCAM_ELEMENTWISE, g, 2.f, 6.f);
    // LayerCAM: ReLU(g)*A = [2, -3] + [0, 6]
    expectMap(CAM_LAYERCAM, g, 2.f, 3.f);
    // XGrad-CAM: w0 = (2 - 3) / 1 = -1, w1 = (-1 + 6) / 4 = 1.25: [-2 + 1.25, 1 + 3.75]
    expectMap(CAM_XGRADCAM, g, 0.f, 4.75f);
    // Grad-CAM++: a0 = [1/3, 9/45], w0 = 1/3 + 0.6; a1 = [1/(2-4), 4/40], w1 = 0.1 * 2
    const float w0 = 1.f / 3 + 0.6f, w1 = 0.2f;
    expectMap(CAM_GRADCAM_PLUS_PLUS, g, 2 * w0 + w1, 0.f);
    // Eigen-CAM: pixels (2, 1) and (-1, 3), centred (1.5, -1) and (-1.5, 1): projections +-|(1.5, -1)|;
    // the channel sums (3, 2) fix the sign so that pixel 0 is positive.
    expectMap(CAM_EIGENCAM, Mat(), std::sqrt(3.25f), 0.f);
    // EigenGrad-CAM on g*A: pixels (2, -1) and (-3, 6), centred (2.5, -3.5) and (-2.5, 3.5)
    expectMap(CAM_EIGENGRADCAM, g, std::sqrt(2.5f * 2.5f + 3.5f * 3.5f), 0.f);
}

TEST(CAMMethods, EigenSmoothHandChecked)
{
    // Grad-CAM terms w_k A_k with w = (2, 0.5): channel 0 = [4, -2], channel 1 = [0.5, 1.5]; pixels (4, 0.5)
    // and (-2, 1.5), centred (3, -0.5) and (-3, 0.5): projections +-sqrt(9.25); the plain sum [4.5, -0.5]
    // makes pixel 0 positive.
    const Mat a = blob4({2, -1, 1, 3}), g = blob4({1, 3, -1, 2});
    std::vector<Mat> maps;
    computeCAM(CAM_GRADCAM, a, g, maps, true);
    EXPECT_NEAR(maps[0].at<float>(0, 0), std::sqrt(9.25f), 1e-5);
    EXPECT_NEAR(maps[0].at<float>(0, 1), 0.f, 1e-6);
    // HiResCAM terms g*A: [2, -3] and [-1, 6]; pixels (2, -1), (-3, 6) centred (2.5, -3.5), (-2.5, 3.5);
    // the plain sum [1, 3] makes pixel 1 positive
    computeCAM(CAM_HIRESCAM, a, g, maps, true);
    EXPECT_NEAR(maps[0].at<float>(0, 0), 0.f, 1e-6);
    EXPECT_NEAR(maps[0].at<float>(0, 1), std::sqrt(2.5f * 2.5f + 3.5f * 3.5f), 1e-5);
}

TEST(CAMMethods, MultiLayerMapIsTheMeanOfNormalizedLayerMaps)
{
    RNG rng(403);
    dnn::Net net;
    int c1 = addLayer(net, "conv1", "Convolution", convParams(4, 3, 3, rng, 1, 1, 1), {0});
    int r1 = addLayer(net, "relu1", "ReLU", dnn::LayerParams(), {c1});
    int c2 = addLayer(net, "conv2", "Convolution", convParams(4, 4, 3, rng, 1, 2, 1), {r1});
    int r2 = addLayer(net, "relu2", "ReLU", dnn::LayerParams(), {c2});
    addGapFcHead(net, r2, 4, 3, rng, false);
    Mat x = randomBlob({2, 3, 8, 8}, rng);
    Ptr<GradCAM> cam = GradCAM::create(net, "relu2");
    cam->setMethod(CAM_LAYERCAM);
    cam->forward(x);
    std::vector<Mat> combined;
    cam->computeLayers({"relu1", "relu2"}, 1, Size(8, 8), combined);
    ASSERT_EQ(combined.size(), 2u);
    std::vector<Mat> m1, m2;
    for (const char* layer : {"relu1", "relu2"})
    {
        Ptr<GradCAM> one = GradCAM::create(net, layer);
        one->setMethod(CAM_LAYERCAM);
        one->forward(x);
        one->compute(1, std::string(layer) == "relu1" ? m1 : m2);
    }
    for (int n = 0; n < 2; n++)
    {
        Mat expected = scaleCamLikePytorch(Mat(0.5 * (scaleCamLikePytorch(m1[n], Size(8, 8)) +
                                                      scaleCamLikePytorch(m2[n], Size(8, 8)))), Size());
        EXPECT_LE(cv::norm(combined[n], expected, NORM_INF), 1e-5) << "image " << n;
    }
}

TEST(CAMMethods, AugSmoothIsTheMeanOverFlipsAndScales)
{
    RNG rng(406);
    dnn::Net net;
    int c1 = addLayer(net, "conv1", "Convolution", convParams(4, 3, 3, rng, 1, 1, 1), {0});
    int r1 = addLayer(net, "relu1", "ReLU", dnn::LayerParams(), {c1});
    addGapFcHead(net, r1, 4, 3, rng);
    Mat x = randomBlob({2, 3, 6, 7}, rng);
    Ptr<GradCAM> cam = GradCAM::create(net, "relu1");
    cam->forward(x);
    std::vector<Mat> smooth;
    cam->computeAugSmooth(1, smooth);
    ASSERT_EQ(smooth.size(), 2u);
    for (int n = 0; n < 2; n++)
    {
        Mat expected = Mat::zeros(6, 7, CV_32F);
        for (int flipped = 0; flipped < 2; flipped++)
            for (double factor : {0.9, 1.0, 1.1})
            {
                Mat xi(std::vector<int>{1, 3, 6, 7}, CV_32F);
                for (int c = 0; c < 3; c++)
                {
                    Mat src(6, 7, CV_32F, x.ptr<float>(n, c)), dst(6, 7, CV_32F, xi.ptr<float>(0, c));
                    if (flipped)
                        flip(src, dst, 1);
                    else
                        src.copyTo(dst);
                    dst *= factor;
                }
                Ptr<GradCAM> one = GradCAM::create(net, "relu1");
                one->forward(xi);
                std::vector<Mat> m;
                one->compute(1, m);
                Mat s = scaleCamLikePytorch(scaleCamLikePytorch(m[0], Size(7, 6)), Size());
                if (flipped)
                    flip(s, s, 1);
                expected += s / 6.0;
            }
        EXPECT_LE(cv::norm(smooth[n], expected, NORM_INF), 1e-5) << "image " << n;
    }
}

TEST(CAMMethods, GradCAMUsesTheChosenMethod)
{
    RNG rng(401);
    dnn::Net net;
    int c1 = addLayer(net, "conv1", "Convolution", convParams(4, 3, 3, rng, 1, 1, 1), {0});
    int r1 = addLayer(net, "relu1", "ReLU", dnn::LayerParams(), {c1});
    addGapFcHead(net, r1, 4, 3, rng, false);
    Ptr<GradCAM> cam = GradCAM::create(net, "relu1");
    Mat x = randomBlob({2, 3, 6, 6}, rng);
    cam->forward(x);
    Mat seed = Mat::zeros(2, 3, CV_32F);
    seed.col(1).setTo(1.f);
    std::vector<Mat> grads;
    cam->getBackprop()->backward({"fc"}, {seed}, {"relu1"}, grads);
    Mat a = cam->getBackprop()->getActivation("relu1");
    for (int m = CAM_GRADCAM; m <= CAM_EIGENGRADCAM; m++)
    {
        cam->setMethod(m);
        EXPECT_EQ(cam->getMethod(), m);
        std::vector<Mat> maps, expected;
        cam->compute(1, maps);
        computeCAM(m, a, grads[0], expected);
        ASSERT_EQ(maps.size(), 2u);
        for (int n = 0; n < 2; n++)
            EXPECT_EQ(cv::norm(maps[n], expected[n], NORM_INF), 0.0) << "method " << m << " image " << n;
    }
}

TEST(CAMMethods, ScoreCAMWeightsAreSoftmaxOfMaskedScores)
{
    RNG rng(402);
    dnn::Net net;
    int c1 = addLayer(net, "conv1", "Convolution", convParams(3, 1, 3, rng, 1, 2, 1), {0});
    int r1 = addLayer(net, "relu1", "ReLU", dnn::LayerParams(), {c1});
    dnn::LayerParams fc;
    fc.set("num_output", 2); fc.set("bias_term", true);
    fc.blobs = {randomBlob({2, 3 * 3 * 3}, rng), randomBlob({1, 2}, rng)};
    addLayer(net, "fc", "InnerProduct", fc, {r1});
    Mat x = randomBlob({1, 1, 5, 5}, rng, 0.f, 1.f);
    Ptr<GradCAM> cam = GradCAM::create(net, "relu1");
    cam->setMethod(CAM_SCORECAM);
    cam->forward(x);
    std::vector<Mat> maps, counter;
    cam->compute(0, maps, counter);
    // By hand: 3x3 activations upsampled to 5x5 with aligned corners are sampled at 0, .5, 1, 1.5, 2.
    Mat a = cam->getBackprop()->getActivation("relu1");
    Mat scores(1, 3, CV_32F);
    for (int k = 0; k < 3; k++)
    {
        Mat ak(3, 3, CV_32F, a.ptr<float>(0, k)), up(5, 5, CV_32F);
        for (int y = 0; y < 5; y++)
            for (int xx = 0; xx < 5; xx++)
            {
                const float sy = y * 0.5f, sx = xx * 0.5f;
                const int y0 = std::min((int)sy, 1), x0 = std::min((int)sx, 1);
                const float fy = sy - y0, fx = sx - x0;
                up.at<float>(y, xx) = (1 - fy) * ((1 - fx) * ak.at<float>(y0, x0) + fx * ak.at<float>(y0, x0 + 1)) +
                                      fy * ((1 - fx) * ak.at<float>(y0 + 1, x0) + fx * ak.at<float>(y0 + 1, x0 + 1));
            }
        double lo, hi;
        minMaxLoc(up, &lo, &hi);
        up = (up - lo) / (hi - lo + 1e-8);
        Mat masked = x.reshape(1, 5).mul(up);
        net.setInput(masked.reshape(1, std::vector<int>{1, 1, 5, 5}));
        scores.at<float>(k) = net.forward("fc").at<float>(0, 0);
    }
    for (int sign = 1; sign >= -1; sign -= 2)
    {
        Mat e;
        exp(sign * scores, e);
        e /= sum(e)[0];
        Mat expected = Mat::zeros(3, 3, CV_32F);
        for (int k = 0; k < 3; k++)
            expected += e.at<float>(k) * Mat(3, 3, CV_32F, a.ptr<float>(0, k));
        expected = max(expected, 0.f);
        EXPECT_LE(cv::norm(sign > 0 ? maps[0] : counter[0], expected, NORM_INF), 1e-5);
    }
}

TEST(CAMMethods, AblationCAMOnALinearHeadHasClosedForm)
{
    // target -> GAP -> FC: zeroing channel k removes W[c,k] * mean(A_k) from y, so w_k = W[c,k] mean(A_k) / y
    RNG rng(404);
    dnn::Net net;
    int c1 = addLayer(net, "conv1", "Convolution", convParams(5, 3, 3, rng, 1, 1, 1), {0});
    int r1 = addLayer(net, "relu1", "ReLU", dnn::LayerParams(), {c1});
    addGapFcHead(net, r1, 5, 3, rng);
    Mat x = randomBlob({2, 3, 6, 6}, rng);
    Ptr<GradCAM> cam = GradCAM::create(net, "relu1");
    cam->setMethod(CAM_ABLATIONCAM);
    Mat scores;
    cam->forward(x, scores);
    std::vector<Mat> maps;
    cam->compute(2, maps);
    Mat a = cam->getBackprop()->getActivation("relu1"), w = net.getParam("fc", 0);
    for (int n = 0; n < 2; n++)
    {
        const double y = scores.at<float>(n, 2);
        Mat expected = Mat::zeros(6, 6, CV_32F);
        for (int k = 0; k < 5; k++)
        {
            Mat ak(6, 6, CV_32F, a.ptr<float>(n, k));
            expected += (w.at<float>(2, k) * mean(ak)[0] / y) * ak;
        }
        expected = max(expected, 0.f);
        EXPECT_LE(cv::norm(maps[n], expected, NORM_INF), 1e-4 * std::max(1.0, cv::norm(expected, NORM_INF))) << "image " << n;
    }
    std::vector<Mat> counter;
    expectError([&] { cam->compute(2, maps, counter); },
                "explain: Ablation-CAM's weights do not change when the target is negated, so it has no counterfactual map");
}

/** conv1-relu1-conv2-target-conv3-(+relu1)-relu3-GAP-FC(2); optionally with conv2's weights replaced. */
dnn::Net makeSkipNet(RNG& rng, const Mat& conv2Weights = Mat(), const Mat& conv2Bias = Mat())
{
    dnn::Net net;
    int c1 = addLayer(net, "conv1", "Convolution", convParams(4, 3, 3, rng, 1, 1, 1), {0});
    int r1 = addLayer(net, "relu1", "ReLU", dnn::LayerParams(), {c1});
    dnn::LayerParams p2 = convParams(4, 4, 3, rng, 1, 1, 1);
    if (!conv2Weights.empty())
        p2.blobs = {conv2Weights, conv2Bias};
    int c2 = addLayer(net, "conv2", "Convolution", p2, {r1});
    int r2 = addLayer(net, "target", "ReLU", dnn::LayerParams(), {c2});
    int c3 = addLayer(net, "conv3", "Convolution", convParams(4, 4, 3, rng, 1, 1, 1), {r2});
    int add = addLayer(net, "add", "Eltwise", dnn::LayerParams(), {c3, r1});
    int r3 = addLayer(net, "relu3", "ReLU", dnn::LayerParams(), {add});
    dnn::LayerParams gp;
    gp.set("pool", "ave"); gp.set("global_pooling", true);
    int gap = addLayer(net, "gap", "Pooling", gp, {r3});
    dnn::LayerParams fc;
    fc.set("num_output", 2); fc.set("bias_term", true);
    fc.blobs = {randomBlob({2, 4}, rng), randomBlob({1, 2}, rng, 1.f, 2.f)};
    addLayer(net, "fc", "InnerProduct", fc, {gap});
    return net;
}

TEST(CAMMethods, AblationCAMWithASkipConnection)
{
    // target inside a residual block: the layers after it read an earlier activation too (an external
    // input of the rebuilt part); compare with removing the channel's filter from the whole Net.
    RNG rng(405);
    dnn::Net net = makeSkipNet(rng);
    Mat x = randomBlob({1, 3, 5, 5}, rng);
    Ptr<GradCAM> cam = GradCAM::create(net, "target");
    cam->setMethod(CAM_ABLATIONCAM);
    Mat scores;
    cam->forward(x, scores);
    std::vector<Mat> maps;
    cam->compute(0, maps);
    Mat a = cam->getBackprop()->getActivation("target").clone();
    const double y = scores.at<float>(0, 0);
    Mat expected = Mat::zeros(5, 5, CV_32F);
    for (int k = 0; k < 4; k++)
    {
        // filter k of conv2 zeroed (weights and bias): the target's channel k is 0 after the ReLU
        Mat wk = net.getParam("conv2", 0).clone(), bk = net.getParam("conv2", 1).clone();
        Mat(1, 4 * 9, CV_32F, wk.ptr<float>(k)).setTo(0.f);
        bk.at<float>(k) = 0.f;
        RNG same(405);
        dnn::Net ablated = makeSkipNet(same, wk, bk);
        ablated.setInput(x);
        const double yk = ablated.forward("fc").at<float>(0, 0);
        expected += (float)((y - yk) / y) * Mat(5, 5, CV_32F, a.ptr<float>(0, k));
    }
    expected = max(expected, 0.f);
    EXPECT_LE(cv::norm(maps[0], expected, NORM_INF), 1e-4 * std::max(1.0, cv::norm(expected, NORM_INF)));
}

TEST(CAMMethods, Errors)
{
    std::vector<Mat> maps;
    try { computeCAM(CAM_SCORECAM, blob4({1, 2, 3, 4}), blob4({1, 2, 3, 4}), maps); ADD_FAILURE(); }
    catch (const cv::Exception& e)
    {
        EXPECT_EQ(e.err, "explain: CAM method 8 cannot be computed from activations and gradients alone");
    }
    try { computeCAM(CAM_GRADCAM, blob4({1, 2, 3, 4}), Mat(), maps); ADD_FAILURE(); }
    catch (const cv::Exception& e)
    {
        EXPECT_EQ(e.err, "explain: computeCAM expects float32 gradients of the activations' shape");
    }
}

}} // namespace
