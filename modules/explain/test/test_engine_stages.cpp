// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// The backward engine's stages, each alone: the layer graph and its reachability, the keep plan, and
// the activation store's record of forward passes on a shared Net.
#include "test_common.hpp"
#include "../src/activation_store.hpp"
#include "../src/backward_pass.hpp"
#include "../src/keep_plan.hpp"
#include "../src/opencv_compat.hpp"
#include "../src/backprop_impl.hpp"
#include "../src/scored_forward.hpp"
#include <functional>
#include <thread>

namespace opencv_test {
namespace {

using namespace cv;
using namespace cv::explain;
using cv::explain::detail::ANY_OUTPUT;
using cv::explain::detail::Blob;
using cv::explain::detail::outputGradientIsFree;
using cv::explain::detail::NetGraph;
using cv::explain::detail::NetRecord;
using cv::explain::detail::Pin;
using cv::explain::detail::widenKeepPlan;

/** conv_a -> relu_a -> add <- relu_b <- conv_b (both convolutions on the input), then add -> conv_c
    -> gap -> fc; and a side branch relu_a -> side (feeding nothing). */
dnn::Net makeBranchedNet(RNG& rng)
{
    dnn::Net net;
    const int ca = addLayer(net, "conv_a", "Convolution", convParams(4, 3, 3, rng, 1, 1, 1), {0});
    const int ra = addLayer(net, "relu_a", "ReLU", dnn::LayerParams(), {ca});
    const int cb = addLayer(net, "conv_b", "Convolution", convParams(4, 3, 1, rng), {0});
    const int rb = addLayer(net, "relu_b", "ReLU", dnn::LayerParams(), {cb});
    dnn::LayerParams sum;
    sum.set("operation", "sum");
    const int add = addLayer(net, "add", "Eltwise", sum, {ra, rb});
    addLayer(net, "side", "ReLU", dnn::LayerParams(), {ra});
    const int cc = addLayer(net, "conv_c", "Convolution", convParams(5, 4, 3, rng, 1, 1, 1), {add});
    addGapFcHead(net, cc, 5, 3, rng);
    return net;
}

std::set<String> namesOf(const NetGraph& g, const std::vector<char>& marks)
{
    std::set<String> names;
    for (int id : g.order())
        if (marks[id])
            names.insert(g.layer(id).name);
    return names;
}

TEST(NetGraph, OrderAndLayersBetween)
{
    RNG rng(301);
    dnn::Net net = makeBranchedNet(rng);
    NetGraph g(net);
    std::vector<String> order;
    for (int id : g.order())
        order.push_back(g.layer(id).name);
    auto before = [&](const String& a, const String& b) {
        return std::find(order.begin(), order.end(), a) < std::find(order.begin(), order.end(), b);
    };
    EXPECT_EQ(order.size(), 9u);
    EXPECT_TRUE(before("relu_a", "add") && before("relu_b", "add") && before("add", "conv_c") && before("gap", "fc"));
    EXPECT_EQ(g.consumerCount(g.find("relu_a")), 2);
    EXPECT_EQ(g.consumerCount(0), 2);

    const auto pins = g.producerPins();
    const int fc = g.find("fc");
    // from the net input to the scores: everything but the side branch
    EXPECT_EQ(namesOf(g, g.layersBetween(pins, {Pin(0, ANY_OUTPUT)}, {fc})),
              (std::set<String>{"conv_a", "relu_a", "conv_b", "relu_b", "add", "conv_c", "gap", "fc"}));
    // strictly after a source layer's output, up to and including the sink
    EXPECT_EQ(namesOf(g, g.layersBetween(pins, {Pin(g.find("relu_a"), 0)}, {g.find("conv_c")})),
              (std::set<String>{"add", "conv_c"}));
    // no sources: every layer that feeds the sink
    EXPECT_EQ(namesOf(g, g.layersBetween(pins, {}, {g.find("add")})),
              (std::set<String>{"conv_a", "relu_a", "conv_b", "relu_b", "add"}));
    // a source that does not reach the sink
    EXPECT_EQ(namesOf(g, g.layersBetween(pins, {Pin(g.find("side"), 0)}, {fc})), std::set<String>());
    expectError([&] { g.find("nope"); }, "explain: the Net has no layer named 'nope'");
}

TEST(KeepPlan, GradCamPathWithFusionClosure)
{
    RNG rng(302);
    dnn::Net net = makeBranchedNet(rng);
    NetGraph g(net);
    const std::vector<int> oneOutput(g.size(), 1);
    const std::vector<char> nothing(g.size(), 0);
    const int fc = g.find("fc");
    // Grad-CAM at conv_c: the layers after it, conv_c and its producer add; then add's producers
    // only through single-consumer links (relu_b -> conv_b; relu_a has two consumers, so it stops there)
    std::vector<char> plan = widenKeepPlan(g, oneOutput, nothing, {fc}, {Pin(g.find("conv_c"), ANY_OUTPUT)});
    EXPECT_EQ(namesOf(g, plan), (std::set<String>{"conv_c", "add", "gap", "fc", "relu_b", "conv_b"}));
    // widening to the input adds the rest of the path, never the side branch
    std::vector<char> wide = widenKeepPlan(g, oneOutput, plan, {fc}, {Pin(0, ANY_OUTPUT)});
    EXPECT_EQ(namesOf(g, wide),
              (std::set<String>{"conv_a", "relu_a", "conv_b", "relu_b", "add", "conv_c", "gap", "fc"}));
    // a pure function: the plan it started from is unchanged
    EXPECT_EQ(namesOf(g, plan).size(), 6u);
    EXPECT_EQ(widenKeepPlan(g, oneOutput, wide, {fc}, {Pin(0, ANY_OUTPUT)}), wide);
}

TEST(KeepPlan, OnlyWhatTheRulesRead)
{
    RNG rng(303);
    dnn::Net net = makeBranchedNet(rng);
    NetGraph g(net);
    const std::vector<int> oneOutput(g.size(), 1);
    const std::vector<char> nothing(g.size(), 0);
    const int fc = g.find("fc");
    // the convolutions, the sum, the pooling and the classifier read nothing; the rectifiers their output
    cv::explain::detail::ActivationNeeds needs;
    needs.reads.assign(g.size(), BackwardRule::READS_NOTHING);
    for (const char* relu : {"relu_a", "relu_b", "side"})
        needs.reads[g.find(relu)] = BackwardRule::READS_OUTPUTS;
    needs.fusionSafe.assign(g.size(), 1);
    EXPECT_EQ(namesOf(g, widenKeepPlan(g, oneOutput, nothing, {fc}, {Pin(0, ANY_OUTPUT)}, &needs)),
              (std::set<String>{"relu_a", "relu_b", "fc"}));
    // a kept output that a fusion chain could pass through keeps its producers through single-consumer links
    needs.fusionSafe[g.find("relu_b")] = 0;
    EXPECT_EQ(namesOf(g, widenKeepPlan(g, oneOutput, nothing, {fc}, {Pin(0, ANY_OUTPUT)}, &needs)),
              (std::set<String>{"relu_a", "relu_b", "conv_b", "fc"}));
    // a rule that reads its inputs keeps its producers
    needs.reads[g.find("conv_c")] = BackwardRule::READS_INPUTS;
    EXPECT_EQ(namesOf(g, widenKeepPlan(g, oneOutput, nothing, {fc}, {Pin(0, ANY_OUTPUT)}, &needs)),
              (std::set<String>{"relu_a", "relu_b", "conv_b", "add", "fc"}));
}

/** The gradient to the input from a plan that keeps only what the rules read equals the one from keeping
    every activation; the layers no rule reads are not kept. */
TEST(KeepPlan, ReducedPlanGivesTheSameGradients)
{
    RNG rng(304);
    dnn::Net reduced = makeBranchedNet(rng);
    RNG same(304);
    dnn::Net full = makeBranchedNet(same);
    const Mat x = randomBlob({2, 3, 6, 6}, rng), seed = randomBlob({2, 3}, rng);
    Ptr<Backprop> planned = Backprop::create(reduced), all = Backprop::create(full);
    planned->keepOnly({"fc"}, {""});
    for (RectifierMode mode : {RECTIFIER_EXACT, RECTIFIER_GUIDED, RECTIFIER_DECONVNET})
    {
        planned->forward(x);
        all->forward(x);
        std::vector<Mat> a, b;
        planned->backward({"fc"}, {seed}, {""}, a, mode);
        all->backward({"fc"}, {seed}, {""}, b, mode);
        EXPECT_LE(cv::norm(a[0], b[0], NORM_INF), 1e-6 * std::max(1.0, cv::norm(b[0], NORM_INF))) << "mode " << mode;
    }
    EXPECT_EQ(planned->getActivation("relu_a").total(), all->getActivation("relu_a").total());
    expectError([&] { planned->getActivation("conv_a"); },
                "explain: the activations of layer 'conv_a' (Convolution) were not kept by the last forward(); "
                "call keepAll() or keepOnly() first");
    expectError([&] { planned->getActivation("gap"); },
                "explain: the activations of layer 'gap' (Pooling) were not kept by the last forward(); "
                "call keepAll() or keepOnly() first");
}

/** conv -> ReLU -> Concat: cv::dnn 4.6 may fuse the ReLU into the convolution and write both into the
    Concat's buffer, so the ReLU's requested output is kept together with its convolution's. */
TEST(KeepPlan, RectifierBeforeAConcatKeepsItsRightOutput)
{
    RNG rng(305);
    auto make = [](RNG& r) {
        dnn::Net net;
        const int c1 = addLayer(net, "conv1", "Convolution", convParams(3, 3, 3, r, 1, 1, 1), {0});
        const int r1 = addLayer(net, "relu1", "ReLU", dnn::LayerParams(), {c1});
        const int c2 = addLayer(net, "conv2", "Convolution", convParams(2, 3, 1, r), {0});
        const int r2 = addLayer(net, "relu2", "ReLU", dnn::LayerParams(), {c2});
        dnn::LayerParams cat;
        cat.set("axis", 1);
        const int c = addLayer(net, "cat", "Concat", cat, {r1, r2});
        addGapFcHead(net, c, 5, 2, r);
        return net;
    };
    RNG same(305);
    dnn::Net reduced = make(rng), full = make(same);
    const Mat x = randomBlob({1, 3, 7, 7}, rng), seed = randomBlob({1, 2}, rng);
    Ptr<Backprop> planned = Backprop::create(reduced), all = Backprop::create(full);
    planned->keepOnly({"fc"}, {""});
    planned->forward(x);
    all->forward(x);
    std::vector<Mat> a, b;
    planned->backward({"fc"}, {seed}, {""}, a, RECTIFIER_GUIDED);
    all->backward({"fc"}, {seed}, {""}, b, RECTIFIER_GUIDED);
    EXPECT_LE(cv::norm(a[0], b[0], NORM_INF), 1e-6 * std::max(1.0, cv::norm(b[0], NORM_INF)));
    EXPECT_LE(cv::norm(planned->getActivation("relu1"), all->getActivation("relu1"), NORM_INF), 0.0);
}

/** With static shapes Grad-CAM's default target is read from the inferred shapes before the first pass, so
    that pass requests only the Grad-CAM plan's outputs, never every layer's (the peak memory of a first
    explanation). */
TEST(KeepPlan, DefaultTargetIsChosenBeforeTheFirstPass)
{
    RNG rng(411);
    dnn::Net net = smoothNet(rng);
    const std::vector<String> everyLayer = net.getLayerNames();
    Ptr<GradCAM> cam = GradCAM::create(net);
    cam->forward(randomBlob({1, 3, 6, 6}, rng));
    EXPECT_EQ(cam->getLayerName(), "sig");
    std::vector<Mat> maps;
    cam->compute(0, maps);
    ASSERT_EQ(maps.size(), 1u);
    // where fusion can go stale, the first pass of an explainer on a Net verifies every layer once
    const uint64 verification = compat::fusionCanGoStale() ? 1 : 0;
    EXPECT_EQ(NetRecord::of(net)->passes(everyLayer), verification);
    // a Backprop that keeps everything does request every layer
    Ptr<Backprop> all = Backprop::create(net);
    all->forward(randomBlob({1, 3, 6, 6}, rng));
    EXPECT_EQ(NetRecord::of(net)->passes(everyLayer), verification + 1);
}

// Found by fuzz/fuzz_model: a partial keep plan that keeps a Slice with outputs of equal shapes (for a
// consumer on the path) but not another consumer of it made the input-pin replay read that consumer's
// missing output: std::out_of_range escaped from GradCAM::forward(). Such a consumer is on no planned
// path, so any of the equal-shaped outputs will do.
TEST(InputPins, ConsumerOutsideThePlanOfAKeptSlice)
{
    dnn::Net net;
    dnn::LayerParams split;
    split.set("axis", 1);
    split.set("slice_point", 1);
    dnn::LayerParams split2 = split;
    split2.set("slice_point", 2);
    dnn::LayerParams concat;
    concat.set("axis", 1);
    // the Split/Concat chain of the fuzzer's model: s0 splits 3 channels into 2 + 1, then each Slice of
    // two 1-channel outputs feeds a Concat that swaps them; the last Concat also reads s3's output 0
    int s0 = addLayer(net, "s0", "Slice", split2, {0});
    int s = addLayer(net, "s1", "Slice", split, {s0}, {0});
    int c = addLayer(net, "c2", "Concat", concat, {s, s}, {1, 0});
    const int s3 = addLayer(net, "s3", "Slice", split, {c});
    c = addLayer(net, "c4", "Concat", concat, {s3, s3}, {1, 0});
    for (int i = 5; i < 9; i += 2)
    {
        s = addLayer(net, format("s%d", i), "Slice", split, {c});
        c = addLayer(net, format("c%d", i + 1), "Concat", concat, {s, s}, {1, 0});
    }
    addLayer(net, "top", "Concat", concat, {c, s3}, {0, 0});
    RNG rng(305);
    const Mat x = randomBlob({1, 3, 4, 4}, rng);
    Ptr<GradCAM> cam = GradCAM::create(net);
    Mat scores;
    ASSERT_NO_THROW(cam->forward(x, scores));
    std::vector<Mat> maps;
    try
    {
        cam->compute(0, maps);
    }
    catch (const cv::Exception&)
    {
        // a cv::Exception is a clear answer; before the fix forward() let a std::out_of_range escape
    }
    // the input gradient through the whole chain: every Slice's outputs resolved correctly
    Ptr<Backprop> bp = Backprop::create(net);
    bp->forward(x);
    const Mat out = bp->getActivation("top");
    Mat seed = randomBlob(shapeOf(out), rng);
    std::vector<Mat> grads;
    bp->backward({"top"}, {seed}, {""}, grads);
    // top = [c8, s3:0]; the chain of swaps is a fixed channel permutation: check against a finite difference
    const double eps = 1e-2;
    for (int i = 0; i < (int)x.total(); i += 7)
    {
        Mat xp = x.clone(), xm = x.clone();
        xp.ptr<float>()[i] += (float)eps;
        xm.ptr<float>()[i] -= (float)eps;
        bp->forward(xp);
        const double fp = bp->getActivation("top").dot(seed);
        bp->forward(xm);
        const double fm = bp->getActivation("top").dot(seed);
        EXPECT_NEAR(grads[0].ptr<float>()[i], (fp - fm) / (2 * eps), 1e-3) << "input element " << i;
    }
}

/** y = x; forward() throws while `failing` is set (a forward pass that fails when it runs again). */
class FlakyLayer : public ScaledCopyLayer
{
public:
    static bool failing;
    explicit FlakyLayer(const dnn::LayerParams& p) : ScaledCopyLayer(p) {}
    static Ptr<dnn::Layer> create(dnn::LayerParams& p) { return makePtr<FlakyLayer>(p); }
    void forward(InputArrayOfArrays in, OutputArrayOfArrays out, OutputArrayOfArrays internals) CV_OVERRIDE
    {
        if (failing)
            CV_Error(Error::StsError, "the flaky layer fails");
        ScaledCopyLayer::forward(in, out, internals);
    }
};
bool FlakyLayer::failing = false;

struct IdentityRule : BackwardRule
{
    void backward(const std::vector<Mat>&, const std::vector<Mat>&, const std::vector<Mat>& g,
                  const std::vector<bool>& need, RectifierMode, std::vector<Mat>& in) CV_OVERRIDE
    {
        if (need[0])
            in[0] = g[0].clone();
    }
};

// Found by fuzz/fuzz_model: when the forward pass that widens the keep plan (an input gradient after a
// Grad-CAM) failed, the wider plan stayed while the activations were the narrower plan's; the next call
// then saw nothing to widen and read activations that were never kept (std::out_of_range escaped).
TEST(KeepPlan, AFailedWideningRunIsTriedAgain)
{
    dnn::LayerFactory::registerLayer("Flaky", FlakyLayer::create);
    registerBackwardRule("Flaky", [](const LayerInfo&) -> Ptr<BackwardRule> { return makePtr<IdentityRule>(); });
    RNG rng(306);
    dnn::Net net;
    int c1 = addLayer(net, "conv1", "Convolution", convParams(3, 2, 3, rng, 1, 1, 1), {0});
    int f = addLayer(net, "flaky", "Flaky", dnn::LayerParams(), {c1});
    int r = addLayer(net, "relu", "ReLU", dnn::LayerParams(), {f});
    addLayer(net, "side", "ReLU", dnn::LayerParams(), {f});  // two consumers: Grad-CAM's plan stops at relu
    int c2 = addLayer(net, "conv2", "Convolution", convParams(4, 3, 3, rng, 1, 1, 1), {r});
    addGapFcHead(net, c2, 4, 3, rng);
    const Mat x = randomBlob({1, 2, 6, 6}, rng);
    Mat expected;
    {
        Ptr<GradCAM> fresh = GradCAM::create(net, "conv2");
        fresh->forward(x);
        fresh->inputGradient(1, expected, RECTIFIER_EXACT);
    }
    Ptr<GradCAM> cam = GradCAM::create(net, "conv2");  // keeps only the Grad-CAM path at first
    cam->forward(x);
    std::vector<Mat> maps;
    cam->compute(1, maps);
    Mat grad;
    FlakyLayer::failing = true;
    EXPECT_THROW(cam->inputGradient(1, grad, RECTIFIER_EXACT), cv::Exception);  // the widening run fails
    FlakyLayer::failing = false;
    ASSERT_NO_THROW(cam->inputGradient(1, grad, RECTIFIER_EXACT));  // widens again
    EXPECT_EQ(cv::norm(grad, expected, NORM_INF), 0.0);
    dnn::LayerFactory::unregisterLayer("Flaky");
}

/** One copy of the explained input per explainer: the engine's, which GradCAM and InputAttribution share
    (never the caller's blob). A new pass drops the last pass's copy before making its own, and a pass that
    fails leaves no forward pass behind. */
TEST(ScoredForward, SharesTheEnginesCopyOfTheInput)
{
    RNG rng(307);
    dnn::Net net = makeBranchedNet(rng);
    Ptr<Backprop> bp = Backprop::create(net);
    cv::explain::detail::ScoredForward fwd(net, bp, String(), "GradCAM");
    const Mat x = randomBlob({1, 3, 6, 6}, rng);
    fwd.forwardInputs({x}, {String()}, noArray());
    Mat first = fwd.input();
    EXPECT_NE(first.data, x.data);
    EXPECT_EQ(first.data, cv::explain::detail::BackpropImpl::of(*bp).firstInput().data);
    EXPECT_EQ(cv::norm(first, x, NORM_INF), 0.0);
    // 5 channels into convolutions of 3: cv::dnn refuses the pass
    EXPECT_THROW(fwd.forwardInputs({randomBlob({1, 5, 6, 6}, rng)}, {String()}, noArray()), cv::Exception);
    EXPECT_EQ(first.u->refcount, 1);  // neither the engine nor the explainer holds the last copy any more
    expectError([&] { fwd.requireForward(); }, "explain: call GradCAM::forward() with an input blob first");
    expectError([&] { bp->getActivation("fc"); }, "explain: call forward() with an input blob first");
}

/** Element-wise rules compute in the buffer of their output gradient, which the backward pass offers when
    nothing else holds it: not while a copy of the Mat lives anywhere (a wanted result, a gradient shared by
    two consumers), not for several outputs, another size, or a view. */
TEST(BackwardPass, OffersAnOutputGradientNothingElseHolds)
{
    std::vector<Blob> grads(1);
    grads[0].host = Mat(std::vector<int>{1, 2, 3, 4}, CV_32F, Scalar(1));
    EXPECT_TRUE(outputGradientIsFree(grads, 24));
    EXPECT_FALSE(outputGradientIsFree(grads, 12));
    {
        const Mat held = grads[0].host;
        EXPECT_FALSE(outputGradientIsFree(grads, 24));
    }
    EXPECT_TRUE(outputGradientIsFree(grads, 24));
    const Mat whole(6, 8, CV_32F, Scalar(1));
    std::vector<Blob> view(1);
    view[0].host = whole.colRange(0, 4);
    EXPECT_FALSE(outputGradientIsFree(view, 24));
    grads.push_back(Blob());
    grads[1].host = Mat(1, 24, CV_32F, Scalar(1));
    EXPECT_FALSE(outputGradientIsFree(grads, 24));
}

TEST(NetRecord, OnePerNetCountingPassesPerRequest)
{
    RNG rng(303);
    dnn::Net a = makeBranchedNet(rng), b = makeBranchedNet(rng);
    std::shared_ptr<NetRecord> ra = NetRecord::of(a), ra2 = NetRecord::of(dnn::Net(a)), rb = NetRecord::of(b);
    EXPECT_EQ(ra.get(), ra2.get());
    EXPECT_NE(ra.get(), rb.get());
    EXPECT_EQ(ra->countPass({"fc"}), 1u);
    EXPECT_EQ(ra->countPass({"fc"}), 2u);
    EXPECT_EQ(ra->countPass({"gap", "fc"}), 1u);
    EXPECT_EQ(ra->passes({"fc"}), 2u);
    EXPECT_EQ(rb->passes({"fc"}), 0u);
}

/** The first input pixel (as flat index) whose change alters conv's output only where no sampled value
    of the kept outputs lies (8 values spread over each blob), or -1. */
int pixelHiddenFromSamples(dnn::Net& net, const Mat& x, const std::vector<String>& kept)
{
    std::vector<Mat> base;
    net.setInput(x);
    net.forward(base, kept);
    std::vector<Mat> before;
    for (const Mat& m : base)
        before.push_back(m.clone());
    for (int i = 0; i < (int)x.total(); i++)
    {
        Mat y = x.clone();
        y.ptr<float>()[i] += 0.5f;
        std::vector<Mat> outs;
        net.setInput(y);
        net.forward(outs, kept);
        bool hidden = true, changed = false;
        for (size_t k = 0; k < outs.size(); k++)
        {
            const size_t total = outs[k].total();
            changed = changed || cv::norm(outs[k], before[k], NORM_INF) > 0;
            for (size_t s = 0; s < 8; s++)
            {
                const size_t at = (total - 1) * s / 7;
                hidden = hidden && outs[k].ptr<float>()[at] == before[k].ptr<float>()[at];
            }
        }
        if (hidden && changed)
            return i;
    }
    return -1;
}

// Two explainers with the same plan on one Net share cv::dnn's output buffers; the second's forward
// pass must never leave the first with its activations, even where a spot check of values cannot see it.
TEST(ActivationStore, AnotherExplainersPassIsNoticedWhereSampledValuesAgree)
{
    RNG rng(304);
    dnn::Net net;
    const int conv = addLayer(net, "conv", "Convolution", convParams(2, 1, 3, rng, 1, 1, 1), {0});
    addLayer(net, "relu", "ReLU", dnn::LayerParams(), {conv});
    Mat x1 = randomBlob({1, 1, 12, 12}, rng);
    const int pixel = pixelHiddenFromSamples(net, x1, {"conv", "relu"});
    ASSERT_GE(pixel, 0) << "no input pixel whose effect the sampled values miss";
    Mat x2 = x1.clone();
    x2.ptr<float>()[pixel] += 0.5f;

    Ptr<Backprop> a = Backprop::create(net), b = Backprop::create(net);
    a->forward(x1);
    const Mat expected = a->getActivation("conv").clone();
    b->forward(x2);  // the same request: cv::dnn writes the same buffers
    EXPECT_GT(cv::norm(b->getActivation("conv"), expected, NORM_INF), 0.0);
    EXPECT_EQ(cv::norm(a->getActivation("conv"), expected, NORM_INF), 0.0);
    // the input gradient through the ReLU depends on the activations
    Mat seed = randomBlob({1, 2, 12, 12}, rng);
    std::vector<Mat> grads, expectedGrads;
    a->backward({"relu"}, {seed}, {""}, expectedGrads);
    b->forward(x2);
    a->backward({"relu"}, {seed}, {""}, grads);
    EXPECT_EQ(cv::norm(grads[0], expectedGrads[0], NORM_INF), 0.0);
}

}} // namespace opencv_test

namespace opencv_test {
namespace {

/** Runs cycle(t) `cycles` times in each of `threads` threads; cycle returns whether its result was wrong.
    Expects no wrong result and no exception in any thread. */
void expectRightInEveryThread(int threads, int cycles, const std::function<bool(int)>& cycle)
{
    std::vector<int> wrong(threads, 0);
    std::vector<std::string> errors(threads);
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; t++)
        workers.emplace_back([&, t] {
            try
            {
                for (int c = 0; c < cycles; c++)
                    wrong[t] += cycle(t);
            }
            catch (const cv::Exception& e)
            {
                errors[t] = e.what();
            }
        });
    for (std::thread& w : workers)
        w.join();
    for (int t = 0; t < threads; t++)
    {
        EXPECT_EQ(wrong[t], 0) << "thread " << t;
        EXPECT_EQ(errors[t], "") << "thread " << t;
    }
}

// Explainers on one Net in several threads: each call takes the Net's lock and re-runs its own forward
// pass when another one replaced the activations, so every result is that of its own input.
TEST(ActivationStore, ExplainersShareOneNetAcrossThreads)
{
    RNG rng(305);
    dnn::Net net = makeBranchedNet(rng);
    const int threads = 3, cycles = 30;
    std::vector<Mat> inputs, expected(threads);
    for (int t = 0; t < threads; t++)
        inputs.push_back(randomBlob({1, 3, 8, 8}, rng));
    Mat seed = Mat::zeros(1, 3, CV_32F);
    seed.at<float>(0, 1) = 1.f;
    for (int t = 0; t < threads; t++)
    {
        Ptr<Backprop> bp = Backprop::create(net);
        bp->forward(inputs[t]);
        std::vector<Mat> grads;
        bp->backward({"fc"}, {seed}, {""}, grads, RECTIFIER_GUIDED);
        expected[t] = grads[0].clone();
    }
    std::vector<Ptr<Backprop> > explainers;
    for (int t = 0; t < threads; t++)
        explainers.push_back(Backprop::create(net));
    expectRightInEveryThread(threads, cycles, [&](int t) {
        explainers[t]->forward(inputs[t]);
        std::vector<Mat> grads;
        explainers[t]->backward({"fc"}, {seed}, {""}, grads, RECTIFIER_GUIDED);
        return cv::norm(grads[0], expected[t], NORM_INF) != 0;
    });
}

}} // namespace opencv_test

namespace opencv_test {
namespace {

// The same through GradCAM: Grad-CAM maps, guided backprop and SmoothGrad of explainers sharing one
// Net in several threads equal those computed alone.
TEST(ActivationStore, GradCAMsShareOneNetAcrossThreads)
{
    RNG rng(306);
    dnn::Net net = makeBranchedNet(rng);
    const int threads = 3, cycles = 10;
    std::vector<Mat> inputs, expectedMap(threads), expectedGuided(threads), expectedSmooth(threads);
    for (int t = 0; t < threads; t++)
        inputs.push_back(randomBlob({1, 3, 8, 8}, rng));
    auto explain = [&](GradCAM& cam, const Mat& x, Mat& map, Mat& guided, Mat& smooth) {
        cam.forward(x);
        std::vector<Mat> maps;
        cam.compute(1, maps);
        map = maps[0].clone();
        cam.inputGradient(1, guided, RECTIFIER_GUIDED);
        cam.smoothGrad(1, smooth, 4, 0.1, RECTIFIER_EXACT, 7, 2);
    };
    for (int t = 0; t < threads; t++)
    {
        Ptr<GradCAM> cam = GradCAM::create(net, "conv_c");
        explain(*cam, inputs[t], expectedMap[t], expectedGuided[t], expectedSmooth[t]);
    }
    std::vector<Ptr<GradCAM> > cams;
    for (int t = 0; t < threads; t++)
        cams.push_back(GradCAM::create(net, "conv_c"));
    expectRightInEveryThread(threads, cycles, [&](int t) {
        Mat map, guided, smooth;
        explain(*cams[t], inputs[t], map, guided, smooth);
        return cv::norm(map, expectedMap[t], NORM_INF) != 0 || cv::norm(guided, expectedGuided[t], NORM_INF) != 0 ||
               cv::norm(smooth, expectedSmooth[t], NORM_INF) != 0;
    });
}

}} // namespace opencv_test
