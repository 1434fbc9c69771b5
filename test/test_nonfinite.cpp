// Non-finite numbers inside the network are reported where they appear, never turned into all-zero
// or plausible-looking maps.
#include "test_common.hpp"

namespace opencv_test { namespace {

/** conv -> relu -> fc on a 2 x 6 x 6 input. */
dnn::Net convReluFc(RNG& rng)
{
    dnn::Net net;
    int c = addLayer(net, "conv", "Convolution", convParams(3, 2, 3, rng, 1, 1, 1), {0});
    int r = addLayer(net, "relu", "ReLU", dnn::LayerParams(), {c});
    dnn::LayerParams fc;
    fc.set("num_output", 4);
    fc.set("bias_term", false);
    fc.blobs = {randomBlob({4, 3 * 6 * 6}, rng)};
    addLayer(net, "fc", "InnerProduct", fc, {r});
    return net;
}

// A finite input whose activations overflow (the input blob times 3e38): the first layer whose output
// is not finite is named, for a plan that kept only part of the Net too.
TEST(NonFinite, ActivationsThatOverflowAreReportedWithTheLayer)
{
    RNG rng(401);
    dnn::Net net = convReluFc(rng);
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
