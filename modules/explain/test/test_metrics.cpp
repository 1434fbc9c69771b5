// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// Localization and evaluation metrics: definitions on cases whose answer is known by hand, nets whose
// score is linear in the pixels, and the error messages.
#include "test_common.hpp"
#include <opencv2/imgproc.hpp>

namespace opencv_test { namespace {

/** One InnerProduct layer "fc": scores = weights (K x D) * flattened input + bias. */
dnn::Net linearNet(const Mat& weights, const Mat& bias)
{
    dnn::Net net;
    dnn::LayerParams fc;
    fc.set("num_output", weights.rows);
    fc.set("bias_term", true);
    fc.blobs = {weights.clone(), bias.reshape(1, 1).clone()};
    addLayer(net, "fc", "InnerProduct", fc, {0});
    return net;
}

Mat row(const std::vector<float>& v)
{
    return Mat(v, true).reshape(1, 1);
}

Mat blobOf(const std::vector<int>& shape, float value)
{
    return Mat(shape, CV_32F, Scalar(value));
}

// ---------------------------------------------------------------------------------------------
// localization

TEST(Localization, BoxOfTheLargestBlob)
{
    Mat map = Mat::zeros(30, 40, CV_32F);
    map(Rect(2, 3, 10, 8)).setTo(1.f);     // 80 pixels
    map(Rect(30, 20, 4, 4)).setTo(0.9f);   // 16 pixels, nearly as strong
    EXPECT_EQ(mapToBoundingBox(map, Size(40, 30)), Rect(2, 3, 10, 8));
}

TEST(Localization, Threshold)
{
    Mat map = Mat::zeros(20, 20, CV_32F);
    map(Rect(1, 1, 2, 2)).setTo(1.f);      // strong and small
    map(Rect(10, 10, 6, 6)).setTo(0.25f);  // weak and large
    EXPECT_EQ(mapToBoundingBox(map, map.size()), Rect(10, 10, 6, 6));        // 0.15: both, the larger wins
    EXPECT_EQ(mapToBoundingBox(map, map.size(), 0.25), Rect(10, 10, 6, 6));  // >= threshold is foreground
    EXPECT_EQ(mapToBoundingBox(map, map.size(), 0.5), Rect(1, 1, 2, 2));
    Mat seed;
    mapToSegmentationSeed(map, map.size(), seed);
    ASSERT_EQ(seed.type(), CV_8UC1);
    EXPECT_EQ(countNonZero(seed), 4 + 36);
    EXPECT_EQ(countNonZero(seed == 255), 4 + 36);
    mapToSegmentationSeed(map, map.size(), seed, 0.5);
    EXPECT_EQ(countNonZero(seed), 4);
    EXPECT_EQ(seed.at<uchar>(1, 1), 255);
}

TEST(Localization, BilinearUpsampling)
{
    // 2x2 -> 8x8 with half-pixel centres: each axis samples [1, 1, .875, .625, .375, .125, 0, 0] of
    // the corner value, the map is the product of the two profiles.
    Mat map = (Mat_<float>(2, 2) << 1, 0, 0, 0);
    EXPECT_EQ(mapToBoundingBox(map, Size(8, 8)), Rect(0, 0, 5, 5));        // .375 >= .15 > .125
    EXPECT_EQ(mapToBoundingBox(map, Size(8, 8), 0.5), Rect(0, 0, 4, 4));   // .625 >= .5 > .375
}

TEST(Localization, EightConnectivity)
{
    Mat map = Mat::zeros(10, 20, CV_8U);
    map(Rect(0, 0, 2, 2)).setTo(1);    // 4 pixels, touches the next square diagonally
    map(Rect(2, 2, 3, 3)).setTo(1);    // 9 pixels: together 13
    map(Rect(10, 0, 5, 2)).setTo(1);   // 10 pixels
    EXPECT_EQ(mapToBoundingBox(map, map.size()), Rect(0, 0, 5, 5));
}

TEST(Localization, DegenerateMaps)
{
    EXPECT_EQ(mapToBoundingBox(Mat::zeros(4, 4, CV_32F), Size(16, 16)), Rect());
    EXPECT_EQ(mapToBoundingBox(Mat(4, 4, CV_32F, Scalar(-1)), Size(16, 16)), Rect());
    EXPECT_EQ(mapToBoundingBox(Mat(4, 4, CV_32F, Scalar(2)), Size(16, 12)), Rect(0, 0, 16, 12));
    Mat seed;
    mapToSegmentationSeed(Mat::zeros(4, 4, CV_32F), Size(8, 8), seed);
    EXPECT_EQ(seed.size(), Size(8, 8));
    EXPECT_EQ(countNonZero(seed), 0);
}

TEST(PointingGame, HitMissTolerance)
{
    Mat map = Mat::zeros(20, 20, CV_32F);
    map.at<float>(7, 5) = 1.f;  // the maximum at x = 5, y = 7
    map.at<float>(15, 15) = 0.5f;
    const Size s = map.size();
    EXPECT_TRUE(pointingGame(map, s, {Rect(4, 6, 3, 3)}));
    EXPECT_TRUE(pointingGame(map, s, {Rect(5, 7, 1, 1)}));
    EXPECT_FALSE(pointingGame(map, s, {Rect(6, 7, 1, 1)}));
    EXPECT_FALSE(pointingGame(map, s, {Rect(10, 10, 8, 8)}));
    EXPECT_TRUE(pointingGame(map, s, {Rect(10, 10, 8, 8), Rect(0, 0, 6, 8)}));  // any box
    // a box 3 pixels to the right
    EXPECT_FALSE(pointingGame(map, s, {Rect(8, 7, 2, 2)}, 2));
    EXPECT_TRUE(pointingGame(map, s, {Rect(8, 7, 2, 2)}, 3));
    // a box 3 right and 4 down: Euclidean distance 5
    EXPECT_FALSE(pointingGame(map, s, {Rect(8, 11, 2, 2)}, 4));
    EXPECT_TRUE(pointingGame(map, s, {Rect(8, 11, 2, 2)}, 5));
    // a constant map has no maximum
    EXPECT_FALSE(pointingGame(Mat::zeros(4, 4, CV_32F), s, {Rect(0, 0, 20, 20)}));
}

TEST(PointingGame, UpsampledMapAndMask)
{
    // 2x2 -> 8x8: the value 1 covers x, y >= 6; the first maximum in raster order is (6, 6)
    Mat map = (Mat_<float>(2, 2) << 0, 0, 0, 1);
    EXPECT_TRUE(pointingGame(map, Size(8, 8), {Rect(6, 6, 2, 2)}));
    EXPECT_FALSE(pointingGame(map, Size(8, 8), {Rect(0, 0, 6, 6)}));
    EXPECT_FALSE(pointingGame(map, Size(8, 8), {Rect(0, 0, 6, 6)}, 1));  // distance sqrt(2)
    EXPECT_TRUE(pointingGame(map, Size(8, 8), {Rect(0, 0, 6, 6)}, 2));

    Mat mask = Mat::zeros(8, 8, CV_8U);
    mask(Rect(0, 0, 6, 6)).setTo(1);
    EXPECT_FALSE(pointingGame(map, mask));
    EXPECT_FALSE(pointingGame(map, mask, 1));
    EXPECT_TRUE(pointingGame(map, mask, 2));
    mask.at<uchar>(6, 6) = 255;
    EXPECT_TRUE(pointingGame(map, mask));
}

// ---------------------------------------------------------------------------------------------
// deletion / insertion

// Score = sum of w * x with x = 1 and per-pixel weights .1 .4 .2 .3; the saliency orders the pixels
// as the weights do, so deletion removes .4, .3, .2, .1: the curve is 1, .6, .3, .1, 0.
struct LinearCase
{
    Mat blob = blobOf({1, 1, 1, 4}, 1.f);
    Mat saliency = row({0.1f, 0.9f, 0.5f, 0.7f});
    dnn::Net net = linearNet(row({0.1f, 0.4f, 0.2f, 0.3f}), row({0.f}));
};

TEST(DeletionInsertion, LinearScoreDeletionCurve)
{
    LinearCase c;
    DeletionInsertionResult r = deletionInsertion(c.net, c.blob, c.saliency, 0, "", 4, true, noArray(), false);
    const double xs[] = {0, .25, .5, .75, 1}, ys[] = {1, .6, .3, .1, 0};
    ASSERT_EQ(r.scores.size(), 5u);
    for (int k = 0; k < 5; k++)
    {
        EXPECT_NEAR(r.fractions[k], xs[k], 1e-12);
        EXPECT_NEAR(r.scores[k], ys[k], 1e-6);
    }
    EXPECT_NEAR(r.auc, 0.25 * (0.5 + 0.6 + 0.3 + 0.1 + 0), 1e-6);  // 0.375
    // 2 steps of 2 pixels: 1, .3, 0
    r = deletionInsertion(c.net, c.blob, c.saliency, 0, "", 2, true, noArray(), false);
    EXPECT_NEAR(r.auc, 0.5 * (0.5 + 0.3 + 0), 1e-6);
    // 3 steps: round(4k/3) = 0, 1, 3, 4 pixels: x = 0, .25, .75, 1 and the curve 1, .6, .1, 0
    r = deletionInsertion(c.net, c.blob, c.saliency, 0, "", 3, true, noArray(), false);
    ASSERT_EQ(r.fractions.size(), 4u);
    EXPECT_NEAR(r.fractions[2], 0.75, 1e-12);
    EXPECT_NEAR(r.auc, 0.25 * 0.8 + 0.5 * 0.35 + 0.25 * 0.05, 1e-6);  // 0.3875
}

TEST(DeletionInsertion, LinearScoreInsertionCurve)
{
    LinearCase c;
    Mat zeros = blobOf({1, 1, 1, 4}, 0.f);
    DeletionInsertionResult r = deletionInsertion(c.net, c.blob, c.saliency, 0, "", 4, false, zeros, false);
    const double ys[] = {0, .4, .7, .9, 1};
    for (int k = 0; k < 5; k++)
        EXPECT_NEAR(r.scores[k], ys[k], 1e-6);
    EXPECT_NEAR(r.auc, 0.25 * (0 + 0.4 + 0.7 + 0.9 + 0.5), 1e-6);  // 0.625
    // a baseline of 0.5 for deletion: the curve is 1, .8, .65, .55, .5
    r = deletionInsertion(c.net, c.blob, c.saliency, 0, "", 4, true, blobOf({1, 1, 1, 4}, 0.5f), false);
    EXPECT_NEAR(r.auc, 0.25 * (0.5 + 0.8 + 0.65 + 0.55 + 0.25), 1e-6);
}

TEST(DeletionInsertion, AllChannelsOfAPixelTogether)
{
    // 2 channels of 2x2: pixel weights .1 .4 / .2 .3, split over the channels
    Mat w = (Mat_<float>(1, 8) << 0.05f, 0.2f, 0.1f, 0.15f, 0.05f, 0.2f, 0.1f, 0.15f);
    dnn::Net net = linearNet(w, row({0.f}));
    Mat saliency = (Mat_<float>(2, 2) << 0.1f, 0.9f, 0.5f, 0.7f);
    DeletionInsertionResult r = deletionInsertion(net, blobOf({1, 2, 2, 2}, 1.f), saliency, 0, "", 4, true,
                                                  noArray(), false);
    EXPECT_NEAR(r.auc, 0.375, 1e-6);
}

TEST(DeletionInsertion, SoftmaxDefaultBaselineAndBatches)
{
    RNG rng(501);
    dnn::Net net = linearNet(randomBlob({3, 2 * 16 * 16}, rng, -0.1f, 0.1f), randomBlob({1, 3}, rng));
    Mat blob = randomBlob({1, 2, 16, 16}, rng, 0.f, 1.f);
    Mat saliency = randomBlob({16, 16}, rng);
    // the first point is the softmax probability of the unchanged image
    net.setInput(blob);
    Mat logits = net.forward("fc").clone();
    Mat e;
    exp(logits, e);
    const double p1 = e.at<float>(1) / sum(e)[0];
    DeletionInsertionResult r = deletionInsertion(net, blob, saliency, 1);
    ASSERT_EQ(r.scores.size(), 31u);
    EXPECT_NEAR(r.scores[0], p1, 1e-6);
    EXPECT_NEAR(r.fractions.back(), 1.0, 1e-12);
    // batch sizes do not matter
    for (int bs : {1, 7, 64})
    {
        DeletionInsertionResult rb = deletionInsertion(net, blob, saliency, 1, "", 30, true, noArray(), true, bs);
        for (size_t k = 0; k < r.scores.size(); k++)
            EXPECT_NEAR(rb.scores[k], r.scores[k], 1e-6) << "batch " << bs;
    }
    // the default insertion baseline: each channel blurred with sigma = max(H, W) / 16
    Mat blurred(4, blob.size.p, CV_32F);
    for (int c = 0; c < 2; c++)
    {
        Mat src(16, 16, CV_32F, blob.ptr<float>(0, c)), dst(16, 16, CV_32F, blurred.ptr<float>(0, c));
        GaussianBlur(src, dst, Size(), 1.0, 1.0, BORDER_REFLECT_101);
    }
    DeletionInsertionResult a = deletionInsertion(net, blob, saliency, 1, "", 10, false);
    DeletionInsertionResult b = deletionInsertion(net, blob, saliency, 1, "", 10, false, blurred);
    for (size_t k = 0; k < a.scores.size(); k++)
        EXPECT_EQ(a.scores[k], b.scores[k]);
    EXPECT_NEAR(a.scores.back(), p1, 1e-6);  // everything inserted: the image itself
    // a Softmax output is already a probability: no second softmax
    dnn::LayerParams sp;
    addLayer(net, "prob", "Softmax", sp, {net.getLayerId("fc")});
    DeletionInsertionResult s = deletionInsertion(net, blob, saliency, 1);
    for (size_t k = 0; k < r.scores.size(); k++)
        EXPECT_NEAR(s.scores[k], r.scores[k], 1e-6);
    // raw logits of a named layer
    DeletionInsertionResult raw = deletionInsertion(net, blob, saliency, 1, "fc", 30, true, noArray(), false);
    EXPECT_NEAR(raw.scores[0], logits.at<float>(1), 1e-5);
}

TEST(DeletionInsertion, NetOutputUnchanged)
{
    RNG rng(502);
    dnn::Net net = linearNet(randomBlob({3, 16}, rng), randomBlob({1, 3}, rng));
    Mat x = randomBlob({1, 1, 4, 4}, rng);
    net.setInput(x);
    Mat before = net.forward().clone();
    deletionInsertion(net, x, randomBlob({4, 4}, rng), 2, "", 5);
    net.setInput(x);
    EXPECT_EQ(cv::norm(net.forward(), before, NORM_INF), 0.0);
}

// ---------------------------------------------------------------------------------------------
// Average Drop / Increase in Confidence

TEST(AverageDrop, MeanScoreNet)
{
    // class 0 = mean(x), class 1 = 1 - mean(x), raw scores; maps 0..15 normalize to k / 15, mean 0.5.
    Mat w(2, 16, CV_32F);
    w.row(0).setTo(1.f / 16);
    w.row(1).setTo(-1.f / 16);
    dnn::Net net = linearNet(w, row({0.f, 1.f}));
    Mat blobs(std::vector<int>{2, 1, 4, 4}, CV_32F);
    Mat(16, 1, CV_32F, blobs.ptr<float>(0)).setTo(1.f);
    Mat(16, 1, CV_32F, blobs.ptr<float>(1)).setTo(0.25f);
    Mat map(4, 4, CV_32F);
    for (int i = 0; i < 16; i++)
        map.at<float>(i) = (float)i;
    std::vector<Mat> maps{map, map};
    // image 0, class 0: Y = 1, O = 0.5: drop 50 %.
    // image 1, class 1: Y = 0.75, O = 1 - 0.25 * 0.5 = 0.875: no drop, an increase.
    double drop = -1, increase = -1;
    Mat scores;
    averageDropIncrease(net, blobs, maps, {0, 1}, drop, increase, "", false, 16, scores);
    EXPECT_NEAR(drop, 25.0, 1e-4);
    EXPECT_NEAR(increase, 50.0, 1e-12);
    ASSERT_EQ(scores.size(), Size(2, 2));
    EXPECT_NEAR(scores.at<double>(0, 0), 1.0, 1e-6);
    EXPECT_NEAR(scores.at<double>(0, 1), 0.5, 1e-6);
    EXPECT_NEAR(scores.at<double>(1, 0), 0.75, 1e-6);
    EXPECT_NEAR(scores.at<double>(1, 1), 0.875, 1e-6);
    // no class ids: the top class of each image is the same here
    averageDropIncrease(net, blobs, maps, {}, drop, increase, "", false, 1);
    EXPECT_NEAR(drop, 25.0, 1e-4);
    EXPECT_NEAR(increase, 50.0, 1e-12);
    // maps at a lower resolution are upsampled (bilinear): the 1 x 2 map [0, 1] becomes rows of
    // [0, .25, .75, 1] and [1, 0] rows of [1, .75, .25, 0]: the mean is 0.5 again
    averageDropIncrease(net, blobs, std::vector<Mat>{row({0.f, 1.f}), row({1.f, 0.f})}, {0, 1}, drop, increase, "",
                        false, 16, scores);
    EXPECT_NEAR(drop, 25.0, 1e-4);
    EXPECT_NEAR(increase, 50.0, 1e-12);
    EXPECT_NEAR(scores.at<double>(1, 1), 0.875, 1e-6);
}

// ---------------------------------------------------------------------------------------------
// ROAD

TEST(ROAD, ImputationByHand)
{
    // 3x3, centre removed: 1/6 * 6 (right) + 1/12 * 12 (bottom right) = 2
    Mat blob = (Mat_<float>(1, 9) << 0, 0, 0, 0, 99, 6, 0, 0, 12);
    blob = blob.reshape(1, std::vector<int>{1, 1, 3, 3});
    Mat mask = Mat::zeros(3, 3, CV_8U), out;
    mask.at<uchar>(1, 1) = 1;
    noisyLinearImputation(blob, mask, out, 0);
    EXPECT_NEAR(out.ptr<float>()[4], 2.0, 1e-6);
    EXPECT_EQ(out.ptr<float>()[5], 6.f);
    // the corner (0, 0): neighbours right (1/6), below (1/6), diagonal (1/12), normalized by 5/12
    Mat b2 = (Mat_<float>(1, 9) << 99, 6, 0, 0, 12, 0, 0, 0, 0);
    b2 = b2.reshape(1, std::vector<int>{1, 1, 3, 3});
    mask = Mat::zeros(3, 3, CV_8U);
    mask.at<uchar>(0, 0) = 1;
    noisyLinearImputation(b2, mask, out, 0);
    EXPECT_NEAR(out.ptr<float>()[0], (6.0 / 6 + 12.0 / 12) / (5.0 / 12), 1e-5);  // 4.8
}

TEST(ROAD, ImputationReproducesConstantAndLinearFields)
{
    RNG rng(503);
    Mat blob(std::vector<int>{1, 3, 12, 10}, CV_32F);
    for (int c = 0; c < 3; c++)
        Mat(12, 10, CV_32F, blob.ptr<float>(0, c)).setTo(0.5f + c);
    Mat mask(12, 10, CV_8U);
    rng.fill(mask, RNG::UNIFORM, 0, 2);  // about half the pixels, borders included
    mask.at<uchar>(0, 0) = 0;
    Mat out;
    noisyLinearImputation(blob, mask, out, 0);
    EXPECT_LE(cv::norm(out, blob, NORM_INF), 1e-5);
    // a linear field is reproduced where all 8 neighbours exist (weights are symmetric)
    Mat ramp(std::vector<int>{1, 1, 8, 8}, CV_32F);
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 8; x++)
            ramp.ptr<float>()[y * 8 + x] = 0.3f * x - 0.2f * y + 1.f;
    mask = Mat::zeros(8, 8, CV_8U);
    mask(Rect(2, 1, 5, 5)).setTo(1);
    noisyLinearImputation(ramp, mask, out, 0);
    EXPECT_LE(cv::norm(out, ramp, NORM_INF), 1e-5);
}

TEST(ROAD, ImputationNoise)
{
    Mat blob = blobOf({1, 1, 40, 40}, 0.5f);
    Mat mask = Mat::zeros(40, 40, CV_8U);
    mask(Rect(5, 5, 30, 30)).setTo(1);
    Mat a, b, c;
    noisyLinearImputation(blob, mask, a, 0.01, 7);
    noisyLinearImputation(blob, mask, b, 0.01, 7);
    noisyLinearImputation(blob, mask, c, 0.01, 8);
    EXPECT_EQ(cv::norm(a, b, NORM_INF), 0.0);
    EXPECT_GT(cv::norm(a, c, NORM_INF), 0.0);
    Mat diff = Mat(a - blob).reshape(1, 40);
    Scalar m, sd;
    meanStdDev(diff(Rect(5, 5, 30, 30)), m, sd);
    EXPECT_NEAR(sd[0], 0.01, 0.001);
    EXPECT_NEAR(m[0], 0.0, 0.002);
    diff(Rect(5, 5, 30, 30)).setTo(0.f);
    EXPECT_EQ(countNonZero(diff), 0);  // kept pixels unchanged
}

TEST(ROAD, ConstantImageKeepsItsScore)
{
    Mat w(1, 3 * 8 * 8, CV_32F, Scalar(1.f / 192));
    dnn::Net net = linearNet(w, row({0.f}));
    Mat blob = blobOf({1, 3, 8, 8}, 0.7f);
    RNG rng(504);
    Mat saliency = randomBlob({8, 8}, rng);
    for (bool morf : {true, false})
    {
        ROADResult r = road(net, blob, saliency, 0, morf, {}, "", 0.0, 0, false);
        ASSERT_EQ(r.percentages.size(), 9u);
        EXPECT_EQ(r.percentages[0], 10.0);
        EXPECT_EQ(r.percentages[8], 90.0);
        EXPECT_NEAR(r.originalScore, 0.7, 1e-6);
        for (double s : r.scores)
            EXPECT_NEAR(s, 0.7, 1e-5);
    }
}

TEST(ROAD, MoRFRemovesTheSalientPixels)
{
    // score = value of pixel (0, 0) of a 4x4 image whose other pixels are 0; the imputed value of a
    // removed pixel (0, 0) is the average of its neighbours (0 when they are kept).
    Mat w = Mat::zeros(1, 16, CV_32F);
    w.at<float>(0) = 1.f;
    dnn::Net net = linearNet(w, row({0.f}));
    Mat blob = blobOf({1, 1, 4, 4}, 0.f);
    blob.ptr<float>()[0] = 1.f;
    Mat saliency = Mat::zeros(4, 4, CV_32F);
    saliency.at<float>(0, 0) = 1.f;
    ROADResult morf = road(net, blob, saliency, 0, true, {10.0}, "", 0.0, 0, false);   // round(1.6) = 2 pixels
    ROADResult lerf = road(net, blob, saliency, 0, false, {10.0}, "", 0.0, 0, false);
    EXPECT_NEAR(morf.scores[0], 0.0, 1e-6);
    EXPECT_NEAR(lerf.scores[0], 1.0, 1e-6);
}

// ---------------------------------------------------------------------------------------------
// Spearman and faithfulness

TEST(Faithfulness, SpearmanWithTies)
{
    // ranks of b = [5, 6, 7, 8, 7] are [1, 2, 3.5, 5, 3.5]: r = 8 / sqrt(10 * 9.5)
    EXPECT_NEAR(spearmanCorrelation(row({1, 2, 3, 4, 5}), row({5, 6, 7, 8, 7})), 8 / std::sqrt(95.0), 1e-12);
    EXPECT_NEAR(spearmanCorrelation(row({1, 2, 3, 4}), row({10, 20, 300, 4000})), 1.0, 1e-12);
    EXPECT_NEAR(spearmanCorrelation(row({1, 2, 3, 4}), row({4, 3, 2, 1})), -1.0, 1e-12);
    EXPECT_NEAR(spearmanCorrelation(row({1, 1, 2, 2}), row({1, 2, 3, 4})), 2 / std::sqrt(5.0), 1e-12);
    EXPECT_EQ(spearmanCorrelation(row({1, 1, 1}), row({1, 2, 3})), 0.0);
    EXPECT_NEAR(spearmanCorrelation(std::vector<double>{3, 1, 2}, std::vector<int>{30, 10, 20}), 1.0, 1e-12);
}

TEST(Faithfulness, LinearScoreNet)
{
    // score = sum w x with x = 1: occluding a 2x2 patch drops the score by its weight sum, and the
    // map w has its patch mean proportional to that: correlation 1 (and -1 for -w).
    RNG rng(505);
    Mat w = randomBlob({1, 16}, rng, 0.f, 1.f);
    dnn::Net net = linearNet(w, row({0.f}));
    Mat blob = blobOf({1, 1, 4, 4}, 1.f);
    Mat map = w.reshape(1, 4), table;
    EXPECT_NEAR(faithfulness(net, blob, map, 0, "", 2, 2, 0, false, 16, table), 1.0, 1e-12);
    ASSERT_EQ(table.size(), Size(2, 4));
    const float* wp = w.ptr<float>();
    EXPECT_NEAR(table.at<double>(0, 1), wp[0] + wp[1] + wp[4] + wp[5], 1e-5);
    EXPECT_NEAR(table.at<double>(0, 0), (wp[0] + wp[1] + wp[4] + wp[5]) / 4, 1e-6);
    EXPECT_NEAR(faithfulness(net, blob, Mat(-map), 0, "", 2, 2, 0, false), -1.0, 1e-12);
    // patch 3 with stride 2 on 4 pixels: positions 0 and 1 (the last touches the border)
    faithfulness(net, blob, map, 0, "", 3, 2, 0, false, 16, table);
    EXPECT_EQ(table.rows, 4);
    // defaults on 16x16: patch 2, stride 1: 15 x 15 positions
    Mat w16 = randomBlob({1, 256}, rng, 0.f, 1.f);
    dnn::Net net16 = linearNet(w16, row({0.f}));
    EXPECT_NEAR(faithfulness(net16, blobOf({1, 1, 16, 16}, 1.f), w16.reshape(1, 16), 0, "", 0, 0, 0, false, 16, table),
                1.0, 1e-12);
    EXPECT_EQ(table.rows, 225);
}

// ---------------------------------------------------------------------------------------------
// errors

TEST(MetricsErrors, Messages)
{
    LinearCase c;
    Mat map = Mat::ones(4, 4, CV_32F);
    expectError([&] { mapToBoundingBox(Mat(), Size(8, 8)); },
                "explain: mapToBoundingBox expects a non-empty single-channel 2D map");
    expectError([&] { mapToBoundingBox(map, Size(8, 8), 1.5); },
                "explain: mapToBoundingBox needs a threshold in [0, 1], got 1.5");
    expectError([&] { mapToBoundingBox(map, Size(0, 8)); }, "explain: mapToBoundingBox got an invalid image size 0x8");
    Mat seed;
    expectError([&] { mapToSegmentationSeed(Mat(2, 2, CV_32FC3), Size(8, 8), seed); },
                "explain: mapToSegmentationSeed expects a non-empty single-channel 2D map");
    expectError([&] { pointingGame(map, Size(8, 8), {}); }, "explain: pointingGame needs at least one ground-truth box");
    expectError([&] { pointingGame(map, Size(8, 8), {Rect(0, 0, 1, 1)}, -1); },
                "explain: pointingGame needs a tolerance >= 0, got -1");
    expectError([&] { pointingGame(map, Mat::zeros(4, 4, CV_32F)); },
                "explain: pointingGame expects a non-empty CV_8UC1 ground-truth mask");

    expectError([&] { deletionInsertion(c.net, blobOf({2, 1, 1, 4}, 1.f), c.saliency, 0); },
                "explain: deletionInsertion expects a float32 1 x C x H x W blob");
    expectError([&] { deletionInsertion(c.net, Mat::ones(1, 4, CV_32F), c.saliency, 0); },
                "explain: deletionInsertion expects a float32 1 x C x H x W blob");
    expectError([&] { deletionInsertion(c.net, c.blob, Mat(), 0); },
                "explain: deletionInsertion expects a non-empty single-channel 2D saliency map");
    expectError([&] { deletionInsertion(c.net, c.blob, map, 0); },
                "explain: deletionInsertion expects a saliency map of the blob's 1 x 4 (H x W) pixels, got 4 x 4; "
                "upsample it with resizeMap()");
    expectError([&] { deletionInsertion(c.net, c.blob, c.saliency, 1, "", 4); },
                "explain: class index 1 is out of range [0, 1) of the scores of layer 'fc'");
    expectError([&] { deletionInsertion(c.net, c.blob, c.saliency, -1, "", 4); },
                "explain: class index -1 is out of range [0, 1) of the scores of layer 'fc'");
    expectError([&] { deletionInsertion(c.net, c.blob, c.saliency, 0, "", 0); },
                "explain: deletionInsertion needs steps >= 1, got 0");
    expectError([&] { deletionInsertion(c.net, c.blob, c.saliency, 0, "", 4, true, noArray(), true, 0); },
                "explain: deletionInsertion needs batchSize >= 1, got 0");
    expectError([&] { deletionInsertion(c.net, c.blob, c.saliency, 0, "", 4, true, blobOf({1, 1, 1, 3}, 0.f)); },
                "explain: deletionInsertion expects a float32 baseline blob of the input blob's shape");
    expectError([&] { deletionInsertion(c.net, c.blob, c.saliency, 0, "scores", 4); },
                "explain: the Net has no layer named 'scores'");
    dnn::Net empty;
    expectError([&] { deletionInsertion(empty, c.blob, c.saliency, 0, "", 4); },
                "explain: the Net is empty; read a model (e.g. cv::dnn::readNet) first");

    double d, i;
    expectError([&] { averageDropIncrease(c.net, c.blob, std::vector<Mat>{}, {}, d, i); },
                "explain: averageDropIncrease expects one map per image: 1 images, 0 maps");
    expectError([&] { averageDropIncrease(c.net, c.blob, std::vector<Mat>{c.saliency}, {0, 0}, d, i); },
                "explain: averageDropIncrease expects one class index per image (or none): 1 images, 2 class indices");
    expectError([&] { averageDropIncrease(c.net, c.blob, std::vector<Mat>{c.saliency}, {3}, d, i); },
                "explain: class index 3 is out of range [0, 1) of the scores of layer 'fc'");
    expectError([&] { averageDropIncrease(c.net, blobOf({1, 1, 1, 4}, 0.f), std::vector<Mat>{c.saliency}, {0}, d, i,
                                          "", false); },
                "explain: averageDropIncrease needs positive scores Y, image 0 has 0; use softmax = true or a positive "
                "score layer");

    Mat out;
    expectError([&] { noisyLinearImputation(c.blob, Mat::ones(1, 4, CV_8U), out); },
                "explain: noisyLinearImputation needs at least one kept pixel (the mask removes all)");
    expectError([&] { noisyLinearImputation(c.blob, Mat::ones(2, 4, CV_8U), out); },
                "explain: noisyLinearImputation expects a CV_8UC1 mask of the blob's 1 x 4 (H x W) pixels");
    expectError([&] { road(c.net, c.blob, c.saliency, 0, true, {50, 100}); },
                "explain: road needs percentages in (0, 100), got 100");
    expectError([&] { road(c.net, c.blob, c.saliency, 0, true, {}, "", -1); },
                "explain: road needs noiseStd >= 0, got -1");
    expectError([&] { spearmanCorrelation(row({1, 2}), row({1, 2, 3})); },
                "explain: spearmanCorrelation expects two single-channel arrays with the same number (>= 2) of values");
    expectError([&] { faithfulness(c.net, c.blob, c.saliency, 0, "", 2); },
                "explain: faithfulness needs a patch size in [1, 1] for a 1 x 4 (H x W) blob, got 2");
}

TEST(MetricsErrors, FixedBatchModel)
{
    // a Reshape to a batch of 1 (1 x -1) cannot take batches
    dnn::Net net;
    dnn::LayerParams rp;
    int shape[] = {1, -1};
    rp.set("dim", DictValue::arrayInt(shape, 2));
    addLayer(net, "flat", "Reshape", rp, {0});
    LinearCase c;
    DeletionInsertionResult one = deletionInsertion(net, c.blob, c.saliency, 0, "", 4, true, noArray(), false, 1);
    EXPECT_EQ(one.scores.size(), 5u);
    expectError([&] { deletionInsertion(net, c.blob, c.saliency, 0, "", 4, true, noArray(), false, 2); },
                "explain: the output of layer 'flat' has no row per image for a batch of 2; if the model takes a "
                "fixed batch size, pass batchSize = 1");
}

}} // namespace
