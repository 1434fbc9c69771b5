// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// The explain API on ONNX models. The input bytes are not an ONNX file: they drive a small structure-aware
// generator (below) that writes a well-formed ONNX model (onnx_writer.hpp) from a fixed set of graph
// pieces -- Conv (grouped, depthwise, dilated, strided, padded), ConvTranspose, the activations, pooling
// (ceil mode, padding), BatchNormalization, LRN, Add/Mul (with a constant or an earlier tensor), Concat,
// Split, Slice, Pad, Resize, Transpose, ReduceMean, Flatten, Gemm, Softmax -- with fuzzed shapes,
// attributes and weight values (NaN, Inf, huge, denormal and zero included), then an input blob shape
// (the declared one, another batch or size, or 1x3x64x64 / 1x1x8x8) and what is asked of the module:
//   cv::dnn::readNetFromONNX(buffer) -> getLayersShapes (skip the input when it fails) ->
//   GradCAM::create(net) -> forward -> compute(class, maps, counterfactual) with a fuzzed CAM method ->
//   inputGradient(class, mode) -> one more method (Guided Grad-CAM, input x gradient, SmoothGrad,
//   Integrated Gradients, computeLayers, computeFromGradient) -> Backprop::create(net) -> forward ->
//   backward from a fuzzed layer to the input and another layer.
// Why not raw ONNX bytes: mutating a real model (data/importers/tiny.onnx) crashed Debian's OpenCV 4.6
// ONNX importer itself within a few dozen mutations (an ASan heap-buffer-overflow in readNetFromONNX
// copying a tensor shorter than its dims), which is not this module's code and would make a fixed-seed
// run fail for reasons outside it. The generator keeps the protobuf structure valid and fuzzes what the
// module reads: the graph's layers, their parameters, shapes and values.
// Graphs with a ReduceMean keep their declared input shape (see Generator::shapeFixed).
// Acceptable: any cv::Exception (cv::dnn or the module refusing something). A finding: a crash, a
// sanitizer report, any other exception, a hang, or a result that breaks the API's promises (a map or
// gradient with NaN/Inf, a gradient not of the input's shape, not one map per image).
// FUZZ_DUMP=<file> writes the generated model (to look at one input with Netron or onnx.checker).
#include "fuzz_common.hpp"
#include "onnx_writer.hpp"

#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>
#include <opencv2/explain.hpp>

#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

using namespace cv;
using onnxw::Node;
using cv::dnn::MatShape;

namespace {

typedef std::vector<int64_t> Dims;

struct Tensor
{
    std::string name;
    Dims dims;  // N x C x H x W or N x F
};

/** The graph being generated from the fuzzer's bytes. */
class Generator
{
public:
    explicit Generator(FuzzedDataProvider& in) : in_(in) {}

    onnxw::Graph graph;
    Tensor input, output;
    /** Whether the graph has a ReduceMean: cv::dnn 4.6 imports it with the declared input shape built in,
        and on another shape its Convolution shape inference reads uninitialized memory (garbage 5D shapes,
        a SIGFPE now and then): not the module's code, and not reproducible, so such graphs get only the
        declared input shape. */
    bool shapeFixed = false;

    void build()
    {
        const bool image = in_.ConsumeIntegralInRange(0, 7) != 0;
        input.name = "input";
        input.dims = image ? Dims{1, in_.ConsumeIntegralInRange<int64_t>(1, 4), in_.ConsumeIntegralInRange<int64_t>(1, 12),
                                  in_.ConsumeIntegralInRange<int64_t>(1, 12)}
                           : Dims{1, in_.ConsumeIntegralInRange<int64_t>(1, 16)};
        graph.inputs.push_back(onnxw::valueInfo(input.name, input.dims));
        Tensor x = input;
        seen_.push_back(x);
        const int layers = in_.ConsumeIntegralInRange(1, 8);
        for (int i = 0; i < layers && in_.remaining_bytes() > 0; i++)
        {
            // a layer whose output would be large is taken back: the module's cost, not its correctness
            const size_t nodes = graph.nodes.size(), initializers = graph.initializers.size(), seen = seen_.size();
            const Tensor y = x.dims.size() == 4 ? layer4D(x) : layer2D(x);
            if (elements(y.dims) > kMaxElements || (y.dims.size() == 4 && (y.dims[1] > 64 || y.dims[2] > 64 || y.dims[3] > 64)))
            {
                graph.nodes.resize(nodes);
                graph.initializers.resize(initializers);
                seen_.resize(seen);
                continue;
            }
            x = y;
            seen_.push_back(x);
        }
        const int head = in_.ConsumeIntegralInRange(0, 3);  // 0: as is, 1: Gemm, 2: Gemm + Softmax, 3: Softmax
        if (head == 1 || head == 2)
            x = gemm(x.dims.size() == 4 ? flatten(x) : x);
        if (head >= 2)
            x = unary(x, "Softmax", {onnxw::attrInt("axis", 1)});
        output = x;
        graph.outputs.push_back(onnxw::valueInfo(x.name, x.dims));
    }

    /** The most elements of a generated tensor (and, in LLVMFuzzerTestOneInput, the most of all the layer
        outputs of the input's shape together, times 16): larger nets only cost time. */
    static constexpr size_t kMaxElements = 8192;

    static size_t elements(const Dims& dims)
    {
        size_t n = 1;
        for (int64_t d : dims)
            n *= (size_t)d;
        return n;
    }

private:
    std::string fresh(const char* prefix) { return prefix + std::to_string(counter_++); }

    /** A weight value: mostly small, sometimes zero, huge, denormal, NaN or Inf. */
    float special(uint8_t b)
    {
        static const float values[] = {0.f, -0.f, 1.f, -1.f, 1e-3f, 1e30f, -1e30f, 1e-40f,
                                       std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                                       -std::numeric_limits<float>::infinity(), 3.4e38f, 6.f, 0.5f, 100.f, -100.f};
        return values[b % 16];
    }

    /** `n` values: a pattern chosen by one byte, pseudo-random values from a fuzzed seed (deterministic). */
    std::vector<float> values(size_t n, bool positive = false)
    {
        std::vector<float> v(n);
        const uint8_t mode = in_.ConsumeIntegral<uint8_t>();
        uint32_t state = in_.ConsumeIntegral<uint16_t>() * 2654435761u + 1;
        const float scale = (mode >> 4) == 15 ? 1000.f : 1.f / (1 + (mode >> 4));
        for (size_t i = 0; i < n; i++)
        {
            state = state * 1664525u + 1013904223u;
            const float r = (float)(state >> 8) / (float)(1 << 24);  // [0, 1)
            v[i] = (positive ? r + 0.01f : 2 * r - 1) * scale;
        }
        switch (mode & 15)
        {
        case 0: std::fill(v.begin(), v.end(), 0.f); break;
        case 1: std::fill(v.begin(), v.end(), special(in_.ConsumeIntegral<uint8_t>())); break;
        case 2: case 3:
            if (n)
                v[in_.ConsumeIntegral<uint16_t>() % n] = special(in_.ConsumeIntegral<uint8_t>());
            break;
        default: break;
        }
        return v;
    }

    std::string constant(const Dims& dims, bool positive = false)
    {
        size_t n = 1;
        for (int64_t d : dims)
            n *= (size_t)d;
        const std::string name = fresh("w");
        graph.initializers.push_back(onnxw::floatTensor(name, dims, values(n, positive)));
        return name;
    }

    std::string ints(const Dims& values)
    {
        const std::string name = fresh("i");
        graph.initializers.push_back(onnxw::int64Tensor(name, Dims{(int64_t)values.size()}, values));
        return name;
    }

    std::string floats(const std::vector<float>& v)
    {
        const std::string name = fresh("f");
        graph.initializers.push_back(onnxw::floatTensor(name, Dims{(int64_t)v.size()}, v));
        return name;
    }

    Tensor add(const std::string& op, const std::vector<std::string>& inputs, const Dims& dims,
               std::vector<onnxw::Proto> attrs = {})
    {
        Tensor t{fresh("t"), dims};
        graph.nodes.push_back(onnxw::Node{op, inputs, {t.name}, std::move(attrs)});
        return t;
    }

    Tensor unary(const Tensor& x, const char* op, std::vector<onnxw::Proto> attrs = {})
    {
        return add(op, {x.name}, x.dims, std::move(attrs));
    }

    /** An earlier tensor with the same dims as `x` except perhaps the channels (`anyChannels`); else x. */
    Tensor partner(const Tensor& x, bool anyChannels)
    {
        std::vector<Tensor> fits;
        for (const Tensor& t : seen_)
            if (t.dims.size() == x.dims.size() && t.dims[0] == x.dims[0] &&
                (anyChannels || t.dims[1] == x.dims[1]) &&
                std::equal(t.dims.begin() + 2, t.dims.end(), x.dims.begin() + 2))
                fits.push_back(t);
        return fits.empty() ? x : fits[in_.ConsumeIntegralInRange<size_t>(0, fits.size() - 1)];
    }

    /** Kernel, stride, pad and dilation for one spatial size that give an output >= 1. */
    struct Window
    {
        int64_t k, s, p0, p1, d, out;
    };
    Window window(int64_t size, bool dilation, bool ceil = false)
    {
        Window w;
        w.d = dilation ? in_.ConsumeIntegralInRange<int64_t>(1, 2) : 1;
        w.k = in_.ConsumeIntegralInRange<int64_t>(1, 5);
        w.s = in_.ConsumeIntegralInRange<int64_t>(1, 3);
        w.p0 = in_.ConsumeIntegralInRange<int64_t>(0, w.k - 1);
        w.p1 = in_.ConsumeBool() ? w.p0 : in_.ConsumeIntegralInRange<int64_t>(0, w.k - 1);
        while (w.d * (w.k - 1) + 1 > size + w.p0 + w.p1 && w.k > 1)
            w.k--;
        w.p0 = std::min(w.p0, w.k - 1);
        w.p1 = std::min(w.p1, w.k - 1);
        if (w.d * (w.k - 1) + 1 > size + w.p0 + w.p1)
            w.d = 1;
        const int64_t span = size + w.p0 + w.p1 - (w.d * (w.k - 1) + 1);
        w.out = (ceil ? (span + w.s - 1) / w.s : span / w.s) + 1;
        if (ceil && (w.out - 1) * w.s >= size + w.p0)  // the last window must start inside the input or left pad
            w.out--;
        return w;
    }

    Tensor conv(const Tensor& x, bool transpose)
    {
        const int64_t C = x.dims[1];
        int64_t K = in_.ConsumeIntegralInRange<int64_t>(1, 8);
        int64_t group = 1;
        const int g = in_.ConsumeIntegralInRange(0, 3);
        if (g == 1)
            group = C, K = C * in_.ConsumeIntegralInRange<int64_t>(1, 2);  // depthwise
        else if (g == 2 && C % 2 == 0)
            group = 2, K = 2 * in_.ConsumeIntegralInRange<int64_t>(1, 3);
        Window h = window(x.dims[2], !transpose), w = window(x.dims[3], !transpose);
        std::vector<onnxw::Proto> attrs{onnxw::attrInts("kernel_shape", {h.k, w.k}), onnxw::attrInts("strides", {h.s, w.s}),
                                        onnxw::attrInts("pads", {h.p0, w.p0, h.p1, w.p1}), onnxw::attrInt("group", group)};
        Dims out;
        std::string weights;
        if (transpose)
        {
            // ConvTranspose: out = (in - 1) * s + k - p0 - p1 (dilation 1, no output_padding); weights C x K/group x kh x kw
            const int64_t oh = (x.dims[2] - 1) * h.s + h.k - h.p0 - h.p1, ow = (x.dims[3] - 1) * w.s + w.k - w.p0 - w.p1;
            if (oh < 1 || ow < 1)
                return x;
            out = Dims{x.dims[0], K, oh, ow};
            weights = constant(Dims{C, K / group, h.k, w.k});
        }
        else
        {
            attrs.push_back(onnxw::attrInts("dilations", {h.d, w.d}));
            out = Dims{x.dims[0], K, h.out, w.out};
            weights = constant(Dims{K, C / group, h.k, w.k});
        }
        std::vector<std::string> inputs{x.name, weights};
        if (in_.ConsumeBool())
            inputs.push_back(constant(Dims{K}));
        return add(transpose ? "ConvTranspose" : "Conv", inputs, out, attrs);
    }

    Tensor pool(const Tensor& x, bool maxPool)
    {
        const bool ceil = in_.ConsumeBool();
        Window h = window(x.dims[2], false, ceil), w = window(x.dims[3], false, ceil);
        std::vector<onnxw::Proto> attrs{onnxw::attrInts("kernel_shape", {h.k, w.k}), onnxw::attrInts("strides", {h.s, w.s}),
                                        onnxw::attrInts("pads", {h.p0, w.p0, h.p1, w.p1}),
                                        onnxw::attrInt("ceil_mode", ceil ? 1 : 0)};
        if (!maxPool)
            attrs.push_back(onnxw::attrInt("count_include_pad", in_.ConsumeBool() ? 1 : 0));
        return add(maxPool ? "MaxPool" : "AveragePool", {x.name}, Dims{x.dims[0], x.dims[1], h.out, w.out}, attrs);
    }

    Tensor flatten(const Tensor& x)
    {
        return add("Flatten", {x.name}, Dims{x.dims[0], x.dims[1] * x.dims[2] * x.dims[3]}, {onnxw::attrInt("axis", 1)});
    }

    Tensor gemm(const Tensor& x)
    {
        const int64_t F = x.dims[1], K = in_.ConsumeIntegralInRange<int64_t>(1, 10);
        const bool transB = in_.ConsumeBool();
        std::vector<std::string> inputs{x.name, constant(transB ? Dims{K, F} : Dims{F, K})};
        if (in_.ConsumeBool())
            inputs.push_back(constant(Dims{K}));
        return add("Gemm", inputs, Dims{x.dims[0], K}, {onnxw::attrInt("transB", transB ? 1 : 0)});
    }

    Tensor activation(const Tensor& x, int which)
    {
        switch (which)
        {
        case 0: return unary(x, "Relu");
        case 1: return unary(x, "LeakyRelu", {onnxw::attrFloat("alpha", values(1)[0])});
        case 2: return unary(x, "Sigmoid");
        case 3: return unary(x, "Tanh");
        case 4: return unary(x, "Elu", {onnxw::attrFloat("alpha", 1.f)});
        case 5: return unary(x, "HardSigmoid", {onnxw::attrFloat("alpha", 0.2f), onnxw::attrFloat("beta", 0.5f)});
        case 6: return unary(x, "Abs");
        case 7: return unary(x, "Exp");
        case 8:
        {
            const float lo = in_.ConsumeBool() ? 0.f : -1.f, hi = in_.ConsumeBool() ? 6.f : 1.f;
            return add("Clip", {x.name, floats({lo}), floats({hi})}, x.dims);
        }
        default: return unary(x, "Identity");
        }
    }

    Tensor layer4D(const Tensor& x)
    {
        const int64_t N = x.dims[0], C = x.dims[1], H = x.dims[2], W = x.dims[3];
        switch (in_.ConsumeIntegralInRange(0, 21))
        {
        case 0: case 1: return conv(x, false);
        case 2: return conv(x, true);
        case 3: case 4: return activation(x, in_.ConsumeIntegralInRange(0, 9));
        case 5: return pool(x, true);
        case 6: return pool(x, false);
        case 7:
            return add("BatchNormalization", {x.name, constant({C}), constant({C}), constant({C}), constant({C}, true)}, x.dims,
                       {onnxw::attrFloat("epsilon", 1e-5f)});
        case 8: case 9:
        {
            const bool mul = in_.ConsumeBool();
            const Tensor y = partner(x, false);
            const std::string other = in_.ConsumeBool() ? y.name : constant(in_.ConsumeBool() ? Dims{1, C, 1, 1} : Dims{1});
            return add(mul ? "Mul" : "Add", {x.name, other}, x.dims);
        }
        case 10:
        {
            const Tensor y = partner(x, true);
            return add("Concat", {x.name, y.name}, Dims{N, C + y.dims[1], H, W}, {onnxw::attrInt("axis", 1)});
        }
        case 11: return add("PRelu", {x.name, constant({C, 1, 1})}, x.dims);
        case 12: return add(in_.ConsumeBool() ? "GlobalAveragePool" : "GlobalMaxPool", {x.name}, Dims{N, C, 1, 1});
        case 13:
        {
            const bool linear = in_.ConsumeBool();
            const int64_t sh = in_.ConsumeIntegralInRange<int64_t>(1, 3), sw = in_.ConsumeIntegralInRange<int64_t>(1, 3);
            std::vector<onnxw::Proto> attrs{onnxw::attrString("mode", linear ? "linear" : "nearest")};
            if (linear && in_.ConsumeBool())
                attrs.push_back(onnxw::attrString("coordinate_transformation_mode", "align_corners"));
            return add("Resize", {x.name, floats({}), floats({1.f, 1.f, (float)sh, (float)sw})}, Dims{N, C, H * sh, W * sw}, attrs);
        }
        case 14:
        {
            const bool reflect = in_.ConsumeBool();
            Dims p(8, 0);
            for (int i : {2, 3, 6, 7})
                p[i] = in_.ConsumeIntegralInRange<int64_t>(0, reflect ? std::min<int64_t>(2, (i % 4 == 2 ? H : W) - 1) : 2);
            return add("Pad", {x.name, ints(p)}, Dims{N, C, H + p[2] + p[6], W + p[3] + p[7]},
                       {onnxw::attrString("mode", reflect ? "reflect" : "constant")});
        }
        case 15: return add("Transpose", {x.name}, Dims{N, C, W, H}, {onnxw::attrInts("perm", {0, 1, 3, 2})});
        case 16:
        {
            const int64_t axis = in_.ConsumeIntegralInRange<int64_t>(1, 3), size = x.dims[axis];
            const int64_t start = in_.ConsumeIntegralInRange<int64_t>(0, size - 1), end = in_.ConsumeIntegralInRange<int64_t>(start + 1, size);
            Dims out = x.dims;
            out[axis] = end - start;
            return add("Slice", {x.name, ints({start}), ints({end}), ints({axis})}, out);
        }
        case 17:
        {
            if (C < 2)
                return x;
            const int64_t first = in_.ConsumeIntegralInRange<int64_t>(1, C - 1);
            const std::string a = fresh("t"), b = fresh("t");
            graph.nodes.push_back(onnxw::Node{"Split", {x.name}, {a, b}, {onnxw::attrInt("axis", 1), onnxw::attrInts("split", {first, C - first})}});
            const Tensor ta{a, Dims{N, first, H, W}}, tb{b, Dims{N, C - first, H, W}};
            seen_.push_back(ta);
            seen_.push_back(tb);
            return in_.ConsumeBool() ? add("Concat", {b, a}, x.dims, {onnxw::attrInt("axis", 1)}) : (in_.ConsumeBool() ? ta : tb);
        }
        case 18:
            return add("LRN", {x.name}, x.dims, {onnxw::attrInt("size", 1 + 2 * in_.ConsumeIntegralInRange(0, 2)),
                                                 onnxw::attrFloat("alpha", 1e-4f), onnxw::attrFloat("beta", 0.75f),
                                                 onnxw::attrFloat("bias", 1.f)});
        case 19:
            shapeFixed = true;
            return add("ReduceMean", {x.name}, Dims{N, C, 1, 1}, {onnxw::attrInts("axes", {2, 3}), onnxw::attrInt("keepdims", 1)});
        case 20: return unary(x, "Softmax", {onnxw::attrInt("axis", 1)});
        default: return flatten(x);
        }
    }

    Tensor layer2D(const Tensor& x)
    {
        switch (in_.ConsumeIntegralInRange(0, 4))
        {
        case 0: case 1: return gemm(x);
        case 2: return activation(x, in_.ConsumeIntegralInRange(0, 9));
        case 3: return add(in_.ConsumeBool() ? "Mul" : "Add", {x.name, constant({x.dims[1]})}, x.dims);
        default: return unary(x, "Softmax", {onnxw::attrInt("axis", 1)});
        }
    }

    FuzzedDataProvider& in_;
    std::vector<Tensor> seen_;
    int counter_ = 0;
};

/** A blob of `shape` with deterministic values in [-1, 1) (or [0, 1)). */
Mat makeBlob(const MatShape& shape, uint32_t seed, bool positive)
{
    Mat blob(shape, CV_32F);
    float* p = blob.ptr<float>();
    for (size_t i = 0; i < blob.total(); i++)
    {
        seed = seed * 1664525u + 1013904223u;
        const float r = (float)(seed >> 8) / (float)(1 << 24);
        p[i] = positive ? r : 2 * r - 1;
    }
    return blob;
}

bool finite(InputArray a)
{
    return a.empty() || checkRange(a);
}

void checkMaps(const std::vector<Mat>& maps, int N)
{
    FUZZ_CHECK((int)maps.size() == N);
    for (const Mat& m : maps)
        FUZZ_CHECK(finite(m));
}

void checkGradient(const Mat& grad, const Mat& blob)
{
    FUZZ_CHECK(grad.size == blob.size);
    FUZZ_CHECK(finite(grad));
}

/** The GradCAM calls; each cv::Exception ends that call only. */
void explainGradCAM(FuzzedDataProvider& in, const dnn::Net& net, const Mat& blob)
{
    Ptr<explain::GradCAM> cam;
    try
    {
        std::ostringstream shape;
        shape << blob.size;
        fuzz::step("GradCAM::create, forward on a " + shape.str() + " blob");
        cam = explain::GradCAM::create(net);
        Mat scores;
        cam->forward(blob, scores);
        fuzz::step(format("scores: %d x %d", scores.rows, scores.cols));
        FUZZ_CHECK(scores.rows == blob.size[0]);
    }
    catch (const cv::Exception& e)
    {
        fuzz::accepted(e.err);
        return;
    }
    const int N = blob.size[0];
    const int classId = in.ConsumeIntegralInRange(-1, 12);
    try
    {
        const int method = in.ConsumeIntegralInRange(0, 9);
        const bool eigenSmooth = in.ConsumeIntegralInRange(0, 7) == 0;
        fuzz::step(format("GradCAM at '%s' (scores '%s'): setMethod(%d), setEigenSmooth(%d), compute(%d)",
                           cam->getLayerName().c_str(), cam->getScoreLayerName().c_str(), method, eigenSmooth, classId));
        cam->setMethod(method);
        cam->setEigenSmooth(eigenSmooth);
        std::vector<Mat> maps, counterfactual;
        cam->compute(classId, maps, counterfactual);
        checkMaps(maps, N);
        checkMaps(counterfactual, N);
    }
    catch (const cv::Exception& e)
    {
        fuzz::accepted(e.err);
    }
    try
    {
        Mat grad;
        const int mode = in.ConsumeIntegralInRange(0, 2);
        fuzz::step(format("GradCAM::inputGradient(%d, mode %d)", classId, mode));
        cam->inputGradient(classId, grad, mode);
        checkGradient(grad, blob);
    }
    catch (const cv::Exception& e)
    {
        fuzz::accepted(e.err);
    }
    try
    {
        Mat dst;
        std::vector<Mat> maps;
        const int extra = in.ConsumeIntegralInRange(0, 6);
        fuzz::step(format("GradCAM extra call %d (0 guidedGradCAM, 1 inputTimesGradient, 2 smoothGrad, "
                           "3 integratedGradients, 4 computeLayers, 5 computeFromGradient), class %d", extra, classId));
        switch (extra)
        {
        case 0: cam->guidedGradCAM(classId, dst); checkGradient(dst, blob); break;
        case 1: cam->inputTimesGradient(classId, dst); checkGradient(dst, blob); break;
        case 2: cam->smoothGrad(classId, dst, 3, 0.15, in.ConsumeIntegralInRange(0, 2), 7, 2); checkGradient(dst, blob); break;
        case 3: cam->integratedGradients(classId, dst, 3, noArray(), 2); checkGradient(dst, blob); break;
        case 4:
            cam->computeLayers({cam->getLayerName()}, classId, Size(5, 3), maps);
            checkMaps(maps, N);
            break;
        case 5:
        {
            const Mat out = cam->getBackprop()->getActivation(cam->getScoreLayerName());
            Mat seed = makeBlob(MatShape(out.size.p, out.size.p + out.dims), 99, false);
            cam->computeFromGradient(cam->getScoreLayerName(), seed, maps);
            checkMaps(maps, N);
            break;
        }
        default: break;
        }
    }
    catch (const cv::Exception& e)
    {
        fuzz::accepted(e.err);
    }
}

/** Backprop directly: gradients of a fuzzed layer's output with respect to the input and another layer. */
void explainBackprop(FuzzedDataProvider& in, const dnn::Net& net, const Mat& blob)
{
    try
    {
        Ptr<explain::Backprop> bp = explain::Backprop::create(net);
        bp->forward(blob);
        const std::vector<String> names = bp->getLayerNames();
        if (names.empty())
            return;
        const String seedLayer = names[in.ConsumeIntegralInRange<size_t>(0, names.size() - 1)];
        const String other = names[in.ConsumeIntegralInRange<size_t>(0, names.size() - 1)];
        const Mat out = bp->getActivation(seedLayer);
        const Mat seed = makeBlob(MatShape(out.size.p, out.size.p + out.dims), in.ConsumeIntegral<uint16_t>(), false);
        std::vector<Mat> grads;
        fuzz::step("Backprop::backward from '" + seedLayer + "' to the input and '" + other + "'");
        bp->backward({seedLayer}, {seed}, {String(), other}, grads, (explain::RectifierMode)in.ConsumeIntegralInRange(0, 2));
        FUZZ_CHECK(grads.size() == 2);
        checkGradient(grads[0], blob);
        FUZZ_CHECK(finite(grads[1]));
    }
    catch (const cv::Exception& e)
    {
        fuzz::accepted(e.err);
    }
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***)
{
    fuzz::quiet();
    setNumThreads(1);  // deterministic and cheap: one input at a time, no thread pool under ASan
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    if (size > 512)
        return 0;
    FuzzedDataProvider in(data, size);
    Generator gen(in);
    gen.build();
    const std::string model = gen.graph.model(11);
    if (const char* dump = std::getenv("FUZZ_DUMP"))
        std::ofstream(dump, std::ios::binary) << model;

    dnn::Net net;
    try
    {
        net = dnn::readNetFromONNX(model.data(), model.size());
    }
    catch (const cv::Exception& e)
    {
        fuzz::accepted(e.err);
        return 0;  // cv::dnn refuses the model
    }
    if (net.empty())
        return 0;

    // the input: the declared shape, another batch or size, or a fixed one
    MatShape shape(gen.input.dims.begin(), gen.input.dims.end());
    const int variant = in.ConsumeIntegralInRange(0, 7);
    switch (gen.shapeFixed ? -1 : variant)
    {
    case 0: shape[0] = 2; break;
    case 1: shape = MatShape{1, 3, 64, 64}; break;
    case 2: shape = MatShape{1, 1, 8, 8}; break;
    case 3:
        if (shape.size() == 4)
            shape[2] += 1, shape[3] += 2;
        break;
    default: break;
    }
    try
    {
        std::vector<int> ids;
        std::vector<std::vector<MatShape>> ins, outs;
        net.getLayersShapes(shape, ids, ins, outs);
        size_t total = 0;
        for (const std::vector<MatShape>& layer : outs)
            for (const MatShape& out : layer)
                total += Generator::elements(Dims(out.begin(), out.end()));
        if (total > 16 * Generator::kMaxElements)
            return 0;  // too large to be quick (e.g. the 64 x 64 input through upsampling layers)
    }
    catch (const cv::Exception& e)
    {
        fuzz::accepted(e.err);
        return 0;  // cv::dnn cannot run the net on this shape
    }
    const Mat blob = makeBlob(shape, in.ConsumeIntegral<uint16_t>(), in.ConsumeBool());
    explainGradCAM(in, net, blob);
    explainBackprop(in, net, blob);
    return 0;
}
