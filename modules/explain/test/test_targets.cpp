// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// The target helpers (targets.hpp): exact gradients on small hand-made blobs, exact error messages,
// and the same maps as a hand-built seed through GradCAM::computeFromGradient().
#include "test_common.hpp"

namespace opencv_test { namespace {

Mat blob(const std::vector<int>& shape, std::initializer_list<float> values)
{
    Mat m(shape, CV_32F);
    CV_Assert(m.total() == values.size());
    std::copy(values.begin(), values.end(), m.ptr<float>());
    return m;
}

void expectSameBlob(const Mat& actual, const Mat& expected)
{
    ASSERT_EQ(dnn::shape(actual), dnn::shape(expected));
    ASSERT_EQ(actual.type(), CV_32F);
    EXPECT_EQ(cv::norm(actual, expected, NORM_INF), 0.0);
}

TEST(Targets, ClassTargetIsOneHot)
{
    const Mat scores = blob({2, 4}, {0.5f, 3.f, -1.f, 2.f,
                                     4.f, 1.f, 4.f, 0.f});
    Mat grad;
    classTarget(scores, 2, grad);
    expectSameBlob(grad, blob({2, 4}, {0, 0, 1, 0,
                                       0, 0, 1, 0}));
    // -1: the top class of each image, the first on ties
    classTarget(scores, -1, grad);
    expectSameBlob(grad, blob({2, 4}, {0, 1, 0, 0,
                                       1, 0, 0, 0}));
    EXPECT_EQ(scores.dot(grad), 3.0 + 4.0);  // the target's value
    // UMat in, UMat out (an explainer in OpenCL device mode)
    UMat ugrad;
    classTarget(scores.getUMat(ACCESS_READ), -1, ugrad);
    expectSameBlob(ugrad.getMat(ACCESS_READ).clone(), grad);
    // an N x K x 1 x 1 output keeps its shape
    classTarget(blob({1, 3, 1, 1}, {0.f, 2.f, 1.f}), -1, grad);
    expectSameBlob(grad, blob({1, 3, 1, 1}, {0, 1, 0}));
}

TEST(Targets, MaskTargetSumsOneClassOverTheMask)
{
    // 1 x 2 x 2 x 3 logits; the mask is given at twice the output's resolution
    const Mat out = blob({1, 2, 2, 3}, {1, 2, 3,
                                        4, 5, 6,
                                        -1, -2, -3,
                                        -4, -5, -6});
    Mat mask = (Mat_<uchar>(4, 6) << 9, 9, 0, 0, 0, 0,
                                     9, 9, 0, 0, 0, 0,
                                     0, 0, 0, 0, 1, 1,
                                     0, 0, 0, 0, 1, 1);
    Mat grad;
    maskTarget(out, 1, mask, grad);
    expectSameBlob(grad, blob({1, 2, 2, 3}, {0, 0, 0,
                                             0, 0, 0,
                                             1, 0, 0,
                                             0, 0, 1}));
    EXPECT_EQ(out.dot(grad), -1.0 - 6.0);
    // a float mask at the output's size, two images: every image gets the region
    const Mat fmask = (Mat_<float>(2, 3) << 0.f, 0.5f, 0.f, -2.f, 0.f, 0.f);
    maskTarget(Mat(std::vector<int>{2, 2, 2, 3}, CV_32F, Scalar(0)), 0, fmask, grad);
    expectSameBlob(grad, blob({2, 2, 2, 3}, {0, 1, 0,  1, 0, 0,  0, 0, 0,  0, 0, 0,
                                             0, 1, 0,  1, 0, 0,  0, 0, 0,  0, 0, 0}));
}

TEST(Targets, BoxTargetPicksOneClassLogitOfOneCell)
{
    // a grid head, 1 x (5 + 2) x 2 x 2: cell 3 is (row 1, col 1)
    Mat grad;
    Mat grid(std::vector<int>{1, 7, 2, 2}, CV_32F);
    for (int i = 0; i < (int)grid.total(); i++)
        grid.ptr<float>()[i] = (float)i;
    boxTarget(grid, 1, 3, grad);
    Mat expected(std::vector<int>{1, 7, 2, 2}, CV_32F, Scalar(0));
    expected.ptr<float>()[6 * 4 + 3] = 1.f;  // channel 5 + 1, cell 3
    expectSameBlob(grad, expected);
    EXPECT_EQ(grid.dot(grad), 27.0);
    // rows of boxes, 1 x 3 x (5 + 1): box 2, class 0
    boxTarget(Mat(std::vector<int>{1, 3, 6}, CV_32F, Scalar(0)), 0, 2, grad);
    expectSameBlob(grad, blob({1, 3, 6}, {0, 0, 0, 0, 0, 0,
                                          0, 0, 0, 0, 0, 0,
                                          0, 0, 0, 0, 0, 1}));
}

TEST(Targets, WordTargetPicksOneWordOfOneStep)
{
    // 3 steps x 2 images x 4 words: step 1, word 2 for both images
    Mat out(std::vector<int>{3, 2, 4}, CV_32F);
    for (int i = 0; i < (int)out.total(); i++)
        out.ptr<float>()[i] = (float)((i * 7) % 11);
    Mat grad;
    wordTarget(out, 1, 2, grad);
    Mat expected(std::vector<int>{3, 2, 4}, CV_32F, Scalar(0));
    expected.ptr<float>(1, 0)[2] = 1.f;
    expected.ptr<float>(1, 1)[2] = 1.f;
    expectSameBlob(grad, expected);
    EXPECT_EQ(out.dot(grad), out.ptr<float>(1, 0)[2] + out.ptr<float>(1, 1)[2]);
    // -1: each image's top word at step 2 (values (i * 7) % 11 for i = 16..19: 2 9 5 1, and 20..23: 8 4 0 7)
    wordTarget(out, 2, -1, grad);
    expected.setTo(0);
    expected.ptr<float>(2, 0)[1] = 1.f;
    expected.ptr<float>(2, 1)[0] = 1.f;
    expectSameBlob(grad, expected);
}

TEST(Targets, Errors)
{
    Mat grad;
    const Mat scores = blob({2, 4}, {0, 1, 2, 3, 4, 5, 6, 7});
    expectError([&] { classTarget(Mat(), 0, grad); },
                "explain: classTarget: empty scores (expected N x K, or N x K x ...)");
    expectError([&] { classTarget(scores, 4, grad); },
                "explain: classTarget: class index 4 is out of range [0, 4) of the scores [2 x 4] (-1 picks the top class)");
    expectError([&] { classTarget(Mat(2, 4, CV_32FC3, Scalar(0)), 0, grad); },
                "explain: classTarget: scores of 3 channels [2 x 4]; expected a single-channel array");

    const Mat logits(std::vector<int>{1, 3, 4, 4}, CV_32F, Scalar(0));
    const Mat mask = Mat::ones(8, 8, CV_8U);
    expectError([&] { maskTarget(scores, 0, mask, grad); },
                "explain: maskTarget needs an N x C x H x W output (per-pixel logits); got [2 x 4]");
    expectError([&] { maskTarget(logits, 3, mask, grad); },
                "explain: maskTarget: class index 3 is out of range [0, 3) of the channels of the output [1 x 3 x 4 x 4]");
    expectError([&] { maskTarget(logits, -1, mask, grad); },
                "explain: maskTarget: class index -1 is out of range [0, 3) of the channels of the output [1 x 3 x 4 x 4]");
    expectError([&] { maskTarget(logits, 0, Mat(), grad); },
                "explain: maskTarget: empty mask (expected a 2-D array, nonzero pixels: the region)");
    expectError([&] { maskTarget(logits, 0, Mat::ones(8, 8, CV_8UC3), grad); },
                "explain: maskTarget: mask of 3 channels [8 x 8]; expected a single-channel array");
    expectError([&] { maskTarget(logits, 0, Mat(std::vector<int>{1, 1, 4, 4}, CV_8U, Scalar(1)), grad); },
                "explain: maskTarget needs a 2-D mask; got [1 x 1 x 4 x 4]");
    Mat corner = Mat::zeros(8, 8, CV_8U);
    corner.at<uchar>(0, 1) = 255;  // lost when resized nearest to 4 x 4
    expectError([&] { maskTarget(logits, 0, corner, grad); },
                "explain: maskTarget: the mask (8 x 8, resized nearest to the output's 4 x 4) has no nonzero pixel");

    const Mat head(std::vector<int>{1, 7, 2, 3}, CV_32F, Scalar(0));
    expectError([&] { boxTarget(logits, 0, 0, grad); },
                "explain: boxTarget needs an N x (5+K) x H x W or N x B x (5+K) output with K >= 1 "
                "(objectness, 4 box values, K class logits); got [1 x 3 x 4 x 4]");
    expectError([&] { boxTarget(scores, 0, 0, grad); },
                "explain: boxTarget needs an N x (5+K) x H x W or N x B x (5+K) output with K >= 1 "
                "(objectness, 4 box values, K class logits); got [2 x 4]");
    expectError([&] { boxTarget(head, 2, 0, grad); },
                "explain: boxTarget: class index 2 is out of range [0, 2) of the class logits of the output [1 x 7 x 2 x 3]");
    expectError([&] { boxTarget(head, 0, 6, grad); },
                "explain: boxTarget: cell 6 is out of range [0, 6) of the 2 x 3 grid of the output [1 x 7 x 2 x 3] "
                "(cell = row * 3 + col)");
    expectError([&] { boxTarget(Mat(std::vector<int>{1, 4, 6}, CV_32F, Scalar(0)), 0, -1, grad); },
                "explain: boxTarget: box -1 is out of range [0, 4) of the rows of the output [1 x 4 x 6]");
    expectError([&] { boxTarget(Mat(), 0, 0, grad); },
                "explain: boxTarget: empty output (expected N x (5+K) x H x W or N x B x (5+K))");

    const Mat sequence(std::vector<int>{5, 1, 7}, CV_32F, Scalar(0));
    expectError([&] { wordTarget(scores, 0, 0, grad); },
                "explain: wordTarget needs a T x N x V output (steps, images, vocabulary); got [2 x 4]");
    expectError([&] { wordTarget(sequence, 5, 0, grad); },
                "explain: wordTarget: step 5 is out of range [0, 5) of the output [5 x 1 x 7]");
    expectError([&] { wordTarget(sequence, 0, 7, grad); },
                "explain: wordTarget: word index 7 is out of range [0, 7) of the vocabulary of the output [5 x 1 x 7] "
                "(-1 picks the top word)");
    expectError([&] { wordTarget(Mat(), 0, 0, grad); },
                "explain: wordTarget: empty output (expected T x N x V (steps, images, vocabulary))");
}

/** conv 3x3 -> relu -> conv 1x1 "head" with outC channels per pixel (segmentation logits or a detection grid). */
dnn::Net makeHeadNet(RNG& rng, int outC)
{
    dnn::Net net;
    int c1 = addLayer(net, "enc", "Convolution", convParams(4, 3, 3, rng, 1, 1, 1), {0});
    int r1 = addLayer(net, "enc_relu", "ReLU", dnn::LayerParams(), {c1});
    addLayer(net, "head", "Convolution", convParams(outC, 4, 1, rng), {r1});
    return net;
}

TEST(Targets, MapsEqualThoseOfAHandBuiltSeed)
{
    RNG rng(611);
    const Mat x = randomBlob({1, 3, 6, 6}, rng);
    {
        dnn::Net net = makeHeadNet(rng, 3);
        Ptr<GradCAM> cam = GradCAM::create(net, "enc_relu", "head");
        cam->forward(x);
        Mat mask = Mat::zeros(6, 6, CV_8U);
        mask(Rect(1, 2, 3, 2)).setTo(255);
        Mat seed(std::vector<int>{1, 3, 6, 6}, CV_32F, Scalar(0));
        Mat(6, 6, CV_32F, seed.ptr<float>(0, 2)).setTo(1.f, mask);
        Mat grad;
        maskTarget(cam->getBackprop()->getActivation("head"), 2, mask, grad);
        expectSameBlob(grad, seed);
        std::vector<Mat> maps, expected;
        cam->computeFromGradient("head", grad, maps);
        cam->computeFromGradient("head", seed, expected);
        EXPECT_EQ(cv::norm(maps[0], expected[0], NORM_INF), 0.0);
    }
    {
        dnn::Net net = makeHeadNet(rng, 7);
        Ptr<GradCAM> cam = GradCAM::create(net, "enc_relu", "head");
        cam->forward(x);
        Mat grad;
        boxTarget(cam->getBackprop()->getActivation("head"), 1, 2 * 6 + 4, grad);
        Mat seed(std::vector<int>{1, 7, 6, 6}, CV_32F, Scalar(0));
        seed.at<float>(std::vector<int>{0, 6, 2, 4}.data()) = 1.f;
        expectSameBlob(grad, seed);
        Mat g1, g2;
        cam->inputGradientFromGradient("head", grad, g1, RECTIFIER_EXACT);
        cam->inputGradientFromGradient("head", seed, g2, RECTIFIER_EXACT);
        EXPECT_EQ(cv::norm(g1, g2, NORM_INF), 0.0);
    }
}

}} // namespace
