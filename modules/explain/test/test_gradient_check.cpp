// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
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

/** dX of a 2D convolution with `groups` groups, summed directly from its definition (in double): every
    output element y[co][oy][ox] reads x[ci][oy * sh - ph + ky * dh][ox * sw - pw + kx * dw] of its group's
    input channels ci with weight w[co][ci - first channel of the group][ky][kx]. */
static Mat convInputGradient(const Mat& dy, const Mat& w, const std::vector<int>& xShape, int groups, int sh, int sw,
                             int ph, int pw, int dh, int dw)
{
    Mat dx = Mat::zeros((int)xShape.size(), xShape.data(), CV_64F);
    const int n = xShape[0], inC = xShape[1], inH = xShape[2], inW = xShape[3];
    const int outC = dy.size[1], outH = dy.size[2], outW = dy.size[3], kh = w.size[2], kw = w.size[3];
    const int cinG = inC / groups, coutG = outC / groups;
    for (int img = 0; img < n; img++)
        for (int co = 0; co < outC; co++)
            for (int oy = 0; oy < outH; oy++)
                for (int ox = 0; ox < outW; ox++)
                    for (int ci = 0; ci < cinG; ci++)
                        for (int ky = 0; ky < kh; ky++)
                            for (int kx = 0; kx < kw; kx++)
                            {
                                const int iy = oy * sh - ph + ky * dh, ix = ox * sw - pw + kx * dw;
                                if (iy < 0 || iy >= inH || ix < 0 || ix >= inW)
                                    continue;
                                const int xi[] = {img, co / coutG * cinG + ci, iy, ix}, yi[] = {img, co, oy, ox};
                                const int wi[] = {co, ci, ky, kx};
                                dx.at<double>(xi) += (double)dy.at<float>(yi) * w.at<float>(wi);
                            }
    Mat dx32;
    dx.convertTo(dx32, CV_32F);
    return dx32;
}

/** A single Convolution layer of `lp` with pads (padH, padW) on x: its input gradient for a random dY, through
    the engine, against convInputGradient (tolerance relative to the largest element, at least 1). */
static void expectConvGradientIsTheDefinition(dnn::LayerParams lp, int groups, int stride, int dil, int padH, int padW,
                                              const Mat& x, RNG& rng)
{
    lp.erase("pad");  // cv::dnn 4.6 takes only symmetric pads (the ONNX importer adds Padding otherwise)
    lp.set("pad_h", padH);
    lp.set("pad_w", padW);
    const Mat w = lp.blobs[0].clone();
    dnn::Net net;
    addLayer(net, "conv", "Convolution", lp, {0});
    Ptr<Backprop> bp = Backprop::create(net);
    bp->forward(x);
    const Mat dy = randomBlob(shapeOf(bp->getActivation("conv")), rng);
    std::vector<Mat> grads;
    bp->backward({"conv"}, {dy}, {String()}, grads, RECTIFIER_EXACT);
    const Mat expected = convInputGradient(dy, w, shapeOf(x), groups, stride, stride, padH, padW, dil, dil);
    ASSERT_EQ(shapeOf(grads[0]), shapeOf(x));
    EXPECT_LE(cv::norm(grads[0], expected, NORM_INF), 1e-5 * std::max(1.0, cv::norm(expected, NORM_INF)));
}

/** The depthwise kernel (a flat stencil per phase of the stride) through the engine against the definition,
    over kernel sizes, strides 1-3, pads, dilations and widths where taps fall off both edges. */
TEST(GradientCheck, DepthwiseConvolutionMatchesDefinition)
{
    RNG rng(131);
    for (int iter = 0; iter < 40; iter++)
    {
        const int channels = rng.uniform(1, 4), k = rng.uniform(1, 6), stride = rng.uniform(1, 4);
        const int dil = rng.uniform(1, 3), padH = rng.uniform(0, k), padW = rng.uniform(0, k);
        const int inH = rng.uniform(k * dil, 12), inW = rng.uniform(std::max(1, k * dil - 2 * padW), 40);
        const Mat x = randomBlob({rng.uniform(1, 3), channels, inH, inW}, rng);
        SCOPED_TRACE(cv::format("iter %d k %d stride %d dilation %d pads %d,%d input %dx%d", iter, k, stride, dil, padH,
                                padW, inH, inW));
        expectConvGradientIsTheDefinition(convParams(channels, 1, k, rng, channels, stride, 0, dil), channels, stride,
                                          dil, padH, padW, x, rng);
    }
}

/** 3x3 stride-1 convolutions on 16+ channels take Winograd's F(2x2, 3x3) from 256 input pixels (all images)
    and F(4x4, 3x3) from 1024: each regime and the direct path below it, against the definition, with pads 0-2
    per axis, groups, batches, and planes whose last tile row and column stick out of dX. */
TEST(GradientCheck, Convolution3x3WinogradMatchesDefinition)
{
    RNG rng(137);
    const int pixelRange[][2] = {{64, 200}, {400, 900}, {1200, 3000}};
    for (int iter = 0; iter < 12; iter++)
    {
        const int group = iter % 4 == 3 ? 2 : 1;
        const int inC = group * rng.uniform(16, 25), outC = group * rng.uniform(16, 25), padH = rng.uniform(0, 3);
        const int padW = rng.uniform(0, 3), images = rng.uniform(1, 3);
        const int* range = pixelRange[iter % 3];
        // planes down to one row or column where the padding allows it
        const int pixels = rng.uniform(range[0], range[1]) / images, inW = rng.uniform(std::max(1, 3 - 2 * padW), 40);
        const int inH = std::max(std::max(1, 3 - 2 * padH), pixels / inW);
        const Mat x = randomBlob({images, inC, inH, inW}, rng);
        SCOPED_TRACE(cv::format("iter %d group %d channels %d -> %d pads %d,%d input %dx%dx%d", iter, group, inC, outC,
                                padH, padW, images, inH, inW));
        expectConvGradientIsTheDefinition(convParams(outC, inC / group, 3, rng, group, 1, 0, 1), group, 1, 1, padH,
                                          padW, x, rng);
    }
}

/** 1x1 stride-1 convolutions below batch 4 split their pixels among tasks where an image has more pixels
    than a group has input channels, and their input channels otherwise: both, with groups, batches, pixel
    counts that are not multiples of the vector width, and planes smaller than the number of tasks. */
TEST(GradientCheck, PointwiseConvolutionMatchesDefinition)
{
    RNG rng(139);
    for (int iter = 0; iter < 12; iter++)
    {
        const int group = iter % 3 == 2 ? 2 : 1, images = rng.uniform(1, 4);
        const int inC = group * (iter % 2 ? rng.uniform(40, 70) : rng.uniform(1, 9)), outC = group * rng.uniform(1, 20);
        const int inH = rng.uniform(1, 9), inW = rng.uniform(1, 45);
        const Mat x = randomBlob({images, inC, inH, inW}, rng);
        SCOPED_TRACE(cv::format("iter %d group %d channels %d -> %d input %dx%dx%d", iter, group, inC, outC, images,
                                inH, inW));
        expectConvGradientIsTheDefinition(convParams(outC, inC / group, 1, rng, group, 1, 0, 1), group, 1, 1, 0, 0, x,
                                          rng);
    }
}

/** Convolutions with too few input channels per image and group to share them among tasks (a network's stem:
    3 colour channels, 7x7 stride 2) take bands of output rows: one band and several, strides 1-3, dilations,
    pads, groups of one channel and batches, against the definition. */
TEST(GradientCheck, StemConvolutionMatchesDefinition)
{
    RNG rng(141);
    for (int iter = 0; iter < 10; iter++)
    {
        const bool manyBands = iter < 2;  // cols of 2 MB per band: ~3 bands of 3 x 7 x 7 rows at 100 columns
        const int group = iter % 5 == 4 ? 2 : 1, images = iter % 3 == 2 ? 2 : 1;
        const int inC = group * (manyBands ? 3 : rng.uniform(1, images == 2 ? 2 : 4));
        const int k = manyBands ? 7 : rng.uniform(2, 8), stride = manyBands ? 2 : rng.uniform(1, 4);
        const int dil = manyBands ? 1 : rng.uniform(1, 3), padH = rng.uniform(0, k), padW = rng.uniform(0, k);
        const int inH = manyBands ? 200 : rng.uniform(k * dil, 40), inW = manyBands ? 200 : rng.uniform(k * dil, 60);
        const Mat x = randomBlob({images, inC, inH, inW}, rng);
        SCOPED_TRACE(cv::format("iter %d group %d channels %d k %d stride %d dilation %d pads %d,%d input %dx%dx%d", iter,
                                group, inC, k, stride, dil, padH, padW, images, inH, inW));
        expectConvGradientIsTheDefinition(convParams(group * 2, inC / group, k, rng, group, stride, 0, dil), group,
                                          stride, dil, padH, padW, x, rng);
    }
}

/** Max pooling routes each output's gradient to the first maximum of its window in row-major order (as
    PyTorch does): inputs of a few distinct values, so that most windows hold ties, against that rule. */
TEST(GradientCheck, MaxPoolingRoutesToTheFirstMaximum)
{
    RNG rng(143);
    for (int iter = 0; iter < 12; iter++)
    {
        const int k = rng.uniform(1, 5), stride = rng.uniform(1, 4), pad = rng.uniform(0, (k + 1) / 2);
        const bool ceil = iter % 2 == 1;
        Mat x({rng.uniform(1, 3), rng.uniform(1, 4), rng.uniform(k, 12), rng.uniform(k, 15)}, CV_32F);
        rng.fill(x, RNG::UNIFORM, 0, 3);
        x.forEach<float>([](float& v, const int*) { v = std::floor(v); });
        dnn::LayerParams lp;
        lp.set("pool", "max");
        lp.set("kernel_size", k);
        lp.set("stride", stride);
        lp.set("pad", pad);
        lp.set("ceil_mode", ceil);
        dnn::Net net;
        addLayer(net, "pool", "Pooling", lp, {0});
        Ptr<Backprop> bp = Backprop::create(net);
        bp->forward(x);
        const Mat y = bp->getActivation("pool");
        const Mat dy = randomBlob(shapeOf(y), rng);
        std::vector<Mat> grads;
        bp->backward({"pool"}, {dy}, {String()}, grads, RECTIFIER_EXACT);
        Mat expected = Mat::zeros(x.dims, x.size.p, CV_32F);
        const int inH = x.size[2], inW = x.size[3], outH = y.size[2], outW = y.size[3];
        for (int plane = 0; plane < x.size[0] * x.size[1]; plane++)
            for (int oy = 0; oy < outH; oy++)
                for (int ox = 0; ox < outW; ox++)
                {
                    int best = -1;
                    for (int iy = std::max(0, oy * stride - pad); iy < std::min(inH, oy * stride - pad + k); iy++)
                        for (int ix = std::max(0, ox * stride - pad); ix < std::min(inW, ox * stride - pad + k); ix++)
                            if (best < 0 || x.ptr<float>()[plane * inH * inW + iy * inW + ix] >
                                                x.ptr<float>()[plane * inH * inW + best])
                                best = iy * inW + ix;
                    ASSERT_GE(best, 0);
                    expected.ptr<float>()[plane * inH * inW + best] += dy.ptr<float>()[(plane * outH + oy) * outW + ox];
                }
        SCOPED_TRACE(cv::format("iter %d k %d stride %d pad %d ceil %d input %dx%dx%dx%d", iter, k, stride, pad, ceil,
                                x.size[0], x.size[1], inH, inW));
        EXPECT_LE(cv::norm(grads[0], expected, NORM_INF), 1e-6);
    }
}

/** 1D convolution and pooling (3D blobs, ONNX Conv1d/MaxPool1d/AveragePool1d): random hyperparameters. */
TEST(GradientCheck, Convolution1DAndPooling1D)
{
    RNG rng(121);
    for (int iter = 0; iter < 6; iter++)
    {
        const int group = iter % 3 == 1 ? 2 : 1, inC = 2 * rng.uniform(1, 3), outC = group * rng.uniform(1, 3);
        const int k = rng.uniform(1, 4), stride = rng.uniform(1, 3), pad = rng.uniform(0, k), dil = rng.uniform(1, 3);
        dnn::LayerParams lp;
        lp.set("kernel_size", DictValue::arrayInt(&k, 1));
        lp.set("stride", DictValue::arrayInt(&stride, 1));
        lp.set("pad", DictValue::arrayInt(&pad, 1));
        lp.set("dilation", DictValue::arrayInt(&dil, 1));
        lp.set("num_output", outC);
        lp.set("group", group);
        lp.set("bias_term", true);
        lp.blobs = {randomBlob({outC, inC / group, k}, rng, -0.5f, 0.5f), randomBlob({1, outC}, rng)};
        dnn::Net net;
        int conv = addLayer(net, "conv", "Convolution", lp, {0});
        dnn::LayerParams pool;
        const int pk = rng.uniform(1, 3), ps = rng.uniform(1, 3);
        pool.set("pool", iter % 2 ? "max" : "ave");
        pool.set("kernel_size", DictValue::arrayInt(&pk, 1));
        pool.set("stride", DictValue::arrayInt(&ps, 1));
        addLayer(net, "pool", "Pooling", pool, {conv});
        SCOPED_TRACE(cv::format("iter %d group %d k %d stride %d pad %d dilation %d pool %d/%d", iter, group, k, stride,
                                pad, dil, pk, ps));
        const Mat x = randomBlob({rng.uniform(1, 3), inC, rng.uniform(8, 13)}, rng);
        expectGradientMatches(net, x, "conv");
        expectGradientMatches(net, x, "pool");
    }
}

/** 3D convolution and pooling (5D blobs, ONNX Conv3d/MaxPool3d/AveragePool3d): random groups, kernels,
    strides, pads and dilations per axis, then max or average pooling with random windows and pads. */
TEST(GradientCheck, Convolution3DAndPooling3D)
{
    RNG rng(127);
    for (int iter = 0; iter < 6; iter++)
    {
        const int group = iter % 3 == 1 ? 2 : 1, inC = 2 * rng.uniform(1, 3), outC = group * rng.uniform(1, 3);
        int k[3], stride[3], pad[3], dil[3];
        for (int a = 0; a < 3; a++)
        {
            k[a] = rng.uniform(1, 4); stride[a] = rng.uniform(1, 3); pad[a] = rng.uniform(0, k[a]);
            dil[a] = rng.uniform(1, 3);
        }
        dnn::LayerParams lp;
        lp.set("kernel_size", DictValue::arrayInt(k, 3));
        lp.set("stride", DictValue::arrayInt(stride, 3));
        lp.set("pad", DictValue::arrayInt(pad, 3));
        lp.set("dilation", DictValue::arrayInt(dil, 3));
        lp.set("num_output", outC);
        lp.set("group", group);
        lp.set("bias_term", true);
        lp.blobs = {randomBlob({outC, inC / group, k[0], k[1], k[2]}, rng, -0.5f, 0.5f), randomBlob({1, outC}, rng)};
        dnn::Net net;
        int conv = addLayer(net, "conv", "Convolution", lp, {0});
        dnn::LayerParams pool;
        int pk[3], ps[3], pp[3];
        for (int a = 0; a < 3; a++)
        {
            pk[a] = rng.uniform(1, 3); ps[a] = rng.uniform(1, 3); pp[a] = rng.uniform(0, pk[a]);
        }
        pool.set("pool", iter % 2 ? "max" : "ave");
        pool.set("kernel_size", DictValue::arrayInt(pk, 3));
        pool.set("stride", DictValue::arrayInt(ps, 3));
        pool.set("pad", DictValue::arrayInt(pp, 3));
        pool.set("ceil_mode", false);  // cv::dnn's ceil mode can add a window wholly in the padding (NaN averages)
        addLayer(net, "pool", "Pooling", pool, {conv});
        SCOPED_TRACE(cv::format("iter %d group %d k %dx%dx%d stride %dx%dx%d pad %dx%dx%d dilation %dx%dx%d "
                                "pool %dx%dx%d/%dx%dx%d pad %dx%dx%d", iter, group, k[0], k[1], k[2], stride[0],
                                stride[1], stride[2], pad[0], pad[1], pad[2], dil[0], dil[1], dil[2], pk[0], pk[1],
                                pk[2], ps[0], ps[1], ps[2], pp[0], pp[1], pp[2]));
        const Mat x = randomBlob({rng.uniform(1, 3), inC, rng.uniform(5, 8), rng.uniform(5, 8), rng.uniform(5, 8)}, rng);
        expectGradientMatches(net, x, "conv");
        expectGradientMatches(net, x, "pool");
    }
}

/** LSTM (T x N x I input, the hidden states as output): random sizes, forget bias, both directions. */
TEST(GradientCheck, LSTM)
{
    RNG rng(131);
    for (int iter = 0; iter < 4; iter++)
    {
        const int T = rng.uniform(2, 5), N = rng.uniform(1, 3), I = rng.uniform(2, 5), H = rng.uniform(2, 5);
        dnn::LayerParams lp;
        lp.set("reverse", iter % 2 == 1);
        lp.set("forget_bias", iter >= 2 ? 0.5f : 0.f);
        lp.blobs = {randomBlob({4 * H, H}, rng), randomBlob({4 * H, I}, rng), randomBlob({1, 4 * H}, rng),
                    randomBlob({N, H}, rng), randomBlob({N, H}, rng)};
        dnn::Net net;
        int lstm = addLayer(net, "lstm", "LSTM", lp, {0});
        addLayer(net, "out", "Identity", dnn::LayerParams(), {lstm});  // cv::dnn 4.6 cannot forward("lstm") alone
        SCOPED_TRACE(cv::format("iter %d T %d N %d I %d H %d", iter, T, N, I, H));
        expectGradientMatches(net, randomBlob({T, N, I}, rng), "out");
    }
}

/** GRU as cv::dnn runs it with blob weights (T x N x I input, the hidden states as output; the reset gate
    after the recurrent product): random sizes, initial state. */
TEST(GradientCheck, GRU)
{
    RNG rng(137);
    for (int iter = 0; iter < 4; iter++)
    {
        const int T = rng.uniform(2, 5), N = rng.uniform(1, 3), I = rng.uniform(2, 5), H = rng.uniform(2, 5);
        dnn::LayerParams lp;
        lp.set("linear_before_reset", 1);
        lp.blobs = {randomBlob({3 * H, H}, rng), randomBlob({3 * H, I}, rng), randomBlob({1, 6 * H}, rng),
                    randomBlob({N, H}, rng)};
        dnn::Net net;
        int gru = addLayer(net, "gru", "GRU", lp, {0});
        addLayer(net, "out", "Identity", dnn::LayerParams(), {gru});
        SCOPED_TRACE(cv::format("iter %d T %d N %d I %d H %d", iter, T, N, I, H));
        expectGradientMatches(net, randomBlob({T, N, I}, rng), "out");
    }
}

/** A reverse GRU is run forward in time by cv::dnn (it has no reverse mode with blob weights): refused, not
    explained as the model's function; so is a bidirectional one. */
TEST(GradientCheck, GRURefusesReverseAndBidirectional)
{
    RNG rng(138);
    const int T = 3, N = 1, I = 2, H = 2;
    for (const char* direction : {"reverse", "bidirectional"})
    {
        dnn::LayerParams lp;
        lp.set("direction", direction);
        const int dirs = std::string(direction) == "bidirectional" ? 2 : 1;
        lp.set("bidirectional", dirs == 2);
        lp.blobs = {randomBlob({3 * H * dirs, H}, rng), randomBlob({3 * H * dirs, I}, rng),
                    randomBlob({1, 6 * H * dirs}, rng), randomBlob({N * dirs, H}, rng)};
        dnn::Net net;
        int gru = addLayer(net, "gru", "GRU", lp, {0});
        addLayer(net, "out", "Identity", dnn::LayerParams(), {gru});
        Ptr<Backprop> bp = Backprop::create(net);
        bp->forward(randomBlob({T, N, I}, rng));
        const Mat out = bp->getActivation("out");
        std::vector<Mat> grads;
        expectError([&] { bp->backward({"out"}, {Mat::ones(out.dims, out.size.p, CV_32F)}, {""}, grads); },
                    dirs == 2 ? "explain: layer 'gru' (GRU) is bidirectional; not supported"
                              : "explain: layer 'gru' (GRU) runs in reverse, which cv::dnn does not do (it runs the "
                                "layer forward in time); not supported");
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
#if CV_VERSION_MAJOR == 4 && CV_VERSION_MINOR < 8
            lp.set("reduce", type);
            int dims[] = {4, 3};  // the trailing H x W (groups 2) or W (groups 1) values
            lp.set("deleted_dims", DictValue::arrayInt(dims + (2 - groups), groups));
#else  // ONNX-style axes and operation names since 4.8
            lp.set("reduce", std::string(type) == "ave" ? "mean" : type);
            int axes[] = {2, 3};
            lp.set("axes", DictValue::arrayInt(axes + (2 - groups), groups));
#endif
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

namespace cv { namespace explain {
Ptr<BackwardRule> createBackwardRule(const LayerInfo& info);  // exported by the library, not in its headers
}}

namespace opencv_test { namespace {

TEST(GradientCheck, SmoothActivations)
{
    RNG rng(120);
    struct Case { const char* type; float lo, hi; std::function<void(dnn::LayerParams&)> params; };
    const std::vector<Case> cases = {
        {"Log", 0.5f, 3.f, nullptr},  {"Erf", -2.f, 2.f, nullptr},   {"Sqrt", 0.5f, 3.f, nullptr},
        {"Reciprocal", 0.5f, 3.f, nullptr}, {"Sin", -3.f, 3.f, nullptr}, {"Cos", -3.f, 3.f, nullptr},
        {"Tan", -1.f, 1.f, nullptr},  {"Sinh", -2.f, 2.f, nullptr},  {"Cosh", -2.f, 2.f, nullptr},
        {"Asin", -0.8f, 0.8f, nullptr}, {"Acos", -0.8f, 0.8f, nullptr}, {"Atan", -2.f, 2.f, nullptr},
        {"Asinh", -2.f, 2.f, nullptr}, {"Acosh", 1.5f, 3.f, nullptr}, {"Atanh", -0.8f, 0.8f, nullptr},
        {"Softplus", -3.f, 3.f, nullptr}, {"Softsign", -3.f, 3.f, nullptr},
        {"Selu", -2.f, 2.f, [](dnn::LayerParams& lp) { lp.set("alpha", 1.3f); lp.set("gamma", 0.9f); }},
        {"Celu", -2.f, 2.f, [](dnn::LayerParams& lp) { lp.set("alpha", 0.6f); }},
        {"ThresholdedRelu", -2.f, 2.f, [](dnn::LayerParams& lp) { lp.set("alpha", 0.3f); }},
    };
    for (const Case& c : cases)
    {
        // the layer straight on the input, whose range keeps it inside the function's domain
        dnn::Net net;
        dnn::LayerParams lp;
        if (c.params)
            c.params(lp);
        addLayer(net, "act", c.type, lp, {0});
        SCOPED_TRACE(c.type);
        expectGradientMatches(net, randomBlob({2, 3, 4, 5}, rng, c.lo, c.hi), "act");
    }
}

TEST(GradientCheck, EltwiseMin)
{
    RNG rng(121);
    dnn::Net net;
    int a = addLayer(net, "a", "Convolution", convParams(3, 2, 3, rng, 1, 1, 1), {0});
    int b = addLayer(net, "b", "Convolution", convParams(3, 2, 1, rng), {0});
    dnn::LayerParams lp;
    lp.set("operation", "min");
    addLayer(net, "elt", "Eltwise", lp, {a, b});
    expectGradientMatches(net, randomBlob({2, 2, 5, 5}, rng), "elt");
}

TEST(GradientCheck, MVN)
{
    RNG rng(122);
    for (int across = 0; across < 2; across++)
        for (int normVariance = 0; normVariance < 2; normVariance++)
        {
            dnn::Net net;
            int stem = addStem(net, 2, 3, rng);
            dnn::LayerParams lp;
            lp.set("across_channels", across == 1);
            lp.set("normalize_variance", normVariance == 1);
            lp.set("eps", 1e-3f);
            addLayer(net, "mvn", "MVN", lp, {stem});
            SCOPED_TRACE(cv::format("across %d normVariance %d", across, normVariance));
            expectGradientMatches(net, randomBlob({2, 2, 4, 5}, rng), "mvn");
        }
}

TEST(GradientCheck, Normalize)
{
    RNG rng(123);
    struct Case { float p; bool acrossSpatial; int scales; };
    const Case cases[] = {{2.f, true, 0}, {2.f, false, 0}, {2.f, false, 3}, {2.f, true, 1}, {1.f, false, 0}, {3.f, false, 3}};
    for (const Case& c : cases)
    {
        dnn::Net net;
        int stem = addStem(net, 2, 3, rng);
        dnn::LayerParams lp;
        lp.set("p", c.p);
        lp.set("across_spatial", c.acrossSpatial);
        lp.set("eps", 1e-6f);
        if (c.scales > 0)
            lp.blobs = {randomBlob({c.scales, 1}, rng, 0.5f, 2.f)};
        addLayer(net, "norm", "Normalize", lp, {stem});
        SCOPED_TRACE(cv::format("p %g across spatial %d scales %d", c.p, c.acrossSpatial, c.scales));
        expectGradientMatches(net, randomBlob({2, 2, 4, 5}, rng), "norm");
    }
}

TEST(GradientCheck, CumSum)
{
    RNG rng(124);
    // cv::dnn 4.6 sums correctly only along the last axis, and not exclusively after another layer (refused)
    for (int reverse = 0; reverse < 2; reverse++)
    {
        dnn::Net net;
        int stem = addStem(net, 2, 3, rng);
        dnn::LayerParams lp;
        lp.set("axis", -1);
        lp.set("reverse", reverse);
        addLayer(net, "cumsum", "CumSum", lp, {stem});
        SCOPED_TRACE(cv::format("reverse %d", reverse));
        expectGradientMatches(net, randomBlob({2, 2, 4, 5}, rng), "cumsum");
    }
}

TEST(GradientCheck, PaddingReflectAndEdge)
{
    RNG rng(125);
    for (const char* type : {"reflect", "edge"})
    {
        dnn::Net net;
        int stem = addStem(net, 2, 3, rng);
        dnn::LayerParams pp;
        int pads[] = {0, 0, 0, 0, 2, 1, 3, 2};
        pp.set("paddings", DictValue::arrayInt(pads, 8));
        pp.set("type", type);
        int pad = addLayer(net, "pad", "Padding", pp, {stem});
        addLayer(net, "conv", "Convolution", convParams(2, 3, 3, rng), {pad});
        SCOPED_TRACE(type);
        expectGradientMatches(net, randomBlob({2, 2, 5, 6}, rng), "conv");
    }
}

TEST(GradientCheck, SliceWithSteps)
{
    RNG rng(126);
    dnn::Net net;
    int stem = addStem(net, 2, 4, rng);
    dnn::LayerParams sl;
    int begin[] = {0, 1, 0, 1}, end[] = {-1, 4, 7, -1}, steps[] = {1, 2, 3, 2};
    sl.set("begin", DictValue::arrayInt(begin, 4));
    sl.set("end", DictValue::arrayInt(end, 4));
    sl.set("steps", DictValue::arrayInt(steps, 4));
    int slice = addLayer(net, "slice", "Slice", sl, {stem});
    addLayer(net, "tanh", "TanH", dnn::LayerParams(), {slice});
    expectGradientMatches(net, randomBlob({2, 2, 7, 8}, rng), "tanh");
}

#if CV_VERSION_MAJOR > 4 || CV_VERSION_MINOR >= 10
/** The layers cv::dnn 4.10+ fuses from transformer exports, in a block as in a ViT: LayerNormalization (weight
    and bias as constant inputs, over the last axis or the last two), Gelu, multi-head Attention (weights as
    blobs) and GeluApproximation; random sizes and heads. */
TEST(GradientCheck, TransformerLayers)
{
    RNG rng(151);
    for (int iter = 0; iter < 3; iter++)
    {
        const int n = rng.uniform(1, 3), s = rng.uniform(2, 6), heads = rng.uniform(1, 3);
        const int d = heads * rng.uniform(1, 4), q = heads * rng.uniform(1, 3), axis = iter == 1 ? 1 : 2;
        const std::vector<int> normShape = axis == 2 ? std::vector<int>{d} : std::vector<int>{s, d};
        dnn::Net net;
        dnn::LayerParams weight, bias, norm, attention;
        weight.blobs = {randomBlob(normShape, rng, 0.5f, 1.5f)};
        bias.blobs = {randomBlob(normShape, rng)};
        norm.set("axis", axis);
        norm.set("epsilon", 1e-5f);
        const int w = addLayer(net, "ln_weight", "Const", weight, {}), b = addLayer(net, "ln_bias", "Const", bias, {});
        const int ln = addLayer(net, "ln", "LayerNormalization", norm, {0, w, b});
        const int gelu = addLayer(net, "gelu", "Gelu", dnn::LayerParams(), {ln});
        int sizes[] = {q, q, d};
        attention.set("num_heads", heads);
        attention.set("qkv_hidden_sizes", DictValue::arrayInt(sizes, 3));
        attention.blobs = {randomBlob({d, 2 * q + d}, rng), randomBlob({2 * q + d}, rng)};
        const int att = addLayer(net, "attention", "Attention", attention, {gelu});
        addLayer(net, "out", "GeluApproximation", dnn::LayerParams(), {att});
        SCOPED_TRACE(cv::format("iter %d: %d x %d x %d, %d heads, q %d, axis %d", iter, n, s, d, heads, q, axis));
        expectGradientMatches(net, randomBlob({n, s, d}, rng, -2.f, 2.f), "out");
    }
}
#endif

/** A backward rule made straight from a layer (created through cv::dnn's factory, so its parameters are
    captured), run on random blobs of the given shapes: the refusals of settings cv::dnn runs but the rule
    does not handle, without a Net around them. */
void runRule(const String& type, dnn::LayerParams lp, const std::vector<std::vector<int> >& inShapes,
             const std::vector<int>& outShape, const std::vector<Mat>& blobs = {})
{
    lp.name = "l";
    lp.type = type;
    LayerInfo info;
    info.name = "l";
    info.type = type;
    info.layer = dnn::LayerFactory::createLayerInstance(type, lp);
    ASSERT_FALSE(info.layer.empty()) << type;
    RNG rng(127);
    std::vector<Mat> inputs, grads(inShapes.size());
    for (size_t i = 0; i < inShapes.size(); i++)
    {
        info.inputShapes.push_back(explain::MatShape(inShapes[i].begin(), inShapes[i].end()));
        inputs.push_back(i < blobs.size() ? blobs[i] : randomBlob(inShapes[i], rng));
    }
    info.outputShapes = {explain::MatShape(outShape.begin(), outShape.end())};
    const Mat out = randomBlob(outShape, rng), r = randomBlob(outShape, rng);
    Ptr<BackwardRule> rule = createBackwardRule(info);
    rule->backward(inputs, {out}, {r}, std::vector<bool>(inputs.size(), true), RECTIFIER_EXACT, grads);
}

TEST(RuleRefusals, UnhandledSettingsOfTheNewRules)
{
    const std::vector<int> s = {1, 3, 4, 5};
    dnn::LayerParams celu;
    celu.set("alpha", 0.f);
    expectError([&] { runRule("Celu", celu, {s}, s); },
                "explain: layer 'l' (Celu) has alpha 0 (x / alpha undefined)");
    dnn::LayerParams minCoeff;
    minCoeff.set("operation", "min");
    float coeffs[] = {1.f, 2.f};
    minCoeff.set("coeff", DictValue::arrayReal(coeffs, 2));
    expectError([&] { runRule("Eltwise", minCoeff, {s, s}, s); },
                "explain: layer 'l' (Eltwise) has coefficients with operation 'min'; only a sum is weighted by them");
    dnn::LayerParams minShapes;
    minShapes.set("operation", "min");
    expectError([&] { runRule("Eltwise", minShapes, {s, {1, 3, 1, 1}}, s); },
                "explain: layer 'l' (Eltwise) adds blobs of different shapes; not supported yet");
    dnn::LayerParams mvn;
    mvn.blobs = {Mat::ones(1, 3, CV_32F)};
    expectError([&] { runRule("MVN", mvn, {s}, s); },
                "explain: layer 'l' (MVN) has weight blobs; cv::dnn's MVN has none, so their meaning is unknown");
    dnn::LayerParams pHalf;
    pHalf.set("p", 0.5f);
    expectError([&] { runRule("Normalize", pHalf, {s}, s); },
                "explain: layer 'l' (Normalize) normalizes with p = 0.5; p >= 1 is supported");
    dnn::LayerParams scales;
    scales.set("across_spatial", false);
    scales.blobs = {Mat::ones(2, 1, CV_32F)};
    expectError([&] { runRule("Normalize", scales, {s}, s); },
                "explain: layer 'l' (Normalize) has 2 scales for 3 planes");
    dnn::LayerParams cumAxis;
    cumAxis.set("axis", 2);
    expectError([&] { runRule("CumSum", cumAxis, {s}, s); },
                "explain: layer 'l' (CumSum) sums along axis 2, which is not the last axis of a 4-D blob with more "
                "than one element after it; cv::dnn 4.6's CumSum does not compute a cumulative sum there");
    dnn::LayerParams cumFlag;
    cumFlag.set("exclusive", 2);
    expectError([&] { runRule("CumSum", cumFlag, {s}, s); },
                "explain: layer 'l' (CumSum) has exclusive 2, reverse 0; 0 or 1 is supported");
    dnn::LayerParams cumExclusive;
    cumExclusive.set("exclusive", 1);
    expectError([&] { runRule("CumSum", cumExclusive, {s}, s); },
                "explain: layer 'l' (CumSum) is exclusive; cv::dnn 4.6 computes an exclusive CumSum wrongly when it "
                "runs in place, so it has no backward rule");
    dnn::LayerParams channelReflect;
    int pads[] = {0, 0, 1, 1, 0, 0, 0, 0};
    channelReflect.set("paddings", DictValue::arrayInt(pads, 8));
    channelReflect.set("type", "reflect");
    expectError([&] { runRule("Padding", channelReflect, {s}, {1, 5, 4, 5}); },
                "explain: layer 'l' (Padding) pads other than the two spatial axes of a 4-D blob in reflect/edge mode");
    dnn::LayerParams symmetric = channelReflect;
    symmetric.set("type", "symmetric");
    expectError([&] { runRule("Padding", symmetric, {s}, {1, 5, 4, 5}); },
                "explain: padding type 'symmetric' of layer 'l' (Padding) has no backward rule (constant, reflect "
                "and edge are supported)");
    dnn::LayerParams negativeSplit;
    negativeSplit.set("axis", -1);
    int points[] = {2};
    negativeSplit.set("slice_point", DictValue::arrayInt(points, 1));
    expectError([&] { runRule("Slice", negativeSplit, {s}, {1, 3, 4, 2}); },
                "explain: Slice layer 'l' (Slice) splits along a negative axis, for which cv::dnn 4.6 reports wrong "
                "output shapes; export the split with a non-negative axis");
#if CV_VERSION_MAJOR > 4 || CV_VERSION_MINOR >= 10
    // Attention: a rotary embedding, query and key sizes that differ, an attention mask (a second input)
    RNG rng(152);
    dnn::LayerParams attention;
    int sizes[] = {4, 4, 6};
    attention.set("num_heads", 2);
    attention.set("qkv_hidden_sizes", DictValue::arrayInt(sizes, 3));
    attention.blobs = {randomBlob({6, 14}, rng), randomBlob({14}, rng)};
    const std::vector<int> tokens = {1, 3, 6};
    expectError([&] { runRule("Attention", attention, {tokens, {1, 2, 3, 3}}, tokens); },
                "explain: layer 'l' (Attention) has 2 inputs and 2 weights: an attention mask has no backward rule yet");
    dnn::LayerParams rotary = attention;
    rotary.set("do_rotary", true);
    expectError([&] { runRule("Attention", rotary, {tokens}, tokens); },
                "explain: layer 'l' (Attention) applies a rotary position embedding, which has no backward rule yet");
    dnn::LayerParams unequal = attention;
    int unequalSizes[] = {4, 2, 6};
    unequal.set("qkv_hidden_sizes", DictValue::arrayInt(unequalSizes, 3));
    unequal.blobs = {randomBlob({6, 12}, rng), randomBlob({12}, rng)};
    expectError([&] { runRule("Attention", unequal, {tokens}, tokens); },
                "explain: layer 'l' (Attention) has query and key sizes 4 and 2 for 2 heads; equal sizes that the "
                "heads divide are supported");
#endif
}

}} // namespace
