// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// OpenCV 5's new DNN engine (what cv::dnn::readNet gives by default): the explainers run its program layer
// by layer with the Net's own layer objects, and the CAM family at a layer after the last convolution
// equals the classic engine's maps; what would need a gradient through a convolution is refused, naming it.
#include "test_common.hpp"

namespace opencv_test { namespace {

#if CV_VERSION_MAJOR >= 5

const char* const kBundled = EXPLAIN_DATA_DIR "/default_model.onnx";

Mat bundledBlob()
{
    RNG rng(17);
    return randomBlob({1, 3, 64, 64}, rng, 0.f, 1.f);
}

const char* const kConv2Refusal =
    "explain: layer '/conv4/Conv' (Conv2) keeps its weights private on OpenCV 5's new engine (its reader repacks "
    "them and frees the originals), so no gradient can pass it: take a target layer after it (Grad-CAM's default "
    "target is one), or, for gradients down to the input, read the model with the classic engine: "
    "cv::explain::readNet(model) (Python: cv2.explain.readNet(model)) or cv::dnn::readNet(model, \"\", \"\", "
    "cv::dnn::ENGINE_CLASSIC), or run the program with the environment variable OPENCV_FORCE_DNN_ENGINE=1";

TEST(NewEngine, ForwardIsTheNetsOwn)
{
    dnn::Net net = dnn::readNet(kBundled);
    ASSERT_FALSE(net.getMainGraph().empty()) << "readNet's default is expected to be the new engine";
    const Mat blob = bundledBlob();
    net.setInput(blob);
    const Mat before = net.forward().clone();
    Ptr<GradCAM> cam = GradCAM::create(net);
    Mat scores;
    cam->forward(blob, scores);
    EXPECT_LE(relDiff(scores, before.reshape(1, 1)), 1e-6);
    std::vector<Mat> maps;
    cam->compute(-1, maps);
    EXPECT_EQ(cam->getLayerName(), "/conv4/Conv");  // the last layer with a spatial output, not a layout move
    EXPECT_EQ(cam->getScoreLayerName(), "/fc/Gemm");
    net.setInput(blob);
    EXPECT_EQ(cv::norm(net.forward(), before, NORM_INF), 0.0) << "the user's own forward pass changed";
}

/** Every CAM method the new engine serves, and their counterfactuals, against the classic engine. */
TEST(NewEngine, CamMethodsEqualTheClassicEngine)
{
    const Mat blob = bundledBlob();
    dnn::Net fresh = dnn::readNet(kBundled), classic = explain::readNet(kBundled);
    Ptr<GradCAM> a = GradCAM::create(fresh), b = GradCAM::create(classic, "onnx_node!/relu4/Relu");
    a->forward(blob);
    b->forward(blob);
    const int methods[] = {CAM_GRADCAM, CAM_GRADCAM_PLUS_PLUS, CAM_XGRADCAM, CAM_HIRESCAM, CAM_GRADCAM_ELEMENTWISE,
                           CAM_LAYERCAM, CAM_EIGENCAM, CAM_EIGENGRADCAM, CAM_SCORECAM};
    for (int method : methods)
    {
        a->setMethod(method);
        b->setMethod(method);
        std::vector<Mat> mapsA, counterA, mapsB, counterB;
        const bool counterfactual = method != CAM_EIGENCAM;  // the one method that does not depend on the target
        if (counterfactual)
        {
            a->compute(2, mapsA, counterA);
            b->compute(2, mapsB, counterB);
            EXPECT_LE(relDiff(counterA[0], counterB[0]), 1e-5) << "method " << method << " counterfactual";
        }
        else
        {
            a->compute(2, mapsA);
            b->compute(2, mapsB);
        }
        ASSERT_EQ(mapsA.size(), 1u);
        EXPECT_GT(cv::norm(mapsB[0]), 0.0) << "method " << method;
        EXPECT_LE(relDiff(mapsA[0], mapsB[0]), 1e-5) << "method " << method;
    }
    a->setMethod(CAM_GRADCAM);
    b->setMethod(CAM_GRADCAM);
    std::vector<Mat> augA, augB;
    a->computeAugSmooth(2, augA);
    b->computeAugSmooth(2, augB);
    EXPECT_LE(relDiff(augA[0], augB[0]), 1e-5) << "aug smooth";
}

/** A layer of the new engine is also found by the name of its output tensor: here the ReLU fused into
    the convolution. */
TEST(NewEngine, TargetByOutputTensorName)
{
    const Mat blob = bundledBlob();
    dnn::Net net = dnn::readNet(kBundled);
    Ptr<GradCAM> byLayer = GradCAM::create(net, "/conv4/Conv"), byTensor = GradCAM::create(net, "/relu4/Relu_output_0");
    std::vector<Mat> a, b;
    byLayer->forward(blob);
    byLayer->compute(1, a);
    byTensor->forward(blob);
    byTensor->compute(1, b);
    EXPECT_EQ(cv::norm(a[0], b[0], NORM_INF), 0.0);
}

TEST(NewEngine, GradientsThroughAConvolutionAreRefused)
{
    const Mat blob = bundledBlob();
    dnn::Net net = dnn::readNet(kBundled);
    Ptr<GradCAM> cam = GradCAM::create(net);
    cam->forward(blob);
    Mat grad;
    expectError([&] { cam->inputGradient(-1, grad); }, kConv2Refusal);
    expectError([&] { cam->guidedGradCAM(-1, grad); }, kConv2Refusal);
    // a target before the last convolution: its gradient would pass that convolution
    Ptr<GradCAM> early = GradCAM::create(net, "/pool3/MaxPool");
    early->forward(blob);
    std::vector<Mat> maps;
    expectError([&] { early->compute(-1, maps); }, kConv2Refusal);
    cam->setMethod(CAM_ABLATIONCAM);
    expectError([&] { cam->compute(-1, maps); },
                "explain: Ablation-CAM re-runs the layers after the target as a Net of their own, which OpenCV 5's "
                "new engine cannot build; use Score-CAM, or read the model with the classic engine: "
                "cv::explain::readNet(model) (Python: cv2.explain.readNet(model)) or cv::dnn::readNet(model, \"\", \"\", "
                "cv::dnn::ENGINE_CLASSIC), or run the program with the environment variable OPENCV_FORCE_DNN_ENGINE=1");
}

/** The faithfulness metrics score perturbed inputs through the new engine's own forward pass. */
TEST(NewEngine, MetricsEqualTheClassicEngine)
{
    const Mat blob = bundledBlob();
    dnn::Net fresh = dnn::readNet(kBundled), classic = explain::readNet(kBundled);
    Ptr<GradCAM> cam = GradCAM::create(classic);
    std::vector<Mat> maps;
    cam->forward(blob);
    cam->compute(1, maps);
    Mat saliency;
    resize(maps[0], saliency, Size(64, 64));
    const DeletionInsertionResult a = deletionInsertion(fresh, blob, saliency, 1, "", 10);
    const DeletionInsertionResult b = deletionInsertion(classic, blob, saliency, 1, "", 10);
    EXPECT_GT(b.auc, 0.0);
    EXPECT_NEAR(a.auc, b.auc, 1e-5);
}

#endif

}} // namespace
