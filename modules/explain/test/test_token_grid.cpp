// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// GradCAM::setTokenGrid: a token layer (N x T x C, or N x H x W x C) read on a grid gives the maps of the
// same net written with N x K x H x W layers. The comparison with autograd and pytorch-grad-cam on token
// models is in test_cam_reference.cpp.
#include "test_common.hpp"
#include <opencv2/explain/gradcam.hpp>

namespace opencv_test { namespace {

const int kGridH = 3, kGridW = 4, kChannels = 5;

/** The 4 x 4 x 3 x 4 patch features, then a per-position linear map + ReLU, then conv 3x3 -> ReLU -> GAP -> FC.
    tokens = true writes the per-position map as tokens: Permute to N x H x W x C ("nhwc"), Reshape to
    N x (H W) x C, InnerProduct on axis 2, ReLU ("target", N x 12 x 5), and back to N x C x H x W for the
    head; false writes it as a 1x1 convolution and ReLU ("target", N x 5 x 3 x 4). Same weights, same
    function. */
dnn::Net patchNet(bool tokens, int prefix = 0)
{
    RNG rng(901);
    dnn::Net net;
    int patch = addLayer(net, "patch", "Convolution", convParams(kChannels, 2, 1, rng), {0});
    const Mat w = randomBlob({kChannels, kChannels}, rng), b = randomBlob({1, kChannels}, rng, -0.2f, 0.2f);
    int target;
    if (tokens)
    {
        dnn::LayerParams toNHWC, toTokens, linear, back, toNCHW;
        const int nhwc[] = {0, 2, 3, 1}, nchw[] = {0, 3, 1, 2};
        toNHWC.set("order", dnn::DictValue::arrayInt(nhwc, 4));
        int p = addLayer(net, "nhwc", "Permute", toNHWC, {patch});
        const int tokenShape[] = {-1, kGridH * kGridW, kChannels};
        toTokens.set("dim", dnn::DictValue::arrayInt(tokenShape, 3));
        int t = addLayer(net, "tokens", "Reshape", toTokens, {p});
        if (prefix > 0)  // constant leading tokens (batch 1), cut off again before the head
        {
            dnn::LayerParams lead, cat;
            lead.blobs = {randomBlob({1, prefix, kChannels}, rng, 2.f, 3.f)};
            int c = addLayer(net, "prefix", "Const", lead, {});
            cat.set("axis", 1);
            t = addLayer(net, "with_prefix", "Concat", cat, {c, t});
        }
        linear.set("num_output", kChannels);
        linear.set("bias_term", true);
        linear.set("axis", 2);
        linear.blobs = {w.clone(), b.clone()};
        int l = addLayer(net, "linear", "InnerProduct", linear, {t});
        target = addLayer(net, "target", "ReLU", dnn::LayerParams(), {l});
        if (prefix > 0)
        {
            dnn::LayerParams cut;
            const int begin[] = {0, prefix}, size[] = {-1, -1};  // -1: to the end
            cut.set("begin", dnn::DictValue::arrayInt(begin, 2));
            cut.set("size", dnn::DictValue::arrayInt(size, 2));
            target = addLayer(net, "grid_tokens", "Slice", cut, {target});
        }
        const int gridShape[] = {-1, kGridH, kGridW, kChannels};
        back.set("dim", dnn::DictValue::arrayInt(gridShape, 4));
        int g = addLayer(net, "grid", "Reshape", back, {target});
        toNCHW.set("order", dnn::DictValue::arrayInt(nchw, 4));
        target = addLayer(net, "nchw", "Permute", toNCHW, {g});
    }
    else
    {
        dnn::LayerParams conv = convParams(kChannels, kChannels, 1, rng);
        conv.blobs = {w.reshape(1, std::vector<int>{kChannels, kChannels, 1, 1}).clone(), b.clone()};
        int c = addLayer(net, "linear", "Convolution", conv, {patch});
        target = addLayer(net, "target", "ReLU", dnn::LayerParams(), {c});
    }
    RNG head(902);
    int c = addLayer(net, "conv", "Convolution", convParams(4, kChannels, 3, head, 1, 1, 1), {target});
    int r = addLayer(net, "relu", "ReLU", dnn::LayerParams(), {c});
    addGapFcHead(net, r, 4, 3, head);
    return net;
}

Mat patchInput(int batch)
{
    RNG rng(903);
    return randomBlob({batch, 2, kGridH, kGridW}, rng);
}

/** The maps of `layer` for a class, on a batch of 2 (1 with prefix tokens: the constant has batch 1). */
std::vector<Mat> mapsOf(dnn::Net net, const String& layer, int cls, bool grid, std::vector<Mat>* counter = nullptr,
                        int prefix = 0)
{
    Ptr<GradCAM> cam = GradCAM::create(net, layer);
    if (grid)
        cam->setTokenGrid(kGridH, kGridW, prefix);
    cam->forward(patchInput(prefix > 0 ? 1 : 2));
    std::vector<Mat> maps, cf;
    cam->compute(cls, maps, cf);
    if (counter)
        *counter = cf;
    return maps;
}

TEST(TokenGrid, TokenLayerGivesTheMapsOfTheSpatialTwin)
{
    for (int cls : {0, 2})
    {
        std::vector<Mat> cfTokens, cfSpatial;
        const std::vector<Mat> tokens = mapsOf(patchNet(true), "target", cls, true, &cfTokens);
        const std::vector<Mat> spatial = mapsOf(patchNet(false), "target", cls, false, &cfSpatial);
        ASSERT_EQ(tokens.size(), 2u);
        for (int n = 0; n < 2; n++)
        {
            ASSERT_EQ(tokens[n].size(), Size(kGridW, kGridH));
            EXPECT_GT(cv::norm(spatial[n]) + cv::norm(cfSpatial[n]), 0) << "class " << cls;  // not trivially equal
            EXPECT_LE(relDiff(tokens[n], spatial[n]), 1e-5) << "class " << cls << ", image " << n;
            EXPECT_LE(relDiff(cfTokens[n], cfSpatial[n]), 1e-5) << "counterfactual, class " << cls << ", image " << n;
        }
    }
}

TEST(TokenGrid, ChannelsLastLayerGivesTheSameMaps)
{
    // "nhwc" is N x H x W x C (Swin's layout); its maps are those of "patch", the N x C x H x W layer before it
    const std::vector<Mat> nhwc = mapsOf(patchNet(true), "nhwc", 1, true);
    const std::vector<Mat> nchw = mapsOf(patchNet(true), "patch", 1, false);
    for (int n = 0; n < 2; n++)
        EXPECT_LE(relDiff(nhwc[n], nchw[n]), 1e-5) << "image " << n;
}

TEST(TokenGrid, PrefixTokensAreDropped)
{
    // two leading tokens (a constant, as a class and a distillation token) in front of the 12 grid tokens
    // of "target": with prefix 2 its maps are the spatial twin's, whatever the two tokens hold
    std::vector<Mat> cfTokens, cfSpatial;
    const std::vector<Mat> tokens = mapsOf(patchNet(true, 2), "target", 1, true, &cfTokens, 2);
    const std::vector<Mat> spatial = mapsOf(patchNet(false), "target", 1, false, &cfSpatial);
    ASSERT_EQ(tokens.size(), 1u);
    EXPECT_LE(relDiff(tokens[0], spatial[0]), 1e-5);
    EXPECT_LE(relDiff(cfTokens[0], cfSpatial[0]), 1e-5);
}

TEST(TokenGrid, GradientWithChannelsAsPythonPassesIt)
{
    // cv2 turns an N x T x C float32 array into an N x T Mat of C channels: the same floats, the same maps
    Ptr<GradCAM> cam = GradCAM::create(patchNet(true), "target");
    cam->setTokenGrid(kGridH, kGridW, 0);
    cam->forward(patchInput(2));
    RNG rng(904);
    const Mat seed = randomBlob({2, kGridH * kGridW, kChannels}, rng);
    const Mat seedWithChannels(2, kGridH * kGridW, CV_32FC(kChannels), (void*)seed.ptr<float>());
    std::vector<Mat> maps, counter, mapsC, counterC;
    cam->computeFromGradient("target", seed, maps, counter);
    cam->computeFromGradient("target", seedWithChannels, mapsC, counterC);
    for (int n = 0; n < 2; n++)
    {
        EXPECT_EQ(cv::norm(maps[n], mapsC[n], NORM_INF), 0.0) << "image " << n;
        EXPECT_EQ(cv::norm(counter[n], counterC[n], NORM_INF), 0.0) << "image " << n;
        EXPECT_GT(cv::norm(maps[n]) + cv::norm(counter[n]), 0.0) << "image " << n;
    }
    const Mat wrong(2, kGridH * kGridW, CV_32FC(kChannels - 1), Scalar::all(1));
    expectError([&] { cam->computeFromGradient("target", wrong, maps); },
                "explain: the gradient for layer 'target' (ReLU) has shape [2 x 12] of 4 channels but its output has "
                "shape [2 x 12 x 5] (float32 expected)");
}

TEST(TokenGrid, BadGridsAndLayersAreRefused)
{
    Ptr<GradCAM> cam = GradCAM::create(patchNet(true), "target");
    expectError([&] { cam->setTokenGrid(3, 0, 1); },
                "explain: setTokenGrid(3, 0, 1): the grid needs height, width > 0 (or both 0 to turn it off) and "
                "prefixTokens >= 0");
    expectError([&] { cam->setTokenGrid(3, 4, -1); },
                "explain: setTokenGrid(3, 4, -1): the grid needs height, width > 0 (or both 0 to turn it off) and "
                "prefixTokens >= 0");
    cam->forward(patchInput(2));
    std::vector<Mat> maps;
    expectError([&] { cam->compute(0, maps); },
                "explain: the target layer 'target' has a 3D output; Grad-CAM needs a spatial N x K x H x W output "
                "(or tokens read with setTokenGrid)");
    cam->setTokenGrid(4, 4, 1);
    expectError([&] { cam->compute(0, maps); },
                "explain: the output of the target layer 'target' is [2 x 12 x 5]; the token grid 4 x 4 with 1 prefix "
                "token(s) reads N x 17 x C tokens");
    cam->setTokenGrid(2, 5, 0);
    expectError([&] { cam->compute(0, maps); },
                "explain: the output of the target layer 'target' is [2 x 12 x 5]; the token grid 2 x 5 with 0 prefix "
                "token(s) reads N x 10 x C tokens or N x 2 x 5 x C");
    cam->setTokenGrid(kGridH, kGridW, 0);
    cam->setMethod(CAM_SCORECAM);
    expectError([&] { cam->compute(0, maps); },
                "explain: Score-CAM does not read token layers (setTokenGrid); use a gradient-based method or Eigen-CAM");
    cam->setMethod(CAM_GRADCAM);
    cam->setTokenGrid(0, 0);
    EXPECT_EQ(cam->getTokenGrid(), Size());
    EXPECT_EQ(cam->getPrefixTokens(), 0);
}

}} // namespace opencv_test
