// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// Beyond classification: multi-input nets, segmentation masks and detection scores as targets.
#include "test_common.hpp"

namespace opencv_test { namespace {

/** image -> conv -> relu -> GAP -> flatten (4); question (6) -> fc (4); product -> fc (3). */
dnn::Net makeVqaNet(RNG& rng)
{
    dnn::Net net;
    net.setInputsNames({"image", "question"});
    int c = addLayer(net, "conv", "Convolution", convParams(4, 3, 3, rng, 1, 1, 1), {});
    net.connect(0, 0, c, 0);
    int r = addLayer(net, "relu", "ReLU", dnn::LayerParams(), {c});
    dnn::LayerParams gp;
    gp.set("pool", "ave"); gp.set("global_pooling", true);
    int gap = addLayer(net, "gap", "Pooling", gp, {r});
    int flat = addLayer(net, "flat", "Flatten", dnn::LayerParams(), {gap});
    dnn::LayerParams q;
    q.set("num_output", 4); q.set("bias_term", true);
    q.blobs = {randomBlob({4, 6}, rng), randomBlob({1, 4}, rng)};
    int fq = addLayer(net, "qfc", "InnerProduct", q, {});
    net.connect(0, 1, fq, 0);
    dnn::LayerParams prod;
    prod.set("operation", "prod");
    int m = addLayer(net, "merge", "Eltwise", prod, {flat, fq});
    dnn::LayerParams fc;
    fc.set("num_output", 3); fc.set("bias_term", false);
    fc.blobs = {randomBlob({3, 4}, rng)};
    addLayer(net, "answer", "InnerProduct", fc, {m});
    return net;
}

TEST(Tasks, MultiInputGradientsAndGradCAM)
{
    RNG rng(601);
    dnn::Net net = makeVqaNet(rng);
    Mat image = randomBlob({2, 3, 6, 6}, rng), question = randomBlob({2, 6}, rng);
    // the image gradient with the question held fixed
    GradientCheckResult res = checkInputGradient(net, image, "answer", 7, 1e-2, 120, Mat(), {question},
                                                 {"image", "question"});
    EXPECT_GT(res.checked, 50);
    EXPECT_LE(res.maxError, 2e-2);
    // the question gradient with the image held fixed, by its input name
    GradientCheckResult resQ = checkInputGradient(net, question, "answer", 8, 1e-2, 120, Mat(), {image},
                                                  {"question", "image"});
    EXPECT_GT(resQ.checked, 8);
    EXPECT_LE(resQ.maxError, 2e-2);

    Ptr<GradCAM> cam = GradCAM::create(net);
    Mat scores;
    cam->forwardInputs(std::vector<Mat>{image, question}, {"image", "question"}, scores);
    EXPECT_EQ(cam->getLayerName(), "relu");
    EXPECT_EQ(scores.size(), Size(3, 2));
    std::vector<Mat> maps;
    cam->compute(1, maps);
    ASSERT_EQ(maps.size(), 2u);
    EXPECT_EQ(maps[0].size(), Size(6, 6));
    Mat g;
    std::vector<Mat> grads;
    cam->getBackprop()->backward({"answer"}, {Mat(Mat::ones(2, 3, CV_32F))}, {"question"}, grads);
    EXPECT_EQ(dnn::shape(grads[0]), dnn::shape(question));
    try { cam->smoothGrad(0, g); ADD_FAILURE(); }
    catch (const cv::Exception& e) { EXPECT_EQ(e.err, "explain: SmoothGrad needs a single-input Net"); }
    expectError([&] { cam->forwardInputs(std::vector<Mat>{image, image}, {"image", "image"}); },
                "explain: the Net input 0 ('image') is given twice");
    try { cam->forwardInputs(std::vector<Mat>{image}, {"image"}); ADD_FAILURE(); }
    catch (const cv::Exception& e)
    {
        EXPECT_EQ(e.err.rfind("explain: the forward pass failed for an input blob of shape [2 x 3 x 6 x 6]", 0), 0u) << e.err;
    }
}

/** conv(stride 2) -> relu -> deconv(stride 2) -> relu -> conv 1x1 to 3 class logits per pixel. */
dnn::Net makeSegmentationNet(RNG& rng)
{
    dnn::Net net;
    int c1 = addLayer(net, "enc", "Convolution", convParams(4, 3, 3, rng, 1, 2, 1), {0});
    int r1 = addLayer(net, "enc_relu", "ReLU", dnn::LayerParams(), {c1});
    dnn::LayerParams up;
    up.set("kernel_size", 2); up.set("num_output", 4); up.set("stride", 2); up.set("bias_term", true);
    up.blobs = {randomBlob({4, 4, 2, 2}, rng, -0.5f, 0.5f), randomBlob({1, 4}, rng)};
    int d = addLayer(net, "dec", "Deconvolution", up, {r1});
    int r2 = addLayer(net, "dec_relu", "ReLU", dnn::LayerParams(), {d});
    addLayer(net, "logits", "Convolution", convParams(3, 4, 1, rng), {r2});
    return net;
}

TEST(Tasks, SegmentationMaskTarget)
{
    RNG rng(602);
    dnn::Net net = makeSegmentationNet(rng);
    Mat x = randomBlob({1, 3, 8, 8}, rng);
    // target: the sum of class-2 logits over a rectangular mask
    Mat seed(std::vector<int>{1, 3, 8, 8}, CV_32F, Scalar(0));
    Mat plane(8, 8, CV_32F, seed.ptr<float>(0, 2));
    plane(Rect(2, 3, 4, 3)).setTo(1.f);
    GradientCheckResult res = checkInputGradient(net, x, "logits", 0, 1e-2, 120, seed);
    EXPECT_GT(res.checked, 50);
    EXPECT_LE(res.maxError, 2e-2);
    Ptr<GradCAM> cam = GradCAM::create(net, "enc_relu", "logits");
    cam->forward(x);
    std::vector<Mat> maps, counter;
    cam->computeFromGradient("logits", seed, maps, counter);
    ASSERT_EQ(maps.size(), 1u);
    EXPECT_EQ(maps[0].size(), Size(4, 4));
    // linear in the target: the map of 2*mask equals twice the map of the mask
    std::vector<Mat> maps2;
    cam->computeFromGradient("logits", Mat(seed * 2), maps2);
    EXPECT_LE(cv::norm(maps2[0], Mat(2 * maps[0]), NORM_INF), 1e-5 * std::max(1.0, cv::norm(maps2[0], NORM_INF)));
}

TEST(Tasks, DetectionScoreTarget)
{
    // A single-shot head: per cell (x, y, w, h, objectness, 2 class logits); explain one cell's class.
    RNG rng(603);
    dnn::Net net;
    int c1 = addLayer(net, "backbone", "Convolution", convParams(6, 3, 3, rng, 1, 1, 1), {0});
    int r1 = addLayer(net, "backbone_relu", "ReLU", dnn::LayerParams(), {c1});
    addLayer(net, "head", "Convolution", convParams(7, 6, 1, rng), {r1});
    Mat x = randomBlob({1, 3, 5, 5}, rng);
    Mat seed(std::vector<int>{1, 7, 5, 5}, CV_32F, Scalar(0));
    seed.at<float>(std::vector<int>{0, 5, 2, 3}.data()) = 1.f;  // class 0 logit of cell (row 2, col 3)
    GradientCheckResult res = checkInputGradient(net, x, "head", 0, 1e-2, 120, seed);
    EXPECT_GT(res.checked, 20);
    EXPECT_LE(res.maxError, 2e-2);
    Ptr<GradCAM> cam = GradCAM::create(net, "backbone_relu", "head");
    cam->forward(x);
    std::vector<Mat> maps;
    // HiResCAM keeps the gradient's position: only the cell's 1x1 receptive field in backbone_relu
    // reaches a 1x1 head (Grad-CAM would average it over the map)
    cam->setMethod(CAM_HIRESCAM);
    cam->computeFromGradient("head", seed, maps);
    Mat m = maps[0].clone();
    m.at<float>(2, 3) = 0.f;
    EXPECT_EQ(countNonZero(m), 0);
}

}} // namespace
