// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// Backward rules of layers that combine blobs element by element or per channel:
// Eltwise (sum with coefficients, prod, max, min, div), Scale (weights/bias blobs, or a second input
// broadcast as in squeeze-excitation), BatchNorm (a per-channel scale at inference).
#include "layer_utils.hpp"
#include "../opencv_compat.hpp"
#include "../ocl_ops.hpp"

namespace cv {
namespace explain {

namespace {

enum EltwiseOp { ELT_SUM, ELT_PROD, ELT_MAX, ELT_MIN, ELT_DIV };

/** When the Net was read before this module was loaded, the operation is inferred from the values. */
EltwiseOp inferEltwise(const std::vector<Mat>& in, const Mat& out, std::vector<float>& coeffs)
{
    Mat sum = in[0].clone(), prod = in[0].clone(), mx = in[0].clone(), mn = in[0].clone(), div = in[0].clone();
    for (size_t i = 1; i < in.size(); i++)
    {
        sum += in[i];
        prod = prod.mul(in[i]);
        mx = cv::max(mx, in[i]);
        mn = cv::min(mn, in[i]);
        div = div / in[i];
    }
    const double scale = std::max(1.0, norm(out, NORM_INF));
    if (norm(out, sum, NORM_INF) <= 1e-5 * scale)
        return ELT_SUM;
    if (norm(out, prod, NORM_INF) <= 1e-5 * scale)
        return ELT_PROD;
    if (norm(out, mx, NORM_INF) <= 1e-5 * scale)
        return ELT_MAX;
    if (norm(out, mn, NORM_INF) <= 1e-5 * scale)
        return ELT_MIN;
    if (norm(out, div, NORM_INF) <= 1e-5 * scale)
        return ELT_DIV;
    CV_Error(Error::StsNotImplemented,
             "explain: cannot tell the Eltwise operation (its parameters were not captured because the Net "
             "was read before the explain library was loaded); read the Net after loading it");
}

class EltwiseRule CV_FINAL : public BackwardRule
{
public:
    explicit EltwiseRule(const LayerInfo& info_) : info(info_), op(ELT_SUM)
    {
        const CapturedParams captured(info);
        known = captured.known;
        if (!known)
            return;
        String operation = toLowerCase(captured.params.get<String>("operation", "sum"));
        if (operation == "sum") op = ELT_SUM;
        else if (operation == "prod") op = ELT_PROD;
        else if (operation == "max") op = ELT_MAX;
        else if (operation == "min") op = ELT_MIN;
        else if (operation == "div") op = ELT_DIV;
        else
            CV_Error(Error::StsNotImplemented, "explain: Eltwise operation '" + operation + "' of " +
                                                   describeLayer(info) + " has no backward rule");
        if (captured.params.has("coeff"))
        {
            DictValue c = captured.params.get("coeff");
            for (int i = 0; i < c.size(); i++)
                coeffs.push_back(c.get<float>(i));
        }
        for (float c : coeffs)
            if (op != ELT_SUM && c != 1.f)
                CV_Error(Error::StsNotImplemented, "explain: " + describeLayer(info) + " has coefficients with operation '" +
                                                       operation + "'; only a sum is weighted by them");
    }

    /** A known sum of blobs of one shape reads nothing: each input gets dY (times its coefficient). */
    int activationsRead() const CV_OVERRIDE
    {
        bool sameShapes = !info.outputShapes.empty();
        for (const MatShape& in : info.inputShapes)
            sameShapes = sameShapes && in == info.outputShapes[0];
        return known && op == ELT_SUM && sameShapes ? READS_NOTHING : READS_INPUTS | READS_OUTPUTS;
    }

    void backward(const std::vector<Mat>& inputs, const std::vector<Mat>& outputs,
                  const std::vector<Mat>& outputGrads, const std::vector<bool>& need, RectifierMode,
                  std::vector<Mat>& inputGrads) CV_OVERRIDE
    {
        for (const Mat& in : inputs)
            if (!in.empty() && !outputs[0].empty() && dnn::shape(in) != dnn::shape(outputs[0]))
                CV_Error(Error::StsNotImplemented, "explain: " + describeLayer(info) +
                                                       " adds blobs of different shapes; not supported yet");
        if (!known)
        {
            op = inferEltwise(inputs, outputs[0], coeffs);
            known = true;
        }
        const Mat& r = outputGrads[0];
        for (size_t i = 0; i < inputs.size(); i++)
        {
            if (!need[i])
                continue;
            switch (op)
            {
            case ELT_SUM:
                inputGrads[i] = coeffs.empty() ? r : r * coeffs.at(i);
                break;
            case ELT_PROD:
            {
                Mat g = r.clone();
                for (size_t j = 0; j < inputs.size(); j++)
                    if (j != i)
                        g = g.mul(inputs[j]);
                inputGrads[i] = g;
                break;
            }
            case ELT_MAX:
            case ELT_MIN:
            {
                // The first input holding the maximum (minimum) gets the gradient (ties go to the lowest index).
                const bool mx = op == ELT_MAX;
                Mat mask = Mat::ones(r.dims, r.size.p, CV_8U) * 255;
                for (size_t j = 0; j < i; j++)
                    mask &= mx ? (inputs[i] > inputs[j]) : (inputs[i] < inputs[j]);
                for (size_t j = i + 1; j < inputs.size(); j++)
                    mask &= mx ? (inputs[i] >= inputs[j]) : (inputs[i] <= inputs[j]);
                Mat g = zerosLike(r);
                r.copyTo(g, mask);
                inputGrads[i] = g;
                break;
            }
            case ELT_DIV:
                // y = x0 / x1 / x2 ...: dy/dx0 = y / x0 = 1/(x1 x2 ...), dy/dxj = -y / xj.
                if (i == 0)
                {
                    Mat denom = Mat::ones(r.dims, r.size.p, CV_32F);
                    for (size_t j = 1; j < inputs.size(); j++)
                        denom = denom.mul(inputs[j]);
                    inputGrads[i] = r / denom;
                }
                else
                    inputGrads[i] = -r.mul(outputs[0]) / inputs[i];
                break;
            }
        }
    }

    /** On the device: the same arithmetic on 1 x total views (where OpenCV's element-wise functions take
        their OpenCL path), in the CPU rule's order of operations. */
    bool backwardOCL(const std::vector<UMat>& inputs, const std::vector<UMat>& outputs,
                     const std::vector<UMat>& outputGrads, const std::vector<bool>& need, RectifierMode,
                     std::vector<UMat>& inputGrads) CV_OVERRIDE
    {
        if (!known || !useOpenCLFor(outputGrads[0]))
            return false;  // an unknown operation is inferred from the values by the CPU rule
        if (activationsRead() == READS_NOTHING)  // a sum of blobs of dY's shape: nothing was kept to read
        {
            for (size_t i = 0; i < inputGrads.size(); i++)
                if (need[i])
                    inputGrads[i] = sumGradient(outputGrads[0], i);
            return true;
        }
        const UMat& y = outputs[0];
        if (!outputGrads[0].isContinuous() || !y.isContinuous())
            return false;
        std::vector<UMat> x;
        for (const UMat& in : inputs)
        {
            if (dnn::shape(in) != dnn::shape(y) || !in.isContinuous())
                return false;  // broadcasting: the CPU rule reports it
            x.push_back(as2D(in, 1));
        }
        const UMat r = as2D(outputGrads[0], 1);
        for (size_t i = 0; i < inputs.size(); i++)
        {
            if (!need[i])
                continue;
            UMat g;
            switch (op)
            {
            case ELT_SUM:
                g = sumGradient(r, i);
                break;
            case ELT_PROD:
                g = r;
                for (size_t j = 0; j < x.size(); j++)
                    if (j != i)
                    {
                        UMat t;  // a new buffer each time: g may be the shared output gradient
                        multiply(g, x[j], t);
                        g = t;
                    }
                break;
            case ELT_MAX:
            case ELT_MIN:
            {
                // The first input holding the maximum (minimum) gets the gradient (ties go to the lowest index).
                const bool mx = op == ELT_MAX;
                UMat mask(1, (int)r.total(), CV_8U, Scalar(255)), greater;
                for (size_t j = 0; j < x.size(); j++)
                    if (j != i)
                    {
                        compare(x[i], x[j], greater, j < i ? (mx ? CMP_GT : CMP_LT) : (mx ? CMP_GE : CMP_LE));
                        bitwise_and(mask, greater, mask);
                    }
                g = UMat(1, (int)r.total(), CV_32F, Scalar(0));
                r.copyTo(g, mask);
                break;
            }
            case ELT_DIV:
                // y = x0 / x1 / x2 ...: dy/dx0 = 1/(x1 x2 ...), dy/dxj = -y / xj.
                if (i == 0)
                {
                    UMat denom = x.size() > 1 ? x[1] : UMat(1, (int)r.total(), CV_32F, Scalar(1));
                    for (size_t j = 2; j < x.size(); j++)
                    {
                        UMat t;
                        multiply(denom, x[j], t);
                        denom = t;
                    }
                    divide(r, denom, g);
                }
                else
                {
                    UMat t;
                    multiply(r, as2D(y, 1), t, -1.0);
                    divide(t, x[i], g);
                }
                break;
            }
            inputGrads[i] = g.reshape(1, y.dims, y.size.p);
        }
        return true;
    }

private:
    /** A sum's gradient for input i: dY times the input's coefficient. */
    UMat sumGradient(const UMat& r, size_t i) const
    {
        if (coeffs.empty() || coeffs.at(i) == 1.f)
            return r;
        UMat g;
        r.convertTo(g, CV_32F, coeffs.at(i));
        return g;
    }

    LayerInfo info;
    EltwiseOp op;
    bool known;
    std::vector<float> coeffs;
};

/** Scale: y = x * w (+ b), w broadcast over the axes [axis, endAxis) of x, like cv::dnn does. */
class ScaleRule CV_FINAL : public BackwardRule
{
public:
    explicit ScaleRule(const LayerInfo& info_) : info(info_)
    {
        Ptr<dnn::ScaleLayer> l = layerAs<dnn::ScaleLayer>(info);
        // cv::dnn imports ONNX Equal/Greater/Less as a Scale layer that compares instead of multiplying
        if (!l->mode.empty() && l->mode != "scale")
            CV_Error(Error::StsNotImplemented, "explain: " + describeLayer(info) + " compares its inputs (mode '" +
                                                   l->mode + "') and is not differentiable; use the output of a "
                                                   "layer before it as the target");
        axis = l->axis;
        hasBias = l->hasBias;
        const size_t nblobs = info.layer->blobs.size();
        hasWeights = nblobs == 2 || (nblobs <= 1 && !hasBias);
        if (hasWeights && nblobs > 0)
            weights = info.layer->blobs[0].reshape(1, 1);
    }

    void backward(const std::vector<Mat>& inputs, const std::vector<Mat>&,
                  const std::vector<Mat>& outputGrads, const std::vector<bool>& need, RectifierMode,
                  std::vector<Mat>& inputGrads) CV_OVERRIDE
    {
        const Mat& x = inputs[0];
        const Mat& r = outputGrads[0];
        const bool secondInput = inputs.size() == 2 && info.layer->blobs.empty();
        if (!hasWeights)  // y = x + b: the bias (maybe the second input) gets the summed gradient
        {
            if (need[0])
                inputGrads[0] = r;
            if (secondInput && need[1])
                inputGrads[1] = reduceToWeights(r, inputs[1].total(), x).reshape(1, inputs[1].dims, inputs[1].size.p);
            return;
        }
        Mat w = secondInput ? inputs[1].reshape(1, 1) : weights;
        int ax = normalizeAxis(axis, x.dims), endAxis = ax + 1;
        while (endAxis <= x.dims && totalOf(x, ax, endAxis) != w.total())
            endAxis++;
        if (endAxis > x.dims)
            CV_Error(Error::StsNotImplemented, "explain: cannot broadcast the scale of " + describeLayer(info));
        const size_t outer = totalOf(x, 0, ax), count = w.total(), inner = totalOf(x, endAxis);
        if (need[0])
        {
            Mat dx(x.dims, x.size.p, CV_32F);
            const float* rp = r.ptr<float>();
            float* dp = dx.ptr<float>();
            const float* wp = w.ptr<float>();
            for (size_t o = 0; o < outer; o++)
                for (size_t c = 0; c < count; c++)
                {
                    const size_t base = (o * count + c) * inner;
                    for (size_t i = 0; i < inner; i++)
                        dp[base + i] = rp[base + i] * wp[c];
                }
            inputGrads[0] = dx;
        }
        if (secondInput && need[1])
            inputGrads[1] = reduceToWeights(r.mul(x), count, x, ax, endAxis).reshape(1, inputs[1].dims, inputs[1].size.p);
    }

    /** On the device: dx = r * w broadcast and dw = sum of r * x (or of r for a bias given as the second
        input), with the CPU rule's broadcast axes. */
    bool backwardOCL(const std::vector<UMat>& inputs, const std::vector<UMat>&, const std::vector<UMat>& outputGrads,
                     const std::vector<bool>& need, RectifierMode, std::vector<UMat>& inputGrads) CV_OVERRIDE
    {
        if (!useOpenCLFor(outputGrads[0]))
            return false;
        const UMat& x = inputs[0];
        const UMat& r = outputGrads[0];
        const bool secondInput = inputs.size() == 2 && info.layer->blobs.empty();
        if (!hasWeights && !secondInput)  // y = x + b, b a blob
        {
            if (need[0])
                inputGrads[0] = r;
            return true;
        }
        const size_t count = secondInput ? inputs[1].total() : weights.total();
        if (!x.isContinuous() || !r.isContinuous() || r.total() != x.total())
            return false;
        int ax = normalizeAxis(axis, x.dims), endAxis = ax + 1;
        while (endAxis <= x.dims && totalOf(x, ax, endAxis) != count)
            endAxis++;
        if (ax < 0 || endAxis > x.dims)
            return false;  // the CPU rule reports it
        const int outer = (int)totalOf(x, 0, ax), inner = (int)totalOf(x, endAxis);
        if (need[0])
        {
            if (!hasWeights)
                inputGrads[0] = r;  // y = x + b
            else
            {
                if (!secondInput && deviceWeights.empty())
                    weights.copyTo(deviceWeights);
                UMat w = secondInput ? as2D(inputs[1], 1) : deviceWeights;
                if (!ocl_broadcastScale(r, w, inputGrads[0], (int)count, inner))
                    return false;
            }
        }
        if (secondInput && need[1])
        {
            UMat dw;
            if (!ocl_broadcastWeightGrad(r, hasWeights ? x : UMat(), dw, outer, (int)count, inner))
                return false;
            inputGrads[1] = dw.reshape(1, inputs[1].dims, inputs[1].size.p);
        }
        return true;
    }

private:
    /** Sums a blob of x's shape over everything but the broadcast axes [ax, endAxis). */
    Mat reduceToWeights(const Mat& m, size_t count, const Mat& x, int ax = -1, int endAxis = -1) const
    {
        if (ax < 0)
        {
            ax = normalizeAxis(axis, x.dims);
            endAxis = ax + 1;
            while (endAxis <= x.dims && totalOf(x, ax, endAxis) != count)
                endAxis++;
        }
        const size_t outer = totalOf(x, 0, ax), inner = totalOf(x, endAxis);
        Mat g = Mat::zeros(1, (int)count, CV_32F);
        const float* mp = m.ptr<float>();
        float* gp = g.ptr<float>();
        for (size_t o = 0; o < outer; o++)
            for (size_t c = 0; c < count; c++)
            {
                double s = 0;
                const float* src = mp + (o * count + c) * inner;
                for (size_t i = 0; i < inner; i++)
                    s += src[i];
                gp[c] += (float)s;
            }
        return g;
    }

    LayerInfo info;
    int axis;
    bool hasBias, hasWeights;
    Mat weights;
    UMat deviceWeights;
};

/** BatchNorm at inference: y = x * scale_c + shift_c along axis 1. */
class BatchNormRule CV_FINAL : public BackwardRule
{
public:
    explicit BatchNormRule(const LayerInfo& info)
    {
        scale = compat::channelScaleOf(info);
        if (scale.empty())
            CV_Error(Error::StsNotImplemented, "explain: " + describeLayer(info) + " gives no scale");
        scale = scale.reshape(1, 1).clone();
        singleInput = info.inputShapes.size() == 1;
    }

    /** dX = dY times a per-channel scale, of dY's shape: no activation is read. */
    int activationsRead() const CV_OVERRIDE
    {
        return singleInput ? READS_NOTHING : READS_INPUTS | READS_OUTPUTS;
    }

    void backward(const std::vector<Mat>&, const std::vector<Mat>&,
                  const std::vector<Mat>& outputGrads, const std::vector<bool>& need, RectifierMode,
                  std::vector<Mat>& inputGrads) CV_OVERRIDE
    {
        if (!need[0])
            return;
        const Mat& r = outputGrads[0];  // the input's shape
        const int n = r.size[0], channels = r.dims > 1 ? r.size[1] : 1;
        const size_t plane = totalOf(r, std::min(2, r.dims));
        CV_Assert((int)scale.total() == channels);
        Mat dx(r.dims, r.size.p, CV_32F);
        const float* rp = r.ptr<float>();
        float* dp = dx.ptr<float>();
        for (int i = 0; i < n * channels; i++)
        {
            const float s = scale.at<float>(i % channels);
            for (size_t k = (size_t)i * plane, e = k + plane; k < e; k++)
                dp[k] = rp[k] * s;
        }
        inputGrads[0] = dx;
    }

    bool backwardOCL(const std::vector<UMat>&, const std::vector<UMat>&, const std::vector<UMat>& outputGrads,
                     const std::vector<bool>& need, RectifierMode, std::vector<UMat>& inputGrads) CV_OVERRIDE
    {
        if (!need[0])
            return true;
        if (deviceScale.empty())
            scale.copyTo(deviceScale);
        const UMat& r = outputGrads[0];  // the input's shape
        return ocl_channelScale(r, deviceScale, inputGrads[0], r.dims > 1 ? r.size[1] : 1);
    }

private:
    Mat scale;
    UMat deviceScale;
    bool singleInput = false;
};

/** NaryEltwise (cv::dnn 4.7+, the ONNX importer's Add, Sub, Mul, Div, Max, Min, Mean, Sum, Pow): numpy-style
    broadcasting, so each input's gradient is the element-wise one summed over the axes it was repeated
    along. Max and Min pass the gradient to the first input holding the extremum; Where(c, a, b) to a where
    c holds, else to b. Comparisons and the modulo operations are refused. */
class NaryEltwiseRule CV_FINAL : public BackwardRule
{
public:
    explicit NaryEltwiseRule(const LayerInfo& info_) : info(info_), op(compat::naryOperationOf(info_))
    {
        static const char* supported[] = {"add", "sum", "sub", "mul", "div", "max", "min", "mean", "pow", "where"};
        if (std::find(std::begin(supported), std::end(supported), op) == std::end(supported))
            CV_Error(Error::StsNotImplemented, "explain: NaryEltwise operation '" + op + "' of " + describeLayer(info) +
                                                   " has no backward rule (not differentiable or not supported)");
        const size_t expected = op == "where" ? 3 : op == "sub" || op == "div" || op == "pow" ? 2 : 0;
        if (expected && info.inputShapes.size() != expected)
            CV_Error(Error::StsNotImplemented, "explain: " + describeLayer(info) + " applies '" + op + "' to " +
                                                   std::to_string(info.inputShapes.size()) +
                                                   format(" inputs; %d expected", (int)expected));
    }

    /** Sums, differences and means read nothing: their gradients are dY's, scaled and summed to each
        input's shape. */
    int activationsRead() const CV_OVERRIDE
    {
        return linear() ? READS_NOTHING : READS_INPUTS | READS_OUTPUTS;
    }

    void backward(const std::vector<Mat>& inputs, const std::vector<Mat>& outputs,
                  const std::vector<Mat>& outputGrads, const std::vector<bool>& need, RectifierMode,
                  std::vector<Mat>& inputGrads) CV_OVERRIDE
    {
        const MatShape outShape = info.outputShapes.at(0);
        const Mat r = outputGrads[0].reshape(1, outShape);
        if (linear())
        {
            const size_t n = info.inputShapes.size();
            for (size_t i = 0; i < n; i++)
                if (need[i])
                    inputGrads[i] = sumToShape(op == "sub" && i == 1 ? Mat(-r) : op == "mean" ? Mat(r * (1.0 / n)) : r,
                                               info.inputShapes.at(i), outShape);
            return;
        }
        std::vector<Mat> full;  // the inputs broadcast to the output's shape
        for (size_t j = 0; j < inputs.size(); j++)
        {
            Mat x = inputs[j];
            if (x.depth() != CV_32F)  // Where's condition
                x.convertTo(x, CV_32F);
            full.push_back(broadcastTo(x, info.inputShapes.at(j), outShape));
        }
        const Mat y = outputs[0].reshape(1, outShape);
        for (size_t i = 0; i < inputs.size(); i++)
            if (need[i])
                inputGrads[i] = sumToShape(fullGradient(i, full, r, y), info.inputShapes.at(i), outShape);
    }

private:
    bool linear() const
    {
        return op == "add" || op == "sum" || op == "sub" || op == "mean";
    }

    /** d(output)/d(input i) times r, at the output's shape. */
    Mat fullGradient(size_t i, const std::vector<Mat>& x, const Mat& r, const Mat& y) const
    {
        if (op == "mul")
        {
            Mat g = r.clone();
            for (size_t j = 0; j < x.size(); j++)
                if (j != i)
                    g = g.mul(x[j]);
            return g;
        }
        if (op == "div")  // y = a / b: da = r / b, db = -r y / b
            return i == 0 ? Mat(r / x[1]) : Mat(-r.mul(y) / x[1]);
        if (op == "pow")
            return powGradient(i, x, r, y);
        if (op == "where")  // y = c ? a : b
        {
            Mat g = zerosLike(r);
            r.copyTo(g, i == 1 ? Mat(x[0] != 0) : Mat(x[0] == 0));
            return g;
        }
        const bool mx = op == "max";  // max, min: the first input holding the extremum
        Mat mask(r.dims, r.size.p, CV_8U, Scalar(255));
        for (size_t j = 0; j < x.size(); j++)
            if (j != i)
                mask &= j < i ? (mx ? x[i] > x[j] : x[i] < x[j]) : (mx ? x[i] >= x[j] : x[i] <= x[j]);
        Mat g = zerosLike(r);
        r.copyTo(g, mask);
        return g;
    }

    /** y = a^b: da = r b a^(b-1); db = r y ln(a), defined for a > 0 only. */
    Mat powGradient(size_t i, const std::vector<Mat>& x, const Mat& r, const Mat& y) const
    {
        Mat g(r.dims, r.size.p, CV_32F);
        const float *a = x[0].ptr<float>(), *b = x[1].ptr<float>(), *rp = r.ptr<float>(), *yp = y.ptr<float>();
        float* gp = g.ptr<float>();
        for (size_t k = 0; k < r.total(); k++)
        {
            if (i == 1 && a[k] <= 0)
                CV_Error(Error::StsNotImplemented, format("explain: the gradient of %s with respect to its exponent "
                                                          "needs a positive base; the base is %g",
                                                          describeLayer(info).c_str(), a[k]));
            gp[k] = i == 0 ? (b[k] == 0 ? 0.f : rp[k] * b[k] * std::pow(a[k], b[k] - 1)) : rp[k] * yp[k] * std::log(a[k]);
        }
        return g;
    }

    LayerInfo info;
    String op;
};

} // namespace

void registerElementwiseRules(RuleMap& rules)
{
    EXPLAIN_REGISTER_RULE(rules, "NaryEltwise", NaryEltwiseRule);
    EXPLAIN_REGISTER_RULE(rules, "Eltwise", EltwiseRule);
    EXPLAIN_REGISTER_RULE(rules, "Scale", ScaleRule);
    EXPLAIN_REGISTER_RULE(rules, "BatchNorm", BatchNormRule);
    EXPLAIN_REGISTER_RULE(rules, "BatchNorm2", BatchNormRule);  // OpenCV 5's new engine
}

}} // namespace cv::explain
