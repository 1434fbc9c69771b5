// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// cv::dnn 4.7 and newer pack a convolution's weights in its first forward pass, with whatever BatchNorm
// was folded into them then, and keep them when a later pass with other requested outputs fuses
// differently. The explainer and the user's own forward passes share the Net, in either order: each must
// give what a fresh Net gives, or the explainer must refuse with its error, leaving the user's Net right.
#include "test_common.hpp"
#include <functional>

namespace opencv_test { namespace {

const char* kStaleMessagePart = "cv::dnn computed it with weights fused by an earlier forward pass of this Net";

/** conv -> BatchNorm -> ReLU, twice, then GAP -> FC(5), on 1 x 3 x 8 x 8 inputs (below 12 x 12, where
    cv::dnn never packs a convolution's weights again). The same weights for the same seed. */
dnn::Net convBnNet(uint64 seed)
{
    RNG rng(seed);
    dnn::Net net;
    int in = 0;
    for (int i = 1; i <= 2; i++)
    {
        const int inC = i == 1 ? 3 : 4;
        int c = addLayer(net, format("conv%d", i), "Convolution", convParams(4, inC, 3, rng, 1, 1, 1), {in});
        dnn::LayerParams bn;
        bn.set("has_weight", true);
        bn.set("has_bias", true);
        bn.set("eps", 1e-5f);
        bn.blobs = {randomBlob({4}, rng), randomBlob({4}, rng, 0.5f, 2.f), randomBlob({4}, rng, 0.5f, 2.f),
                    randomBlob({4}, rng)};
        int b = addLayer(net, format("bn%d", i), "BatchNorm", bn, {c});
        in = addLayer(net, format("relu%d", i), "ReLU", dnn::LayerParams(), {b});
    }
    addGapFcHead(net, in, 4, 5, rng);
    return net;
}

Mat plainForward(dnn::Net& net, const Mat& x, const String& layer = String())
{
    net.setInput(x);
    return net.forward(layer).clone();
}

/** Makes a fresh Net for each reference pass (one Net asked for several outputs would itself go stale). */
typedef std::function<dnn::Net()> NetMaker;

/** A fresh Net's output, or the output of `layer` from a fresh Net asked for every output (cv::dnn 5.0
    asked for a BatchNorm that it folds into a convolution alone returns a buffer it never wrote). */
Mat freshForward(const NetMaker& make, const Mat& x, const String& layer = String())
{
    dnn::Net fresh = make();
    if (layer.empty())
        return plainForward(fresh, x);
    const std::vector<String> names = fresh.getLayerNames();
    std::vector<std::vector<Mat> > outs;
    fresh.setInput(x);
    fresh.forward(outs, names);
    return outs[std::find(names.begin(), names.end(), layer) - names.begin()][0];
}

/** The explainer's activation of `layer` equals a fresh Net's, or the explainer refused with the stale error. */
void expectExactOrRefused(dnn::Net& net, const NetMaker& fresh, const Mat& x, const std::vector<String>& layers)
{
    Ptr<Backprop> bp = Backprop::create(net);
    try
    {
        bp->forward(x);
    }
    catch (const cv::Exception& e)
    {
        EXPECT_NE(e.err.find(kStaleMessagePart), std::string::npos) << e.err;
        return;
    }
    for (const String& layer : layers)
        EXPECT_LE(cv::norm(bp->getActivation(layer), freshForward(fresh, x, layer), NORM_INF), 1e-4) << layer;
}

TEST(StaleFusion, ExplainerFirstThenPlainForward)
{
    RNG rng(51);
    const Mat x = randomBlob({1, 3, 8, 8}, rng);
    dnn::Net net = convBnNet(7);
    const NetMaker fresh = [] { return convBnNet(7); };
    expectExactOrRefused(net, fresh, x, {"conv1", "bn1", "conv2", "fc"});
    // the user's own passes after the explainer's: what a fresh Net gives
    EXPECT_LE(cv::norm(plainForward(net, x), freshForward(fresh, x), NORM_INF), 1e-4);
}

TEST(StaleFusion, PlainForwardFirstThenExplainer)
{
    RNG rng(52);
    const Mat x = randomBlob({1, 3, 8, 8}, rng);
    dnn::Net net = convBnNet(8);
    const NetMaker fresh = [] { return convBnNet(8); };
    const Mat before = plainForward(net, x);
    expectExactOrRefused(net, fresh, x, {"conv1", "bn1", "conv2", "fc"});
    EXPECT_LE(cv::norm(plainForward(net, x), before, NORM_INF), 1e-4);
    EXPECT_LE(cv::norm(plainForward(net, x), freshForward(fresh, x), NORM_INF), 1e-4);
}

TEST(StaleFusion, RealModelInBothOrders)
{
    const char* dir = std::getenv("EXPLAIN_REFERENCE_DIR");  // the zoo's ONNX exports (tools/make_references.py)
    const char* required = std::getenv("EXPLAIN_REQUIRE_REFERENCES");
    if (!dir)
    {
        if (required && std::string(required) == "1")
            ADD_FAILURE() << "EXPLAIN_REQUIRE_REFERENCES=1 but EXPLAIN_REFERENCE_DIR is not set";
        GTEST_SKIP() << "set EXPLAIN_REFERENCE_DIR to the output of tools/make_references.py";
    }
    const std::string model = std::string(dir) + "/resnet18.onnx";
    RNG rng(53);
    const Mat x = randomBlob({1, 3, 224, 224}, rng);
    for (int userFirst = 0; userFirst <= 1; userFirst++)
    {
        SCOPED_TRACE(userFirst ? "plain forward first" : "explainer first");
        dnn::Net net = explain::readNet(model);
        const NetMaker fresh = [&] { return explain::readNet(model); };
        const Mat expected = freshForward(fresh, x);
        if (userFirst)
            plainForward(net, x);
        const std::vector<String> names = net.getLayerNames();
        expectExactOrRefused(net, fresh, x, {names.front(), names.back()});
        EXPECT_LE(cv::norm(plainForward(net, x), expected, NORM_INF), 1e-3);
    }
}

}} // namespace
