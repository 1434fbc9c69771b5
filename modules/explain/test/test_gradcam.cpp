// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// The maps' definitions: Grad-CAM = CAM / Z on a GAP->FC head, counterfactual = Grad-CAM of -y,
// rectifier modes, batches, many classes from one forward pass, fusion independence.
#include "test_common.hpp"
#include <opencv2/imgproc.hpp>

namespace opencv_test { namespace {

/** conv-relu-conv-bn-relu (target "relu2") -> GAP -> FC with 5 classes. */
dnn::Net makeCamNet(RNG& rng, bool withSoftmax = false)
{
    dnn::Net net;
    int c1 = addLayer(net, "conv1", "Convolution", convParams(6, 3, 3, rng, 1, 1, 1), {0});
    int r1 = addLayer(net, "relu1", "ReLU", dnn::LayerParams(), {c1});
    int c2 = addLayer(net, "conv2", "Convolution", convParams(4, 6, 3, rng, 1, 2, 1), {r1});
    dnn::LayerParams bn;
    bn.set("has_weight", true); bn.set("has_bias", true); bn.set("eps", 1e-5f);
    bn.blobs = {randomBlob({4}, rng), randomBlob({4}, rng, 0.5f, 2.f), randomBlob({4}, rng), randomBlob({4}, rng)};
    int b2 = addLayer(net, "bn2", "BatchNorm", bn, {c2});
    int r2 = addLayer(net, "relu2", "ReLU", dnn::LayerParams(), {b2});
    dnn::LayerParams gp;
    gp.set("pool", "ave"); gp.set("global_pooling", true);
    int gap = addLayer(net, "gap", "Pooling", gp, {r2});
    dnn::LayerParams fl;
    int flat = addLayer(net, "flatten", "Flatten", fl, {gap});
    dnn::LayerParams fc;
    fc.set("num_output", 5); fc.set("bias_term", true);
    fc.blobs = {randomBlob({5, 4}, rng), randomBlob({1, 5}, rng)};
    int out = addLayer(net, "fc", "InnerProduct", fc, {flat});
    if (withSoftmax)
        addLayer(net, "prob", "Softmax", dnn::LayerParams(), {out});
    return net;
}

TEST(GradCAM, EqualsCAMOverZOnGapFcHead)
{
    RNG rng(201);
    dnn::Net net = makeCamNet(rng);
    Ptr<GradCAM> cam = GradCAM::create(net);
    Mat x = randomBlob({1, 3, 12, 12}, rng);
    cam->forward(x);
    EXPECT_EQ(cam->getLayerName(), "relu2");
    EXPECT_EQ(cam->getScoreLayerName(), "fc");
    Mat a = cam->getBackprop()->getActivation("relu2");  // 1 x 4 x 6 x 6
    Mat w = net.getParam("fc", 0);
    const int h = a.size[2], wd = a.size[3];
    for (int c = 0; c < 5; c++)
    {
        std::vector<Mat> maps;
        cam->compute(c, maps);
        ASSERT_EQ(maps.size(), 1u);
        Mat camMap = Mat::zeros(h, wd, CV_32F);
        for (int k = 0; k < 4; k++)
            camMap += w.at<float>(c, k) * Mat(h, wd, CV_32F, a.ptr<float>(0, k));
        Mat expected = max(camMap, 0.f) / (h * wd);
        EXPECT_LE(relDiff(maps[0], expected), 1e-5) << "class " << c;
    }
}

TEST(GradCAM, CounterfactualIsGradCAMOfNegatedScore)
{
    RNG rng(202);
    dnn::Net net = makeCamNet(rng);
    Ptr<GradCAM> cam = GradCAM::create(net, "relu1");
    cam->forward(randomBlob({2, 3, 10, 10}, rng));
    for (int c = 0; c < 5; c++)
    {
        std::vector<Mat> maps, counter, negMaps;
        cam->compute(c, maps, counter);
        Mat seed = Mat::zeros(2, 5, CV_32F);
        seed.col(c).setTo(-1.f);
        cam->computeFromGradient("fc", seed, negMaps);
        ASSERT_EQ(counter.size(), 2u);
        for (int n = 0; n < 2; n++)
        {
            EXPECT_EQ(cv::norm(counter[n], negMaps[n], NORM_INF), 0.0);
            EXPECT_GT(cv::norm(maps[n]) + cv::norm(counter[n]), 0.0);
            EXPECT_EQ(countNonZero(min(maps[n], counter[n]) > 0), 0) << "both maps positive at one place";
        }
    }
}

TEST(GradCAM, BatchAndManyClassesFromOneForward)
{
    RNG rng(203);
    dnn::Net net = makeCamNet(rng);
    Mat x = randomBlob({3, 3, 10, 10}, rng);
    Ptr<GradCAM> batch = GradCAM::create(net);
    batch->forward(x);
    for (int c = 0; c < 5; c++)
    {
        std::vector<Mat> maps;
        batch->compute(c, maps);
        ASSERT_EQ(maps.size(), 3u);
        for (int n = 0; n < 3; n++)
        {
            Ptr<GradCAM> single = GradCAM::create(net);
            single->forward(x(std::vector<Range>{Range(n, n + 1), Range::all(), Range::all(), Range::all()}).clone());
            std::vector<Mat> one;
            single->compute(c, one);
            EXPECT_LE(relDiff(maps[n], one[0]), 1e-6) << "image " << n << " class " << c;
        }
    }
    // -1 picks each image's top class
    Mat scores = batch->getScores();
    std::vector<Mat> top;
    batch->compute(-1, top);
    for (int n = 0; n < 3; n++)
    {
        Point best;
        minMaxLoc(scores.row(n), nullptr, nullptr, nullptr, &best);
        std::vector<Mat> expected;
        batch->compute(best.x, expected);
        EXPECT_EQ(cv::norm(top[n], expected[n], NORM_INF), 0.0);
    }
}

TEST(GradCAM, SoftmaxOutputDifferentiatesItsInput)
{
    RNG rng(204);
    dnn::Net plain = makeCamNet(rng);
    RNG rng2(204);
    dnn::Net withSoftmax = makeCamNet(rng2, true);
    Mat x = randomBlob({1, 3, 10, 10}, rng);
    Ptr<GradCAM> a = GradCAM::create(plain), b = GradCAM::create(withSoftmax);
    EXPECT_EQ(b->getScoreLayerName(), "fc");
    a->forward(x);
    b->forward(x);
    std::vector<Mat> ma, mb;
    a->compute(2, ma);
    b->compute(2, mb);
    EXPECT_EQ(cv::norm(ma[0], mb[0], NORM_INF), 0.0);
}

TEST(GradCAM, SameWithFusionOnAndOffAndNetUnchanged)
{
    RNG rng(205);
    dnn::Net fused = makeCamNet(rng);
    RNG rng2(205);
    dnn::Net unfused = makeCamNet(rng2);
    unfused.enableFusion(false);
    Mat x = randomBlob({1, 3, 12, 12}, rng);
    fused.setInput(x);
    Mat before = fused.forward().clone();  // fused forward first: layers hold fused state
    Ptr<GradCAM> a = GradCAM::create(fused, "conv2"), b = GradCAM::create(unfused, "conv2");
    a->forward(x);
    b->forward(x);
    std::vector<Mat> ma, mb;
    a->compute(1, ma);
    b->compute(1, mb);
    EXPECT_LE(relDiff(ma[0], mb[0]), 1e-6);
    Mat ga, gb;
    a->inputGradient(1, ga, RECTIFIER_GUIDED);
    b->inputGradient(1, gb, RECTIFIER_GUIDED);
    EXPECT_LE(relDiff(ga, gb), 1e-6);
    // the user's Net computes what it computed before
    fused.setInput(x);
    EXPECT_EQ(cv::norm(fused.forward(), before, NORM_INF), 0.0);
}

TEST(GradCAM, ActivationsSurviveAnotherForwardOfTheNet)
{
    RNG rng(206);
    dnn::Net net = makeCamNet(rng);
    Ptr<GradCAM> cam = GradCAM::create(net);
    Mat x = randomBlob({1, 3, 10, 10}, rng);
    cam->forward(x);
    std::vector<Mat> before, after;
    cam->compute(0, before);
    net.setInput(randomBlob({1, 3, 10, 10}, rng));
    net.forward();
    cam->compute(0, after);
    EXPECT_EQ(cv::norm(before[0], after[0], NORM_INF), 0.0);
}

// The kept activations share the Net's buffers (no copies): a forward pass of the same Net that
// requests the same outputs, by another explainer or by the user, must not change the results.
TEST(GradCAM, ResultsSurviveAForwardPassRequestingTheSameOutputs)
{
    RNG rng(207);
    dnn::Net net = makeCamNet(rng);
    Mat x1 = randomBlob({1, 3, 10, 10}, rng), x2 = randomBlob({1, 3, 10, 10}, rng);
    Ptr<GradCAM> a = GradCAM::create(net, "conv2"), b = GradCAM::create(net, "conv2");
    std::vector<Mat> expectedMaps, maps;
    Mat expectedGrad, grad;
    a->forward(x1);
    a->inputGradient(1, expectedGrad, RECTIFIER_GUIDED);  // widens a's plan to the input
    a->compute(1, expectedMaps);
    b->forward(x2);
    b->inputGradient(1, grad, RECTIFIER_GUIDED);  // the same plan for b

    a->forward(x1);
    b->forward(x2);  // the same outputs requested: the Net's buffers now hold x2's pass
    a->inputGradient(1, grad, RECTIFIER_GUIDED);
    a->compute(1, maps);
    EXPECT_EQ(cv::norm(grad, expectedGrad, NORM_INF), 0.0);
    EXPECT_EQ(cv::norm(maps[0], expectedMaps[0], NORM_INF), 0.0);

    a->forward(x1);
    std::vector<std::vector<Mat> > outs;  // the user requests every layer, as a keep-all plan does
    net.setInput(x2);
    net.forward(outs, a->getBackprop()->getLayerNames());
    a->inputGradient(1, grad, RECTIFIER_GUIDED);
    EXPECT_EQ(cv::norm(grad, expectedGrad, NORM_INF), 0.0);
}

/** One rectifier fed by the input: the rule in each mode against its definition. */
// Element-wise rules compute in place in the output gradient's buffer when nothing else holds it: a
// gradient the caller asked for (here at relu2's and relu1's outputs) must come back untouched.
TEST(Backprop, WantedGradientsSurviveInPlaceRules)
{
    RNG rng(208);
    dnn::Net net = makeCamNet(rng);
    Ptr<Backprop> bp = Backprop::create(net);
    bp->forward(randomBlob({2, 3, 9, 9}, rng));
    Mat seed = Mat::zeros(2, 5, CV_32F);
    seed.at<float>(0, 1) = 1.f;
    seed.at<float>(1, 3) = 1.f;
    for (RectifierMode mode : {RECTIFIER_EXACT, RECTIFIER_GUIDED})
    {
        std::vector<Mat> alone, together;
        bp->backward({"fc"}, {seed}, {"relu2"}, alone, mode);
        const Mat atRelu2 = alone[0].clone();
        bp->backward({"fc"}, {seed}, {"relu1"}, alone, mode);
        const Mat atRelu1 = alone[0].clone();
        bp->backward({"fc"}, {seed}, {"relu2", "relu1", ""}, together, mode);
        EXPECT_EQ(cv::norm(together[0], atRelu2, NORM_INF), 0.0) << "mode " << mode;
        EXPECT_EQ(cv::norm(together[1], atRelu1, NORM_INF), 0.0) << "mode " << mode;
        EXPECT_GT(cv::norm(atRelu1, NORM_INF), 0.0);
    }
}

TEST(RectifierModes, MatchDefinitions)
{
    struct Case { const char* type; float slope; float lo, hi; };
    const Case cases[] = {{"ReLU", 0.f, 0, 0}, {"ReLU", 0.1f, 0, 0}, {"ReLU6", 0.f, 0.f, 6.f}, {"PReLU", 0.25f, 0, 0}, {"ELU", 0.f, 0, 0}};
    RNG rng(207);
    for (const Case& c : cases)
    {
        dnn::Net net;
        dnn::LayerParams lp;
        if (std::string(c.type) == "ReLU") lp.set("negative_slope", c.slope);
        if (std::string(c.type) == "ReLU6") { lp.set("min_value", c.lo); lp.set("max_value", c.hi); }
        if (std::string(c.type) == "PReLU") lp.blobs = {Mat(1, 2, CV_32F, Scalar(c.slope))};
        if (std::string(c.type) == "ELU") lp.set("alpha", 1.f);
        addLayer(net, "act", c.type, lp, {0});
        Mat x = randomBlob({1, 2, 4, 4}, rng, -8.f, 8.f);
        Mat r = randomBlob({1, 2, 4, 4}, rng);
        Ptr<Backprop> bp = Backprop::create(net);
        bp->forward(x);
        for (int mode = 0; mode < 3; mode++)
        {
            std::vector<Mat> g;
            bp->backward({"act"}, {r}, {String()}, g, (RectifierMode)mode);
            for (size_t i = 0; i < x.total(); i++)
            {
                const float xv = x.ptr<float>()[i], rv = r.ptr<float>()[i];
                float d;  // exact local derivative
                if (std::string(c.type) == "ReLU6") d = (xv > c.lo && xv < c.hi) ? 1.f : 0.f;
                else if (std::string(c.type) == "ELU") d = xv > 0 ? 1.f : std::exp(xv);
                else d = xv > 0 ? 1.f : c.slope;
                float expected = rv * d;
                if (mode == RECTIFIER_GUIDED) expected = rv > 0 ? rv * d : 0.f;
                if (mode == RECTIFIER_DECONVNET)
                    expected = rv > 0 ? rv : ((std::string(c.type) == "ReLU" || std::string(c.type) == "PReLU") ? c.slope * rv : 0.f);
                EXPECT_NEAR(g[0].ptr<float>()[i], expected, 1e-5 * std::max(1.f, std::abs(expected)))
                    << c.type << " mode " << mode << " x " << xv << " r " << rv;
            }
        }
    }
}

TEST(GradCAM, GuidedGradCAMIsUpsampledMapTimesGuided)
{
    RNG rng(208);
    dnn::Net net = makeCamNet(rng);
    Ptr<GradCAM> cam = GradCAM::create(net);
    cam->forward(randomBlob({2, 3, 12, 12}, rng));
    Mat ggc, guided;
    std::vector<Mat> maps;
    cam->guidedGradCAM(3, ggc);
    cam->compute(3, maps);
    cam->inputGradient(3, guided, RECTIFIER_GUIDED);
    ASSERT_EQ(ggc.dims, 4);
    for (int n = 0; n < 2; n++)
    {
        Mat up;
        resize(maps[n], up, Size(12, 12), 0, 0, INTER_LINEAR);
        for (int ch = 0; ch < 3; ch++)
        {
            Mat expected = up.mul(Mat(12, 12, CV_32F, guided.ptr<float>(n, ch)));
            EXPECT_LE(cv::norm(Mat(12, 12, CV_32F, ggc.ptr<float>(n, ch)), expected, NORM_INF), 1e-6);
        }
    }
    // guided differs from the exact gradient but agrees in sign where the exact one is positive
    Mat exact;
    cam->inputGradient(3, exact, RECTIFIER_EXACT);
    EXPECT_GT(cv::norm(exact, guided, NORM_INF), 0.0);
}

TEST(Visualize, ResizeMapAndOverlay)
{
    Mat m = (Mat_<float>(2, 2) << 0, 1, 2, 4);
    Mat r;
    resizeMap(m, Size(4, 4), r);
    double lo, hi;
    minMaxLoc(r, &lo, &hi);
    EXPECT_EQ(r.size(), Size(4, 4));
    EXPECT_FLOAT_EQ((float)lo, 0.f);
    EXPECT_FLOAT_EQ((float)hi, 1.f);
    Mat flat;
    resizeMap(Mat::ones(3, 3, CV_32F), Size(5, 5), flat);
    EXPECT_EQ(countNonZero(flat), 0);
    Mat img(4, 4, CV_8UC3, Scalar(10, 20, 30)), shown;
    applyMapOverlay(img, r, shown, COLORMAP_JET, 0.5);
    EXPECT_EQ(shown.type(), CV_8UC3);
    EXPECT_EQ(shown.size(), img.size());
    EXPECT_GT(cv::norm(shown, img, NORM_INF), 0.0);
}

// A custom layer with a registered rule works, and the gradient checker catches a wrong rule.
struct ScaleRule : BackwardRule
{
    float factor;
    explicit ScaleRule(float f) : factor(f) {}
    void backward(const std::vector<Mat>&, const std::vector<Mat>&, const std::vector<Mat>& g,
                  const std::vector<bool>& need, RectifierMode, std::vector<Mat>& in) CV_OVERRIDE
    {
        if (need[0])
            in[0] = g[0] * factor;
    }
};

TEST(CustomLayers, RegisteredRuleIsUsedAndCheckerCatchesWrongRule)
{
    dnn::LayerFactory::registerLayer("TimesThree", ScaledCopyLayer::create);
    RNG rng(209);
    dnn::Net net;
    int stem = addLayer(net, "stem", "Convolution", convParams(2, 2, 3, rng, 1, 1, 1), {0});
    dnn::LayerParams times3;
    times3.set("factor", 3.f);
    addLayer(net, "x3", "TimesThree", times3, {stem});
    Mat x = randomBlob({1, 2, 5, 5}, rng);
    registerBackwardRule("TimesThree", [](const LayerInfo&) -> Ptr<BackwardRule> { return makePtr<ScaleRule>(3.f); });
    EXPECT_TRUE(hasBackwardRule("TimesThree"));
    GradientCheckResult good = checkInputGradient(net, x, "x3");
    EXPECT_GT(good.checked, 10);
    EXPECT_LE(good.maxError, 1e-2);
    registerBackwardRule("TimesThree", [](const LayerInfo&) -> Ptr<BackwardRule> { return makePtr<ScaleRule>(2.f); });
    GradientCheckResult bad = checkInputGradient(net, x, "x3");
    EXPECT_GT(bad.maxError, 0.1);
    dnn::LayerFactory::unregisterLayer("TimesThree");
}

}} // namespace
