// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// Bad input gets a clear cv::Exception with an exact message, never a crash or silent garbage.
#include "test_common.hpp"

namespace opencv_test { namespace {

TEST(Errors, EmptyNet)
{
    expectError([] { GradCAM::create(dnn::Net()); },
                "explain: the Net is empty; read a model (e.g. cv::dnn::readNet) first");
}

// cv::explain::readNet gives the Net the explainers take, with cv::dnn::readNet's outputs
TEST(ReadNet, ExplainersTakeItsNet)
{
    const String model = EXPLAIN_DATA_DIR "/default_model.onnx";
    dnn::Net net = explain::readNet(model), plain = dnn::readNet(model);
    RNG rng(7);
    const Mat blob = randomBlob({1, 3, 64, 64}, rng, 0.f, 1.f);
    net.setInput(blob);
    plain.setInput(blob);
    const Mat out = net.forward().clone(), expected = plain.forward().clone();
    EXPECT_LE(cv::norm(out, expected, NORM_INF), 1e-4 * cv::norm(expected, NORM_INF));
    Ptr<GradCAM> cam;
    ASSERT_NO_THROW(cam = GradCAM::create(net));
    std::vector<Mat> maps;
    cam->forward(blob);
    cam->compute(-1, maps);
    ASSERT_EQ(maps.size(), 1u);
}

#if CV_VERSION_MAJOR >= 5
// OpenCV 5's comparisons output booleans: a seed there is refused before any rule runs
TEST(Errors, BooleanOutputIsNoSeed)
{
    dnn::Net net = explain::readNet(EXPLAIN_DATA_DIR "/operators/Greater.onnx");
    RNG rng(311);
    Ptr<Backprop> bp = Backprop::create(net);
    bp->forwardInputs(std::vector<Mat>{randomBlob({1, 3, 4, 5}, rng), randomBlob({1, 3, 4, 5}, rng)}, {"x", "y"});
    std::vector<Mat> grads;
    expectError([&] { bp->backward({"out"}, {Mat(std::vector<int>{1, 3, 4, 5}, CV_32F, Scalar(1))}, {""}, grads); },
                "explain: layer 'out' (Identity) outputs CV_BoolC1 values, not float32: there is no gradient to take "
                "from it");
}
#endif

TEST(Errors, UnknownLayerNames)
{
    RNG rng(301);
    dnn::Net net = convReluFcNet(rng);
    expectError([&] { GradCAM::create(net, "nope"); }, "explain: the Net has no layer named 'nope'");
    expectError([&] { GradCAM::create(net, "conv", "scores"); }, "explain: the Net has no layer named 'scores'");
}

TEST(Errors, ClassIndexOutOfRange)
{
    RNG rng(302);
    dnn::Net net = convReluFcNet(rng);
    Ptr<GradCAM> cam = GradCAM::create(net);
    cam->forward(randomBlob({1, 2, 6, 6}, rng));
    std::vector<Mat> maps;
    expectError([&] { cam->compute(4, maps); },
                "explain: class index 4 is out of range [0, 4) of the scores of layer 'fc' (-1 picks the top class)");
    expectError([&] { cam->compute(-2, maps); },
                "explain: class index -2 is out of range [0, 4) of the scores of layer 'fc' (-1 picks the top class)");
}

TEST(Errors, ComputeBeforeForward)
{
    RNG rng(303);
    dnn::Net net = convReluFcNet(rng);
    Ptr<GradCAM> cam = GradCAM::create(net, "relu");
    std::vector<Mat> maps;
    expectError([&] { cam->compute(0, maps); }, "explain: call GradCAM::forward() with an input blob first");
}

TEST(Errors, BadBlobs)
{
    RNG rng(304);
    dnn::Net net = convReluFcNet(rng);
    Ptr<GradCAM> cam = GradCAM::create(net);
    expectError([&] { cam->forward(Mat()); }, "explain: the input blob is empty");
    Mat u8(std::vector<int>{1, 2, 6, 6}, CV_8U, Scalar(1));
    expectError([&] { cam->forward(u8); },
                "explain: the input blob must be float32 (CV_32F), got depth 0; use cv::dnn::blobFromImage");
    Mat nan = randomBlob({1, 2, 6, 6}, rng);
    nan.ptr<float>()[7] = std::numeric_limits<float>::quiet_NaN();
    expectError([&] { cam->forward(nan); }, "explain: the input blob contains NaN or Inf values");
    Mat inf = randomBlob({1, 2, 6, 6}, rng);
    inf.ptr<float>()[3] = std::numeric_limits<float>::infinity();
    expectError([&] { cam->forward(inf); }, "explain: the input blob contains NaN or Inf values");
    // 5 input channels for a conv expecting 2: the message names the shape, then cv::dnn's reason
    try
    {
        cam->forward(randomBlob({1, 5, 6, 6}, rng));
        ADD_FAILURE() << "no exception";
    }
    catch (const cv::Exception& e)
    {
        EXPECT_EQ(e.err.rfind("explain: the forward pass failed for an input blob of shape [1 x 5 x 6 x 6]: ", 0), 0u)
            << e.err;
    }
}

TEST(Errors, BadOutputGradients)
{
    RNG rng(305);
    dnn::Net net = convReluFcNet(rng);
    Ptr<GradCAM> cam = GradCAM::create(net);
    cam->forward(randomBlob({1, 2, 6, 6}, rng));
    std::vector<Mat> maps;
    expectError([&] { cam->computeFromGradient("fc", Mat::ones(1, 5, CV_32F), maps); },
                "explain: the gradient for layer 'fc' (InnerProduct) has shape [1 x 5] but its output has shape "
                "[1 x 4] (float32 expected)");
    Mat g = Mat::ones(1, 4, CV_32F);
    g.at<float>(2) = std::numeric_limits<float>::quiet_NaN();
    expectError([&] { cam->computeFromGradient("fc", g, maps); },
                "explain: the gradient for layer 'fc' (InnerProduct) contains NaN or Inf values");
    expectError([&] { cam->computeFromGradient("nope", g, maps); }, "explain: the Net has no layer named 'nope'");
}

TEST(Errors, TargetLayerWithoutSpatialOutput)
{
    RNG rng(306);
    dnn::Net net = convReluFcNet(rng);
    Ptr<GradCAM> cam = GradCAM::create(net, "fc");
    cam->forward(randomBlob({1, 2, 6, 6}, rng));
    std::vector<Mat> maps;
    expectError([&] { cam->compute(0, maps); },
                "explain: the target layer 'fc' has a 2D output; Grad-CAM needs a spatial N x K x H x W output "
                "(or tokens read with setTokenGrid)");
}

TEST(Errors, LayerWithoutBackwardRule)
{
    dnn::LayerFactory::registerLayer("MyOpaque", ScaledCopyLayer::create);
    RNG rng(307);
    dnn::Net net;
    int c = addLayer(net, "conv", "Convolution", convParams(3, 2, 3, rng, 1, 1, 1), {0});
    int o = addLayer(net, "mystery", "MyOpaque", dnn::LayerParams(), {c});
    dnn::LayerParams fc;
    fc.set("num_output", 4);
    fc.set("bias_term", false);
    fc.blobs = {randomBlob({4, 3 * 6 * 6}, rng)};
    addLayer(net, "fc", "InnerProduct", fc, {o});
    Ptr<GradCAM> cam = GradCAM::create(net, "conv");
    cam->forward(randomBlob({1, 2, 6, 6}, rng));
    std::vector<Mat> maps;
    expectError([&] { cam->compute(0, maps); },
                "explain: no backward rule for layer 'mystery' (MyOpaque) on the gradient path; register one with "
                "cv::explain::registerBackwardRule(\"MyOpaque\", factory), or choose a target layer after it");
    // a target after the unknown layer does not need its rule
    Ptr<GradCAM> after = GradCAM::create(net, "mystery");
    after->forward(randomBlob({1, 2, 6, 6}, rng));
    after->compute(0, maps);
    EXPECT_EQ(maps.size(), 1u);
    dnn::LayerFactory::unregisterLayer("MyOpaque");
}

TEST(Errors, NonDifferentiableLayerOnThePath)
{
    RNG rng(308);
    dnn::Net net;
    int c = addLayer(net, "conv", "Convolution", convParams(3, 2, 3, rng, 1, 1, 1), {0});
    dnn::LayerParams am;
    am.set("op", "max");
    am.set("axis", 1);
    addLayer(net, "argmax", "Arg", am, {c});
    Ptr<Backprop> bp = Backprop::create(net);
    bp->forward(randomBlob({1, 2, 4, 4}, rng));
    std::vector<Mat> g;
    Mat seed = Mat::ones(1, 16, CV_32F);
    expectError([&] { bp->backward({"argmax"}, {seed}, {String()}, g); },
                "explain: layer 'argmax' (Arg) is not differentiable (post-processing or a constant); use the output "
                "of a layer before it as the target, e.g. the raw scores or box regressions it reads");
}

TEST(Errors, PriorBoxIsAConstant)
{
    // SSD's prior boxes depend only on the shapes of their inputs: no gradient, and no error
    RNG rng(309);
    dnn::Net net;
    int c = addLayer(net, "conv", "Convolution", convParams(3, 2, 3, rng, 1, 1, 1), {0});
    dnn::LayerParams pb;
    pb.set("min_size", 2.f);
    float variance[] = {0.1f, 0.1f, 0.2f, 0.2f};
    pb.set("variance", DictValue::arrayReal(variance, 4));
    int p = addLayer(net, "priors", "PriorBox", pb, {c});
    net.connect(0, 0, p, 1);
    Ptr<Backprop> bp = Backprop::create(net);
    bp->forward(randomBlob({1, 2, 4, 4}, rng));
    Mat out = bp->getActivation("priors");
    std::vector<Mat> g;
    bp->backward({"priors"}, {Mat(Mat::ones(out.dims, out.size.p, CV_32F))}, {String()}, g);
    EXPECT_EQ(countNonZero(g[0].reshape(1, 1)), 0);
}

TEST(Errors, HelpersRejectBadArguments)
{
    Mat out;
    expectError([&] { resizeMap(Mat(), Size(3, 3), out); },
                "explain: resizeMap expects a non-empty single-channel 2D map");
    expectError([&] { resizeMap(Mat::ones(2, 2, CV_32F), Size(0, 3), out); },
                "explain: resizeMap got an invalid size 0x3");
    expectError([&] { applyMapOverlay(Mat::ones(2, 2, CV_32F), Mat::ones(2, 2, CV_32F), out); },
                "explain: applyMapOverlay expects an 8-bit 1- or 3-channel image");
    expectError([&] { gradientToImage(Mat::ones(2, 2, CV_32F), out); },
                "explain: gradientToImage expects a float32 N x C x H x W blob with C = 1 or 3");
}

}} // namespace

namespace opencv_test { namespace {

// ONNX Greater/Less/Equal reach cv::dnn as a Scale layer that compares: never differentiated as a product.
TEST(Errors, ComparingScaleLayerIsNotDifferentiated)
{
    RNG rng(310);
    dnn::Net net;
    int a = addLayer(net, "a", "Convolution", convParams(2, 2, 1, rng), {0});
    int b = addLayer(net, "b", "Convolution", convParams(2, 2, 1, rng), {0});
    dnn::LayerParams cmp;
    cmp.set("mode", "greater");
    addLayer(net, "cmp", "Scale", cmp, {a, b});
    Ptr<Backprop> bp = Backprop::create(net);
    Mat x = randomBlob({1, 2, 3, 3}, rng);
    bp->forward(x);
    Mat y = bp->getActivation("cmp");
    std::vector<Mat> grads;
    Mat seed(y.dims, y.size.p, CV_32F, Scalar(1));
    expectError([&] { bp->backward({"cmp"}, {seed}, {""}, grads); },
                "explain: layer 'cmp' (Scale) compares its inputs (mode 'greater') and is not differentiable; use "
                "the output of a layer before it as the target");
}

}} // namespace

namespace opencv_test { namespace {

// A Net whose scores do not follow the batch (a fixed-batch reshape) gave one map for two images.
TEST(Errors, ScoresWithoutARowPerImage)
{
    RNG rng(311);
    dnn::Net net = convReluFcNet(rng);
    dnn::LayerParams rp;
    int shape[] = {1, -1};
    rp.set("dim", DictValue::arrayInt(shape, 2));
    addLayer(net, "flat", "Reshape", rp, {net.getLayerId("fc")});
    Ptr<GradCAM> cam = GradCAM::create(net, "relu", "flat");
    expectError([&] { cam->forward(randomBlob({2, 2, 6, 6}, rng)); },
                "explain: the scores of layer 'flat' have shape [1 x 8] for a batch of 2 images; the output must "
                "have one row per image (or explain one image at a time)");
    Mat one = randomBlob({1, 2, 6, 6}, rng), scores;
    cam->forward(one, scores);
    EXPECT_EQ(scores.size(), Size(4, 1));
}

}} // namespace
