// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// Non-finite numbers inside the network are reported where they appear, never turned into all-zero
// or plausible-looking maps.
#include "test_common.hpp"
#include "../src/precomp.hpp"  // allFinite, internal
#include <opencv2/imgcodecs.hpp>
#include <limits>

namespace opencv_test { namespace {

// The finiteness test every check above goes through: each kind of non-finite value at every position of
// a vector block and its tail, finite extremes (FLT_MAX, denormals, -0), a view that is not continuous,
// and other depths (checkRange's own range, FLT_MAX, there).
TEST(NonFinite, AllFiniteFindsEveryNaNAndInfinity)
{
    using cv::explain::allFinite;
    const float bad[] = {std::numeric_limits<float>::quiet_NaN(), -std::numeric_limits<float>::quiet_NaN(),
                         std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()};
    Mat m(1, 37, CV_32F, Scalar(1.f));
    m.at<float>(0, 1) = FLT_MAX;
    m.at<float>(0, 2) = -FLT_MAX;
    m.at<float>(0, 3) = std::numeric_limits<float>::denorm_min();
    m.at<float>(0, 4) = -0.f;
    EXPECT_TRUE(allFinite(m));
    EXPECT_TRUE(allFinite(Mat()));
    for (float v : bad)
        for (int i = 0; i < m.cols; i++)
        {
            Mat c = m.clone();
            c.at<float>(0, i) = v;
            EXPECT_FALSE(allFinite(c)) << v << " at " << i;
        }
    Mat big(4, 8, CV_32F, Scalar(0.5f));
    big.at<float>(3, 7) = bad[2];
    EXPECT_TRUE(allFinite(big(Rect(0, 0, 7, 4))));  // not continuous: the infinity is outside the view
    EXPECT_FALSE(allFinite(big(Rect(1, 1, 7, 3))));
    EXPECT_TRUE(allFinite(Mat(2, 2, CV_64F, Scalar(1e30))));
    EXPECT_FALSE(allFinite(Mat(2, 2, CV_64F, Scalar(1e300))));  // beyond FLT_MAX, as checkRange says
}

// A finite input whose activations overflow (the input blob times 3e38): the first layer whose output
// is not finite is named, for a plan that kept only part of the Net too.
TEST(NonFinite, ActivationsThatOverflowAreReportedWithTheLayer)
{
    RNG rng(401);
    dnn::Net net = convReluFcNet(rng);
    Mat x = randomBlob({1, 2, 6, 6}, rng) * 3e38f;
    const std::string message = "explain: the forward pass gives NaN or Inf values, first at the output of layer "
                                "'conv' (Convolution); check the input blob's scale and the model's weights";
    Mat seed = Mat::zeros(1, 4, CV_32F);
    seed.at<float>(0, 2) = 1.f;
    for (bool partialPlan : {false, true})
    {
        Ptr<Backprop> bp = Backprop::create(net);
        if (partialPlan)
            bp->keepOnly({"fc"}, {"relu"});
        bp->forward(x);
        std::vector<Mat> grads;
        expectError([&] { bp->backward({"fc"}, {seed}, {""}, grads); }, message);
        expectError([&] { bp->backward({"fc"}, {seed}, {"relu"}, grads); }, message);
    }
}

/** A custom layer's rule that returns NaN. */
struct NaNRule : BackwardRule
{
    void backward(const std::vector<Mat>&, const std::vector<Mat>&, const std::vector<Mat>& g,
                  const std::vector<bool>& need, RectifierMode, std::vector<Mat>& in) CV_OVERRIDE
    {
        if (need[0])
            in[0] = Mat(g[0].dims, g[0].size.p, CV_32F, Scalar(std::numeric_limits<float>::quiet_NaN()));
    }
};

TEST(NonFinite, GradientsThatTurnNaNAreReportedWithTheLayer)
{
    dnn::LayerFactory::registerLayer("NaNGradient", ScaledCopyLayer::create);
    registerBackwardRule("NaNGradient", [](const LayerInfo&) -> Ptr<BackwardRule> { return makePtr<NaNRule>(); });
    RNG rng(402);
    dnn::Net net;
    int stem = addLayer(net, "stem", "Convolution", convParams(2, 2, 3, rng, 1, 1, 1), {0});
    int odd = addLayer(net, "odd", "NaNGradient", dnn::LayerParams(), {stem});
    addLayer(net, "top", "ReLU", dnn::LayerParams(), {odd});
    Ptr<Backprop> bp = Backprop::create(net);
    bp->forward(randomBlob({1, 2, 5, 5}, rng));
    std::vector<Mat> grads;
    expectError([&] { bp->backward({"top"}, {randomBlob({1, 2, 5, 5}, rng)}, {""}, grads); },
                "explain: the gradient became NaN or Inf in the backward step of layer 'odd' (NaNGradient) (input 0)");
    dnn::LayerFactory::unregisterLayer("NaNGradient");
}

}} // namespace

namespace opencv_test { namespace {

/** One InnerProduct layer "fc" on a 1 x 1 x 2 x 2 input, two classes. */
dnn::Net linearScores()
{
    dnn::Net net;
    dnn::LayerParams fc;
    fc.set("num_output", 2);
    fc.set("bias_term", false);
    fc.blobs = {(Mat_<float>(2, 4) << 1, 2, 3, 4, -1, 0, 1, 0)};
    addLayer(net, "fc", "InnerProduct", fc, {0});
    return net;
}

// Maps, saliency and gradients with NaN or Inf are refused by every function that reads them, instead
// of all-black images, zero drops or a "perfect" correlation.
TEST(NonFinite, MapsAndMetricsRefuseNaN)
{
    const float nan = std::numeric_limits<float>::quiet_NaN();
    Mat map = (Mat_<float>(2, 2) << 0.1f, nan, 0.3f, 0.2f);
    Mat image(2, 2, CV_8UC3, Scalar::all(100)), out;
    expectError([&] { resizeMap(map, Size(4, 4), out); }, "explain: the map given to resizeMap contains NaN or Inf values");
    expectError([&] { applyMapOverlay(image, map, out); }, "explain: the map given to resizeMap contains NaN or Inf values");
    Mat grad(std::vector<int>{1, 3, 2, 2}, CV_32F, Scalar(0.5));
    grad.ptr<float>()[5] = std::numeric_limits<float>::infinity();
    expectError([&] { gradientToImage(grad, out); }, "explain: the gradient given to gradientToImage contains NaN or Inf values");
    expectError([&] { gradientToSaliency(grad, out); },
                "explain: the gradient given to gradientToSaliency contains NaN or Inf values");
    expectError([&] { mapToBoundingBox(map, Size(4, 4)); }, "explain: the map given to mapToBoundingBox contains NaN or Inf values");
    expectError([&] { pointingGame(map, Size(4, 4), {Rect(0, 0, 2, 2)}); },
                "explain: the map given to pointingGame contains NaN or Inf values");

    dnn::Net net = linearScores();
    Mat blob(std::vector<int>{1, 1, 2, 2}, CV_32F, Scalar(1));
    expectError([&] { deletionInsertion(net, blob, map, 0); },
                "explain: the saliency map given to deletionInsertion contains NaN or Inf values");
    expectError([&] { road(net, blob, map, 0); }, "explain: the saliency map given to road contains NaN or Inf values");
    expectError([&] { faithfulness(net, blob, map, 0, "", 1); }, "explain: the map given to faithfulness contains NaN or Inf values");
    double drop = 0, increase = 0;
    expectError([&] { averageDropIncrease(net, blob, std::vector<Mat>{map}, {0}, drop, increase); },
                "explain: map 0 given to averageDropIncrease contains NaN or Inf values");
    expectError([&] { spearmanCorrelation(Mat((Mat_<float>(1, 3) << 1, nan, 2)), Mat((Mat_<float>(1, 3) << 1, 2, 3))); },
                "explain: the first array given to spearmanCorrelation contains NaN or Inf values");
    Mat badBlob = blob.clone();
    badBlob.ptr<float>()[1] = nan;
    expectError([&] { deletionInsertion(net, badBlob, Mat::ones(2, 2, CV_32F), 0); },
                "explain: the input blob given to deletionInsertion contains NaN or Inf values");
}

// Found by fuzz/fuzz_model: finite scores, a finite Grad-CAM map and a finite guided gradient whose product
// overflows float32 -- Guided Grad-CAM returned Inf instead of an error.
TEST(NonFinite, GuidedGradCAMProductThatOverflows)
{
    RNG rng(403);
    dnn::Net net;
    dnn::LayerParams conv = convParams(1, 1, 3, rng, 1, 1, 1);
    conv.blobs[0].setTo(1e10f);
    conv.blobs[1].setTo(0.f);
    int c = addLayer(net, "conv", "Convolution", conv, {0});
    int r = addLayer(net, "relu", "ReLU", dnn::LayerParams(), {c});
    dnn::LayerParams fc;
    fc.set("num_output", 2);
    fc.set("bias_term", false);
    fc.blobs = {Mat(2, 16, CV_32F, Scalar(1e10f))};
    addLayer(net, "fc", "InnerProduct", fc, {r});
    Ptr<GradCAM> cam = GradCAM::create(net);
    Mat scores, dst;
    cam->forward(randomBlob({1, 1, 4, 4}, rng, 0.5f, 1.f), scores);
    ASSERT_TRUE(checkRange(scores));  // about 1e21: finite
    std::vector<Mat> maps;
    cam->compute(0, maps);
    ASSERT_TRUE(checkRange(maps[0]));
    expectError([&] { cam->guidedGradCAM(0, dst); },
                "explain: the Guided Grad-CAM product (map times guided gradient) overflows float32; check the "
                "model's weights and the input blob's scale");
    Mat nanGradient(std::vector<int>{1, 1, 4, 4}, CV_32F, Scalar(1));
    nanGradient.ptr<float>()[3] = std::numeric_limits<float>::quiet_NaN();
    expectError([&] { combineGuidedGradCAM(maps, nanGradient, dst); },
                "explain: the guided gradient given to combineGuidedGradCAM contains NaN or Inf values");
}

// Found by fuzz/fuzz_model: NaN in the target layer's activations (a model's bad weights) that the scores
// do not show (max pooling skips NaN) gave NaN maps silently; now the error names the first layer.
TEST(NonFinite, TargetActivationsWithNaNBehindFiniteScores)
{
    RNG rng(404);
    dnn::Net net;
    dnn::LayerParams conv = convParams(2, 2, 1, rng);
    conv.blobs[0].ptr<float>(1)[0] = std::numeric_limits<float>::quiet_NaN();  // output channel 1
    int c = addLayer(net, "conv", "Convolution", conv, {0});
    dnn::LayerParams pool;
    pool.set("pool", "max");
    pool.set("kernel_size", 3);
    pool.set("stride", 3);
    int p = addLayer(net, "pool", "Pooling", pool, {c});
    dnn::LayerParams hs;
    hs.set("alpha", 0.2f);
    hs.set("beta", 0.5f);
    int h = addLayer(net, "hsig", "HardSigmoid", hs, {p});
    dnn::LayerParams fc;
    fc.set("num_output", 2);
    fc.set("bias_term", false);
    fc.blobs = {randomBlob({2, 2}, rng)};
    addLayer(net, "fc", "InnerProduct", fc, {h});
    const std::string message = "explain: the forward pass gives NaN or Inf values, first at the output of layer "
                                "'conv' (Convolution); check the input blob's scale and the model's weights";
    for (int method : {CAM_GRADCAM, CAM_HIRESCAM, CAM_EIGENCAM, CAM_SCORECAM, CAM_ABLATIONCAM})
    {
        Ptr<GradCAM> cam = GradCAM::create(net, "conv");
        Mat scores;
        cam->forward(randomBlob({1, 2, 3, 3}, rng, 0.f, 1.f), scores);
        ASSERT_TRUE(checkRange(scores)) << scores;
        cam->setMethod(method);
        std::vector<Mat> maps;
        expectError([&] { cam->compute(0, maps); }, message);
        if (method == CAM_GRADCAM)
            expectError([&] { cam->computeLayers({"conv"}, 0, Size(3, 3), maps); }, message);
    }
}

TEST(NonFinite, ScoresThatOverflowInMetrics)
{
    dnn::Net net = linearScores();
    Mat blob(std::vector<int>{1, 1, 2, 2}, CV_32F, Scalar(3e38f));
    expectError([&] { deletionInsertion(net, blob, Mat::ones(2, 2, CV_32F), 0, "", 2, true, noArray(), false); },
                "explain: the output of layer 'fc' in deletionInsertion contains NaN or Inf values");
}

// Arguments at the edge of their types: clear errors or correct answers, never an overflow or a
// std::bad_alloc.
TEST(Arguments, ExtremeToleranceBoxesAndSteps)
{
    Mat map = Mat::zeros(8, 8, CV_32F);
    map.at<float>(1, 1) = 1.f;
    EXPECT_TRUE(pointingGame(map, Size(8, 8), {Rect(6, 6, 1, 1)}, INT_MAX));
    EXPECT_FALSE(pointingGame(map, Size(8, 8), {Rect(INT_MAX - 5, 0, 5, 5)}, 3));
    EXPECT_TRUE(pointingGame(map, Size(8, 8), {Rect(INT_MAX - 5, 0, 5, 5)}, INT_MAX));  // 2^31 - 7 pixels away
    EXPECT_FALSE(pointingGame(map, Size(8, 8), {Rect(INT_MAX - 5, INT_MAX - 5, 5, 5)}, INT_MAX));
    Mat mask = Mat::zeros(8, 8, CV_8U);
    mask.at<uchar>(7, 7) = 255;
    EXPECT_TRUE(pointingGame(map, mask, INT_MAX));
    EXPECT_FALSE(pointingGame(map, mask, 1));

    dnn::Net net = linearScores();
    Mat blob(std::vector<int>{1, 1, 2, 2}, CV_32F, Scalar(1));
    expectError([&] { deletionInsertion(net, blob, Mat::ones(2, 2, CV_32F), 0, "", INT_MAX); },
                "explain: deletionInsertion needs steps <= 4 (the blob's H x W pixels), got 2147483647");
}

// A Net the metrics cannot run (a second input never given): the module's message with cv::dnn's.
TEST(Arguments, MetricsOnANetTheyCannotRun)
{
    dnn::Net net = linearScores();
    Mat blob(std::vector<int>{1, 1, 3, 3}, CV_32F, Scalar(1));  // 9 values for a layer that takes 4
    try
    {
        deletionInsertion(net, blob, Mat::ones(3, 3, CV_32F), 0, "", 2);
        ADD_FAILURE() << "no exception";
    }
    catch (const cv::Exception& e)
    {
        EXPECT_EQ(e.err.rfind("explain: deletionInsertion: the forward pass failed for a batch of shape [3 x 1 x 3 x 3]: ", 0), 0u)
            << e.err;
    }
}

}} // namespace

namespace opencv_test { namespace {

// computeCAM with one NaN activation gave all-zero maps for XGrad-CAM, Eigen-CAM and Grad-CAM++.
TEST(NonFinite, ComputeCAMRefusesNaNActivationsAndGradients)
{
    RNG rng(403);
    Mat a = randomBlob({1, 3, 4, 4}, rng, 0.f, 1.f), g = randomBlob({1, 3, 4, 4}, rng);
    Mat badA = a.clone(), badG = g.clone();
    badA.ptr<float>()[5] = std::numeric_limits<float>::quiet_NaN();
    badG.ptr<float>()[9] = std::numeric_limits<float>::infinity();
    std::vector<Mat> maps;
    for (int method : {CAM_GRADCAM, CAM_GRADCAM_PLUS_PLUS, CAM_XGRADCAM, CAM_EIGENCAM, CAM_LAYERCAM})
    {
        expectError([&] { computeCAM(method, badA, g, maps); },
                    "explain: the activations given to computeCAM contains NaN or Inf values");
        if (method != CAM_EIGENCAM)
            expectError([&] { computeCAM(method, a, badG, maps); },
                        "explain: the gradients given to computeCAM contains NaN or Inf values");
    }
}

// Finite activations near FLT_MAX (a max pooling over padding gives -FLT_MAX) overflowed in the products and
// sums: the fuzzer found a NaN map from Grad-CAM with eigen smoothing. The map is refused, with the magnitudes.
TEST(NonFinite, ComputeCAMRefusesAMapThatOverflows)
{
    Mat a(std::vector<int>{1, 2, 2, 2}, CV_32F, Scalar(1)), g(std::vector<int>{1, 2, 2, 2}, CV_32F, Scalar(1));
    for (int k = 0; k < 2; k++)
    {
        a.ptr<float>(0, k)[0] = 3e38f;   // w_0 A_0 + w_1 A_1 = 6e38 at pixel 0
        a.ptr<float>(0, k)[1] = -3e38f;  // and the first principal component, along (1, 1), 4.2e38 there
    }
    std::vector<Mat> maps;
    for (bool smooth : {false, true})
        expectError([&] { computeCAM(CAM_GRADCAM, a, g, maps, smooth); },
                    "explain: the map of image 0 overflows float32 (activations up to 3e+38 in magnitude, gradients "
                    "up to 1); scale the input or explain another layer");
}

TEST(Arguments, SmoothGradNoiseAndIntegratedGradientsBaseline)
{
    RNG rng(404);
    dnn::Net net = smoothNet(rng);
    Ptr<InputAttribution> attr = InputAttribution::create(net);
    Mat x = randomBlob({1, 3, 6, 6}, rng);
    attr->forward(x);
    Mat dst;
    expectError([&] { attr->smoothGrad(0, dst, 4, std::numeric_limits<double>::quiet_NaN()); },
                "explain: SmoothGrad needs samples >= 1 (got 4), noiseLevel >= 0 (got nan) and batchSize >= 1 (got 8)");
    // an HWC baseline has as many values as one CHW image, but not its layout
    Mat hwc = randomBlob({1, 6, 6, 3}, rng);
    expectError([&] { attr->integratedGradients(0, dst, 4, hwc); },
                "explain: the Integrated Gradients baseline must be a float32 blob of the input blob's shape "
                "[1 x 3 x 6 x 6] or of one image [1 x 3 x 6 x 6], got [1 x 6 x 6 x 3] with 1 channel(s)");
    // a baseline that is a view (not continuous) gives the same as its continuous copy
    Mat cropped = randomBlob({3, 6, 8}, rng), strided = cropped(std::vector<Range>{Range::all(), Range::all(), Range(1, 7)});
    ASSERT_FALSE(strided.isContinuous());
    Mat expected, got;
    attr->integratedGradients(0, expected, 4, strided.clone());
    attr->integratedGradients(0, got, 4, strided);
    EXPECT_EQ(cv::norm(got, expected, NORM_INF), 0.0);
}

}} // namespace

namespace opencv_test { namespace {

// The bundled model with its input blob times 3e38: finite input, overflowing activations. It used to give
// NaN scores and then all-zero maps without an error.
TEST(NonFinite, BundledModelWithAnOverflowingInput)
{
    dnn::Net net = explain::readNet(EXPLAIN_DATA_DIR "/default_model.onnx");
    Mat image = imread(EXPLAIN_DATA_DIR "/default_image.png");
    ASSERT_FALSE(image.empty());
    Mat blob = dnn::blobFromImage(image, 1.0 / 255, Size(64, 64), Scalar(), true) * 3e38;
    Ptr<GradCAM> cam = GradCAM::create(net);
    try
    {
        cam->forward(blob);
        ADD_FAILURE() << "no exception";
    }
    catch (const cv::Exception& e)
    {
        EXPECT_EQ(e.err.rfind("explain: the forward pass gives NaN or Inf values, first at the output of layer '", 0), 0u)
            << e.err;
    }
    std::vector<Mat> maps;
    expectError([&] { cam->compute(-1, maps); }, "explain: call GradCAM::forward() with an input blob first");
}

}} // namespace
