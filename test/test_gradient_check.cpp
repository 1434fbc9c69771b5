// Numerical gradient checks of every backward rule, on small random nets built in C++ with randomized
// shapes and hyperparameters (fixed seeds).
#include "test_common.hpp"

namespace opencv_test { namespace {

void expectGradientMatches(dnn::Net& net, const Mat& input, const String& out, double tol = 2e-2)
{
    GradientCheckResult res = checkInputGradient(net, input, out);
    EXPECT_GT(res.checked, std::max(3, res.kinks)) << "too many kinks to check " << out;
    EXPECT_LE(res.maxError, tol) << "layer " << out << ": " << res.checked << " points checked";
}

/** input -> [conv to give the layer a smooth, non-trivial input] -> layer under test. */
int addStem(dnn::Net& net, int inC, int outC, RNG& rng)
{
    return addLayer(net, "stem", "Convolution", convParams(outC, inC, 3, rng, 1, 1, 1), {0});
}

TEST(GradientCheck, Convolution)
{
    RNG rng(101);
    for (int iter = 0; iter < 8; iter++)
    {
        const int group = iter % 4 == 1 ? 2 : 1;
        const bool depthwise = iter % 4 == 2;
        const int inC = depthwise ? 4 : 2 * rng.uniform(1, 3);
        const int outC = depthwise ? inC : group * rng.uniform(1, 4);
        const int k = rng.uniform(1, 4), stride = rng.uniform(1, 3), dil = rng.uniform(1, 3);
        const int g = depthwise ? inC : group;
        dnn::LayerParams lp = convParams(outC, inC / g, k, rng, g, stride, 0, dil);
        lp.erase("pad");  // cv::dnn 4.6 takes only symmetric pads (the ONNX importer adds Padding otherwise)
        lp.set("pad_h", rng.uniform(0, 3));
        lp.set("pad_w", rng.uniform(0, 3));
        dnn::Net net;
        addLayer(net, "conv", "Convolution", lp, {0});
        Mat x = randomBlob({rng.uniform(1, 3), inC, rng.uniform(5, 9), rng.uniform(5, 9)}, rng);
        SCOPED_TRACE(cv::format("iter %d group %d k %d stride %d dilation %d", iter, g, k, stride, dil));
        expectGradientMatches(net, x, "conv");
    }
}

TEST(GradientCheck, Deconvolution)
{
    RNG rng(111);
    for (int iter = 0; iter < 6; iter++)
    {
        const int group = iter % 3 == 1 ? 2 : 1;
        const int inC = 2 * rng.uniform(1, 3), outC = group * rng.uniform(1, 3);
        const int k = rng.uniform(1, 4), stride = rng.uniform(1, 3), pad = rng.uniform(0, k), dil = iter == 4 ? 2 : 1;
        dnn::LayerParams lp;
        lp.set("kernel_size", k);
        lp.set("num_output", outC);
        lp.set("stride", stride);
        lp.set("pad", pad);
        lp.set("dilation", dil);
        lp.set("group", group);
        lp.set("bias_term", true);
        lp.blobs = {randomBlob({inC, outC / group, k, k}, rng, -0.5f, 0.5f), randomBlob({1, outC}, rng)};
        dnn::Net net;
        addLayer(net, "deconv", "Deconvolution", lp, {0});
        SCOPED_TRACE(cv::format("iter %d group %d k %d stride %d pad %d dilation %d", iter, group, k, stride, pad, dil));
        expectGradientMatches(net, randomBlob({rng.uniform(1, 3), inC, rng.uniform(3, 6), rng.uniform(3, 6)}, rng), "deconv");
    }
}

TEST(GradientCheck, Resize)
{
    RNG rng(112);
    struct Case { const char* interpolation; bool alignCorners, halfPixel; int outH, outW; };
    const Case cases[] = {{"nearest", false, false, 10, 7}, {"nearest", true, false, 9, 12}, {"nearest", false, true, 10, 15},
                          {"bilinear", false, false, 10, 7}, {"bilinear", true, false, 9, 13}, {"bilinear", false, true, 10, 15},
                          {"opencv_linear", false, false, 11, 8}, {"bilinear", false, true, 3, 4}};
    for (const Case& c : cases)
    {
        dnn::Net net;
        int stem = addStem(net, 2, 3, rng);
        dnn::LayerParams lp;
        lp.set("interpolation", c.interpolation);
        lp.set("align_corners", c.alignCorners);
        lp.set("half_pixel_centers", c.halfPixel);
        lp.set("height", c.outH);
        lp.set("width", c.outW);
        addLayer(net, "resize", "Resize", lp, {stem});
        SCOPED_TRACE(cv::format("%s align %d half %d -> %dx%d", c.interpolation, c.alignCorners, c.halfPixel, c.outH, c.outW));
        expectGradientMatches(net, randomBlob({1, 2, 5, 6}, rng), "resize");
    }
}

TEST(GradientCheck, InnerProduct)
{
    RNG rng(102);
    for (int iter = 0; iter < 3; iter++)
    {
        dnn::Net net;
        const int c = rng.uniform(2, 4), h = rng.uniform(2, 4), out = rng.uniform(2, 6);
        dnn::LayerParams lp;
        lp.set("num_output", out);
        lp.set("bias_term", true);
        lp.set("axis", 1);
        lp.blobs = {randomBlob({out, c * h * h}, rng), randomBlob({1, out}, rng)};
        addLayer(net, "fc", "InnerProduct", lp, {0});
        expectGradientMatches(net, randomBlob({2, c, h, h}, rng), "fc");
    }
}

TEST(GradientCheck, Pooling)
{
    RNG rng(103);
    struct Case { const char* pool; int k, s, p; bool ceil, paddedArea, global; };
    const Case cases[] = {
        {"max", 2, 2, 0, false, true, false}, {"max", 3, 2, 1, true, true, false},
        {"ave", 3, 2, 1, true, true, false},  {"ave", 3, 2, 1, true, false, false},
        {"ave", 2, 1, 0, false, true, false}, {"ave", 1, 1, 0, false, true, true},
        {"max", 1, 1, 0, false, true, true},  {"ave", 3, 3, 1, false, false, false}};
    for (const Case& c : cases)
    {
        dnn::Net net;
        int stem = addStem(net, 2, 3, rng);
        dnn::LayerParams lp;
        lp.set("pool", c.pool);
        if (c.global)
            lp.set("global_pooling", true);
        else
        {
            lp.set("kernel_size", c.k);
            lp.set("stride", c.s);
            lp.set("pad", c.p);
        }
        lp.set("ceil_mode", c.ceil);
        lp.set("ave_pool_padded_area", c.paddedArea);
        addLayer(net, "pool", "Pooling", lp, {stem});
        SCOPED_TRACE(cv::format("%s k%d s%d p%d ceil %d padded %d global %d", c.pool, c.k, c.s, c.p, c.ceil,
                                c.paddedArea, c.global));
        expectGradientMatches(net, randomBlob({1, 2, 7, 8}, rng), "pool");
    }
}

struct ActivationCase
{
    const char* type;
    std::function<void(dnn::LayerParams&, RNG&)> params;
};

TEST(GradientCheck, Activations)
{
    RNG rng(104);
    const std::vector<ActivationCase> cases = {
        {"ReLU", [](dnn::LayerParams&, RNG&) {}},
        {"ReLU", [](dnn::LayerParams& lp, RNG&) { lp.set("negative_slope", 0.2f); }},
        {"ReLU6", [](dnn::LayerParams& lp, RNG&) { lp.set("min_value", -0.5f); lp.set("max_value", 0.5f); }},
        {"PReLU", [](dnn::LayerParams& lp, RNG& r) { lp.blobs = {randomBlob({3}, r, 0.f, 0.5f)}; }},
        {"ELU", [](dnn::LayerParams& lp, RNG&) { lp.set("alpha", 0.7f); }},
        {"Sigmoid", [](dnn::LayerParams&, RNG&) {}},
        {"TanH", [](dnn::LayerParams&, RNG&) {}},
        {"Swish", [](dnn::LayerParams&, RNG&) {}},
        {"Mish", [](dnn::LayerParams&, RNG&) {}},
        {"HardSigmoid", [](dnn::LayerParams& lp, RNG&) { lp.set("alpha", 0.3f); lp.set("beta", 0.4f); }},
        {"HardSwish", [](dnn::LayerParams&, RNG&) {}},
        {"Power", [](dnn::LayerParams& lp, RNG&) { lp.set("power", 2.f); lp.set("scale", 0.7f); lp.set("shift", 0.3f); }},
        {"Power", [](dnn::LayerParams& lp, RNG&) { lp.set("scale", -1.5f); lp.set("shift", 0.3f); }},
        {"Exp", [](dnn::LayerParams& lp, RNG&) { lp.set("scale", 0.5f); }},
        {"AbsVal", [](dnn::LayerParams&, RNG&) {}},
        {"Dropout", [](dnn::LayerParams&, RNG&) {}},
        {"Identity", [](dnn::LayerParams&, RNG&) {}},
    };
    for (const ActivationCase& c : cases)
    {
        dnn::Net net;
        int stem = addStem(net, 2, 3, rng);
        dnn::LayerParams lp;
        c.params(lp, rng);
        addLayer(net, "act", c.type, lp, {stem});
        SCOPED_TRACE(c.type);
        expectGradientMatches(net, randomBlob({2, 2, 5, 6}, rng, -2.f, 2.f), "act");
    }
}

TEST(GradientCheck, BatchNormAndScale)
{
    RNG rng(105);
    {
        dnn::Net net;
        int stem = addStem(net, 2, 3, rng);
        dnn::LayerParams lp;
        lp.set("has_weight", true);
        lp.set("has_bias", true);
        lp.set("eps", 1e-5f);
        lp.blobs = {randomBlob({3}, rng), randomBlob({3}, rng, 0.5f, 2.f), randomBlob({3}, rng), randomBlob({3}, rng)};
        addLayer(net, "bn", "BatchNorm", lp, {stem});
        expectGradientMatches(net, randomBlob({2, 2, 5, 5}, rng), "bn");
    }
    {
        dnn::Net net;
        int stem = addStem(net, 2, 3, rng);
        dnn::LayerParams lp;
        lp.set("bias_term", true);
        lp.blobs = {randomBlob({3}, rng), randomBlob({3}, rng)};
        addLayer(net, "scale", "Scale", lp, {stem});
        expectGradientMatches(net, randomBlob({1, 2, 5, 5}, rng), "scale");
    }
    {   // squeeze-excitation: x * sigmoid(fc(gap(x))) as a 2-input Scale
        dnn::Net net;
        int stem = addStem(net, 2, 4, rng);
        dnn::LayerParams pool;
        pool.set("pool", "ave");
        pool.set("global_pooling", true);
        int gap = addLayer(net, "gap", "Pooling", pool, {stem});
        int fc = addLayer(net, "fc", "Convolution", convParams(4, 4, 1, rng), {gap});
        int sig = addLayer(net, "sig", "Sigmoid", dnn::LayerParams(), {fc});
        addLayer(net, "se", "Scale", dnn::LayerParams(), {stem, sig});
        expectGradientMatches(net, randomBlob({1, 2, 5, 5}, rng), "se");
    }
}

TEST(GradientCheck, Eltwise)
{
    RNG rng(106);
    const char* ops[] = {"sum", "sum", "prod", "max", "div"};
    for (int i = 0; i < 5; i++)
    {
        dnn::Net net;
        int a = addLayer(net, "a", "Convolution", convParams(3, 2, 3, rng, 1, 1, 1), {0});
        int b = addLayer(net, "b", "Convolution", convParams(3, 2, 1, rng), {0});
        int inputs[] = {a, b};
        if (std::string(ops[i]) == "div")  // keep the divisor away from zero
        {
            dnn::LayerParams lp;
            lp.set("shift", 2.f);
            inputs[1] = addLayer(net, "shift", "Power", lp, {b});
            lp = dnn::LayerParams();
            lp.set("scale", 0.5f);
            inputs[1] = addLayer(net, "abs", "Sigmoid", lp, {inputs[1]});
        }
        dnn::LayerParams lp;
        lp.set("operation", ops[i]);
        if (i == 1)
        {
            float coeffs[] = {0.5f, -2.f};
            lp.set("coeff", DictValue::arrayReal(coeffs, 2));
        }
        addLayer(net, "elt", "Eltwise", lp, {inputs[0], inputs[1]});
        SCOPED_TRACE(ops[i]);
        expectGradientMatches(net, randomBlob({2, 2, 5, 5}, rng), "elt");
    }
}

TEST(GradientCheck, ShapeLayers)
{
    RNG rng(107);
    {   // Concat of two branches along channels, and Split feeding both
        dnn::Net net;
        int stem = addStem(net, 2, 3, rng);
        dnn::LayerParams sp;
        sp.set("top_count", 2);
        int split = addLayer(net, "split", "Split", sp, {stem});
        int a = addLayer(net, "a", "Convolution", convParams(2, 3, 1, rng), {split}, {0});
        int b = addLayer(net, "b", "Convolution", convParams(3, 3, 3, rng, 1, 1, 1), {split}, {1});
        dnn::LayerParams cp;
        cp.set("axis", 1);
        addLayer(net, "concat", "Concat", cp, {a, b});
        expectGradientMatches(net, randomBlob({1, 2, 5, 5}, rng), "concat");
    }
    {   // Slice into two unequal parts, each through its own layer, then Concat
        dnn::Net net;
        int stem = addStem(net, 2, 5, rng);
        dnn::LayerParams sl;
        sl.set("axis", 1);
        int points[] = {2};
        sl.set("slice_point", DictValue::arrayInt(points, 1));
        int slice = addLayer(net, "slice", "Slice", sl, {stem});
        int a = addLayer(net, "a", "Sigmoid", dnn::LayerParams(), {slice}, {0});
        int b = addLayer(net, "b", "TanH", dnn::LayerParams(), {slice}, {1});
        dnn::LayerParams cp;
        cp.set("axis", 1);
        addLayer(net, "concat", "Concat", cp, {b, a});
        expectGradientMatches(net, randomBlob({2, 2, 4, 5}, rng), "concat");
    }
    {   // Slice into equal halves (ShuffleNet's split): which half feeds which layer is found by replay
        dnn::Net net;
        int stem = addStem(net, 2, 4, rng);
        dnn::LayerParams sl;
        sl.set("axis", 1);
        sl.set("num_split", 2);
        int slice = addLayer(net, "slice", "Slice", sl, {stem});
        int b = addLayer(net, "b", "Convolution", convParams(2, 2, 3, rng, 1, 1, 1), {slice}, {1});
        int a = addLayer(net, "a", "ReLU", dnn::LayerParams(), {slice}, {0});
        dnn::LayerParams cp;
        cp.set("axis", 1);
        addLayer(net, "concat", "Concat", cp, {a, b});
        expectGradientMatches(net, randomBlob({1, 2, 4, 5}, rng), "concat");
        Ptr<Backprop> bp = Backprop::create(net);
        bp->forward(randomBlob({1, 2, 4, 5}, rng));
        const int sliceId = net.getLayerId("slice");
        EXPECT_EQ(bp->getLayerInputPins("a")[0], std::make_pair(sliceId, 0));
        EXPECT_EQ(bp->getLayerInputPins("b")[0], std::make_pair(sliceId, 1));
    }
    {   // Permute, Flatten, Reshape
        dnn::Net net;
        int stem = addStem(net, 2, 3, rng);
        dnn::LayerParams pp;
        int order[] = {0, 2, 3, 1};
        pp.set("order", DictValue::arrayInt(order, 4));
        int perm = addLayer(net, "perm", "Permute", pp, {stem});
        int sig = addLayer(net, "sig", "Sigmoid", dnn::LayerParams(), {perm});
        int flat = addLayer(net, "flat", "Flatten", dnn::LayerParams(), {sig});
        dnn::LayerParams rp;
        int dims[] = {1, 4, -1};
        rp.set("dim", DictValue::arrayInt(dims, 3));
        int resh = addLayer(net, "reshape", "Reshape", rp, {flat});
        addLayer(net, "tanh", "TanH", dnn::LayerParams(), {resh});
        expectGradientMatches(net, randomBlob({1, 2, 4, 5}, rng), "tanh");
    }
    {   // Padding (constant) and ShuffleChannel
        dnn::Net net;
        int stem = addStem(net, 2, 4, rng);
        dnn::LayerParams pp;
        int pads[] = {0, 0, 0, 0, 1, 2, 2, 0};
        pp.set("paddings", DictValue::arrayInt(pads, 8));
        pp.set("value", 0.5f);
        int pad = addLayer(net, "pad", "Padding", pp, {stem});
        dnn::LayerParams sc;
        sc.set("group", 2);
        int shuffle = addLayer(net, "shuffle", "ShuffleChannel", sc, {pad});
        addLayer(net, "conv", "Convolution", convParams(3, 4, 3, rng), {shuffle});
        expectGradientMatches(net, randomBlob({1, 2, 4, 5}, rng), "conv");
    }
}

TEST(GradientCheck, SoftmaxAndLRN)
{
    RNG rng(108);
    for (int logSoftmax = 0; logSoftmax < 2; logSoftmax++)
        for (int axis = 1; axis < 3; axis++)
        {
            dnn::Net net;
            int stem = addStem(net, 2, 4, rng);
            dnn::LayerParams lp;
            lp.set("axis", axis);
            lp.set("log_softmax", logSoftmax == 1);
            addLayer(net, "softmax", "Softmax", lp, {stem});
            SCOPED_TRACE(cv::format("log %d axis %d", logSoftmax, axis));
            expectGradientMatches(net, randomBlob({2, 2, 3, 4}, rng), "softmax");
        }
    for (int normBySize = 0; normBySize < 2; normBySize++)
    {
        dnn::Net net;
        int stem = addStem(net, 2, 6, rng);
        dnn::LayerParams lp;
        lp.set("local_size", 3);
        lp.set("alpha", 0.5f);
        lp.set("beta", 0.75f);
        lp.set("bias", 1.5f);
        lp.set("norm_by_size", normBySize == 1);
        addLayer(net, "lrn", "LRN", lp, {stem});
        expectGradientMatches(net, randomBlob({1, 2, 4, 4}, rng), "lrn");
    }
}

TEST(GradientCheck, Reduce)
{
    RNG rng(110);
    const char* types[] = {"max", "min", "ave", "sum", "sum_square", "l1", "l2", "log_sum_exp", "prod"};
    for (const char* type : types)
        for (int groups = 1; groups <= 2; groups++)
        {
            dnn::Net net;
            int stem = addStem(net, 2, 3, rng);
            dnn::LayerParams lp;
            lp.set("reduce", type);
            int dims[] = {4, 3};  // the trailing H x W (groups 2) or W (groups 1) values
            lp.set("deleted_dims", DictValue::arrayInt(dims + (2 - groups), groups));
            addLayer(net, "reduce", "Reduce", lp, {stem});
            SCOPED_TRACE(cv::format("%s over %d dims", type, groups));
            expectGradientMatches(net, randomBlob({2, 2, 4, 3}, rng), "reduce");
        }
}

TEST(GradientCheck, SmallNetworkEndToEnd)
{
    // conv-relu-maxpool-conv(residual)-relu-gap-fc: the whole path, to the input, at once.
    RNG rng(109);
    dnn::Net net;
    int c1 = addLayer(net, "c1", "Convolution", convParams(4, 3, 3, rng, 1, 1, 1), {0});
    int r1 = addLayer(net, "r1", "ReLU", dnn::LayerParams(), {c1});
    dnn::LayerParams mp;
    mp.set("pool", "max"); mp.set("kernel_size", 2); mp.set("stride", 2);
    int p1 = addLayer(net, "p1", "Pooling", mp, {r1});
    int c2 = addLayer(net, "c2", "Convolution", convParams(4, 4, 3, rng, 1, 1, 1), {p1});
    int add = addLayer(net, "add", "Eltwise", dnn::LayerParams(), {c2, p1});
    int r2 = addLayer(net, "r2", "ReLU", dnn::LayerParams(), {add});
    dnn::LayerParams gp;
    gp.set("pool", "ave"); gp.set("global_pooling", true);
    int gap = addLayer(net, "gap", "Pooling", gp, {r2});
    dnn::LayerParams fc;
    fc.set("num_output", 5); fc.set("bias_term", false);
    fc.blobs = {randomBlob({5, 4}, rng)};
    addLayer(net, "fc", "InnerProduct", fc, {gap});
    expectGradientMatches(net, randomBlob({2, 3, 8, 8}, rng), "fc");
}

}} // namespace
