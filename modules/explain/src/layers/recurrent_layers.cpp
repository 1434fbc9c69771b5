// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// Backward rules of the recurrent layers:
// - LSTM (cv::dnn's LSTM: gates I, F, O, G from x_t Wx^T + h_{t-1} Wh^T + b; c_t = f c_{t-1} + i g,
//   h_t = o tanh(c_t));
// - GRU (cv::dnn's GRU with its weights as blobs: gates Z, R from x_t Wx^T + h_{t-1} Wh^T + bx + bh, then
//   n_t = tanh(r (h_{t-1} Whn^T + bhn) + x_t Wxn^T + bxn), h_t = z h_{t-1} + (1 - z) n_t).
// cv::dnn keeps none of the gates, so each rule runs the recurrence again from the layer's input and weights
// (in double), checks that it gives cv::dnn's output, and differentiates it through time; the backward
// passes of one forward pass share that run.
#include "layer_utils.hpp"
#include <cmath>
#include <cstring>
#include <mutex>

namespace cv {
namespace explain {

namespace {

/** The steps of the recurrence on the input it last ran on: verifyForward runs it after each forward pass,
    and the backward passes of that forward (one per target) take the same steps instead of running it
    again. An input is the last one when its bytes are. */
template <typename Steps>
class LastSteps
{
public:
    template <typename Run>
    Steps of(const Mat& input, Run run)
    {
        std::lock_guard<std::mutex> lock(mutex);
        if (!sameAsLast(input))
        {
            steps = run(input);
            input.copyTo(last);
        }
        return steps;  // Mat headers: run() makes new buffers, so this copy stays valid
    }

private:
    bool sameAsLast(const Mat& input) const
    {
        return !last.empty() && input.isContinuous() && last.type() == input.type() && last.size == input.size &&
               std::memcmp(last.data, input.data, input.total() * input.elemSize()) == 0;
    }

    std::mutex mutex;
    Mat last;
    Steps steps;
};

/** What the recurrent rules share: the layer's captured settings, refusals, and the check that the
    recurrence run again gives cv::dnn's hidden states. T steps of N samples, H hidden units, I inputs. */
class RecurrentRule : public BackwardRule
{
protected:
    explicit RecurrentRule(const LayerInfo& info) : describe(describeLayer(info)) {}

    static bool haveForward(const std::vector<Mat>& inputs, const std::vector<Mat>& outputs)
    {
        return !inputs.empty() && !inputs[0].empty() && !outputs.empty() && !outputs[0].empty();
    }

    /** Throws unless the hidden states h (one N x H matrix per step, in time order) are cv::dnn's output. */
    void requireOutputIs(const std::vector<Mat>& h, const Mat& output, const char* recurrence) const
    {
        const Mat y = toDouble(output).reshape(1, T * N);
        for (int t = 0; t < T; t++)
        {
            const double err = norm(h[t], y.rowRange(t * N, (t + 1) * N), NORM_INF);
            if (!(err <= 1e-4))
                CV_Error(Error::StsError, format("explain: the output of %s at step %d differs from its %s recurrence "
                                                 "by %g: its settings are not the ones the rule reads", describe.c_str(),
                                                 t, recurrence, err));
        }
    }

    void refuseIf(bool condition, const char* what) const
    {
        if (condition)
            CV_Error(Error::StsNotImplemented, "explain: " + describe + " " + what + "; not supported");
    }

    static Mat toDouble(const Mat& m)
    {
        Mat d;
        m.convertTo(d, CV_64F);
        return d;
    }

    String describe;
    int T = 0, N = 0, H = 0, I = 0;
};

/** One direction of an LSTM. */
class LSTMRule CV_FINAL : public RecurrentRule
{
public:
    explicit LSTMRule(const LayerInfo& info) : RecurrentRule(info)
    {
        const dnn::LayerParams p = requireCapturedParams(info, "settings").params;
        refuseIf(p.get<bool>("bidirectional", false), "is bidirectional");
        refuseIf(p.get<bool>("use_peephole", false), "uses peephole connections");
        refuseIf(p.get<bool>("use_cell_clip", false), "clips its cell state");
        refuseIf(p.get<int>("layout", 0) != 0, "takes batch-major input");
        refuseIf(!p.get<bool>("use_timestamp_dim", true), "has no time axis");
        refuseIf(p.has("activations") && p.get("activations").size() == 3 &&
                     (p.get("activations").getStringValue(0) != "Sigmoid" ||
                      p.get("activations").getStringValue(1) != "Tanh" || p.get("activations").getStringValue(2) != "Tanh"),
                 "uses activations other than Sigmoid, Tanh, Tanh");
        refuseIf(info.inputShapes.size() != 1, "takes its initial states as inputs");
        reverse = p.get<bool>("reverse", false);
        forgetBias = p.get<float>("forget_bias", 0.f);
        const std::vector<Mat>& blobs = info.layer->blobs;
        refuseIf(blobs.size() < 5, "has no initial state blobs");
        Wh = toDouble(blobs[0]);
        Wx = toDouble(blobs[1]);
        bias = toDouble(blobs[2]).reshape(1, 1);
        H = Wh.cols;
        I = Wx.cols;
        const MatShape& in = info.inputShapes[0];
        refuseIf(in.size() != 3 || in[2] != I || Wh.rows != 4 * H || Wx.rows != 4 * H, "has shapes other than T x N x I");
        T = in[0];
        N = in[1];
        h0 = toDouble(blobs[3]).reshape(1, N);
        c0 = toDouble(blobs[4]).reshape(1, N);
        refuseIf(h0.cols != H || c0.cols != H, "has initial states of another shape");
    }

    void backward(const std::vector<Mat>& inputs, const std::vector<Mat>&, const std::vector<Mat>& outputGrads,
                  const std::vector<bool>& need, RectifierMode, std::vector<Mat>& inputGrads) CV_OVERRIDE
    {
        if (!need[0])
            return;
        const Steps s = stepsOf(inputs[0]);
        const Mat dY = toDouble(outputGrads[0]).reshape(1, T * N);
        if (outputGrads.size() > 1 && !outputGrads[1].empty() && countNonZero(outputGrads[1]) > 0)
            CV_Error(Error::StsNotImplemented, "explain: a gradient through the cell-state output of " + describe +
                                                   " is not supported; choose a target on its hidden states");
        Mat dX(T * N, I, CV_64F), dh = Mat::zeros(N, H, CV_64F), dc = Mat::zeros(N, H, CV_64F);
        for (int k = T - 1; k >= 0; k--)  // the steps in the opposite order of the recurrence
        {
            const int t = reverse ? T - 1 - k : k;
            const Range rows(t * N, (t + 1) * N);
            dh += dY.rowRange(rows);
            const Mat gates = s.gates[t], tanhC = s.tanhC[t];
            const Mat i = gates.colRange(0, H), f = gates.colRange(H, 2 * H), o = gates.colRange(2 * H, 3 * H),
                      g = gates.colRange(3 * H, 4 * H);
            const Mat dct = dc + dh.mul(o).mul(1 - tanhC.mul(tanhC));
            Mat dGates(N, 4 * H, CV_64F);
            dGates.colRange(0, H) = dct.mul(g).mul(i.mul(1 - i));             // through i = sigmoid
            dGates.colRange(H, 2 * H) = dct.mul(s.cPrev[t]).mul(f.mul(1 - f));  // through f = sigmoid
            dGates.colRange(2 * H, 3 * H) = dh.mul(tanhC).mul(o.mul(1 - o));  // through o = sigmoid
            dGates.colRange(3 * H, 4 * H) = dct.mul(i).mul(1 - g.mul(g));     // through g = tanh
            dX.rowRange(rows) = dGates * Wx;
            dh = dGates * Wh;
            dc = dct.mul(f);
        }
        Mat dx;
        dX.convertTo(dx, CV_32F);
        inputGrads[0] = dx.reshape(1, inputs[0].dims, inputs[0].size.p);
    }

    /** The recurrence run again must give cv::dnn's hidden states (and cell states, when output). */
    void verifyForward(const std::vector<Mat>& inputs, const std::vector<Mat>& outputs) const CV_OVERRIDE
    {
        if (haveForward(inputs, outputs))
            requireOutputIs(stepsOf(inputs[0]).h, outputs[0], "LSTM");
    }

private:
    /** Per step (in time order): the gates after their activations, c_{t-1}, tanh(c_t) and h_t. */
    struct Steps
    {
        std::vector<Mat> gates, cPrev, tanhC, h;
    };

    Steps run(const Mat& input) const
    {
        const Mat x = toDouble(input).reshape(1, T * N);
        Steps s;
        s.gates.resize(T);
        s.cPrev.resize(T);
        s.tanhC.resize(T);
        s.h.resize(T);
        Mat h = h0.clone(), c = c0.clone();
        for (int k = 0; k < T; k++)
        {
            const int t = reverse ? T - 1 - k : k;
            Mat z = x.rowRange(t * N, (t + 1) * N) * Wx.t() + h * Wh.t() + repeat(bias, N, 1);
            Mat forget = z.colRange(H, 2 * H);
            forget += forgetBias;
            Mat sig;
            exp(-z.colRange(0, 3 * H), sig);
            sig = 1 / (1 + sig);
            sig.copyTo(z.colRange(0, 3 * H));
            Mat g = z.colRange(3 * H, 4 * H);
            for (int r = 0; r < N; r++)
                for (int j = 0; j < H; j++)
                    g.at<double>(r, j) = std::tanh(g.at<double>(r, j));
            s.gates[t] = z;
            s.cPrev[t] = c.clone();
            c = z.colRange(H, 2 * H).mul(c) + z.colRange(0, H).mul(g);
            Mat tc(N, H, CV_64F);
            for (int r = 0; r < N; r++)
                for (int j = 0; j < H; j++)
                    tc.at<double>(r, j) = std::tanh(c.at<double>(r, j));
            s.tanhC[t] = tc;
            h = z.colRange(2 * H, 3 * H).mul(tc);
            s.h[t] = h.clone();
        }
        return s;
    }

    bool reverse = false;
    float forgetBias = 0.f;
    /** The steps on `input`: those of the last run when it is the same input. */
    Steps stepsOf(const Mat& input) const { return lastSteps.of(input, [this](const Mat& x) { return run(x); }); }

    Mat Wh, Wx, bias, h0, c0;
    mutable LastSteps<Steps> lastSteps;
};

/** One direction of a GRU over T steps of N samples, H hidden units and I inputs, as cv::dnn runs it with its
    weights as blobs: the reset gate applied after the recurrent product (ONNX linear_before_reset = 1, PyTorch's
    GRU), forward in time, from the initial state blob. */
class GRURule CV_FINAL : public RecurrentRule
{
public:
    explicit GRURule(const LayerInfo& info) : RecurrentRule(info)
    {
        const dnn::LayerParams p = requireCapturedParams(info, "settings").params;
        refuseIf(p.get<bool>("bidirectional", false) || p.get<String>("direction", "forward") == "bidirectional",
                 "is bidirectional");
        refuseIf(p.get<String>("direction", "forward") == "reverse",
                 "runs in reverse, which cv::dnn does not do (it runs the layer forward in time)");
        refuseIf(p.get<int>("layout", 0) != 0, "takes batch-major input");
        refuseIf(p.has("activations") && p.get("activations").size() >= 2 &&
                     (p.get("activations").getStringValue(0) != "Sigmoid" || p.get("activations").getStringValue(1) != "Tanh"),
                 "uses activations other than Sigmoid, Tanh");
        refuseIf(info.inputShapes.size() != 1, "takes its weights or initial state as inputs");
        const std::vector<Mat>& blobs = info.layer->blobs;
        refuseIf(blobs.size() < 3, "has no weight blobs");
        Wh = toDouble(blobs[0]);
        Wx = toDouble(blobs[1]);
        const Mat b = toDouble(blobs[2]).reshape(1, 1);
        H = Wh.cols;
        I = Wx.cols;
        const MatShape& in = info.inputShapes[0];
        refuseIf(in.size() != 3 || in[2] != I || Wh.rows != 3 * H || Wx.rows != 3 * H || (int)b.total() != 6 * H,
                 "has shapes other than T x N x I");
        T = in[0];
        N = in[1];
        bx = b.colRange(0, 3 * H);
        bh = b.colRange(3 * H, 6 * H);
        h0 = blobs.size() > 3 && (int)blobs[3].total() == N * H ? toDouble(blobs[3]).reshape(1, N) : Mat::zeros(N, H, CV_64F);
    }

    void backward(const std::vector<Mat>& inputs, const std::vector<Mat>&, const std::vector<Mat>& outputGrads,
                  const std::vector<bool>& need, RectifierMode, std::vector<Mat>& inputGrads) CV_OVERRIDE
    {
        if (!need[0])
            return;
        const Steps s = stepsOf(inputs[0]);
        const Mat dY = toDouble(outputGrads[0]).reshape(1, T * N);
        const Mat WxGates = Wx.rowRange(0, 2 * H), WhGates = Wh.rowRange(0, 2 * H), WxN = Wx.rowRange(2 * H, 3 * H),
                  WhN = Wh.rowRange(2 * H, 3 * H);
        Mat dX(T * N, I, CV_64F), dh = Mat::zeros(N, H, CV_64F);
        for (int t = T - 1; t >= 0; t--)
        {
            const Range rows(t * N, (t + 1) * N);
            dh += dY.rowRange(rows);
            const Mat z = s.z[t], r = s.r[t], n = s.n[t], hn = s.hn[t], hPrev = s.hPrev[t];
            const Mat dPreN = dh.mul(1 - z).mul(1 - n.mul(n));  // through n = tanh(...)
            Mat dGates(N, 2 * H, CV_64F);
            dGates.colRange(0, H) = dh.mul(hPrev - n).mul(z.mul(1 - z));   // through z = sigmoid
            dGates.colRange(H, 2 * H) = dPreN.mul(hn).mul(r.mul(1 - r));   // through r = sigmoid
            dX.rowRange(rows) = dGates * WxGates + dPreN * WxN;
            dh = Mat(dh.mul(z) + dGates * WhGates + dPreN.mul(r) * WhN);
        }
        Mat dx;
        dX.convertTo(dx, CV_32F);
        inputGrads[0] = dx.reshape(1, inputs[0].dims, inputs[0].size.p);
    }

    /** The recurrence run again must give cv::dnn's hidden states. */
    void verifyForward(const std::vector<Mat>& inputs, const std::vector<Mat>& outputs) const CV_OVERRIDE
    {
        if (haveForward(inputs, outputs))
            requireOutputIs(stepsOf(inputs[0]).h, outputs[0], "GRU");
    }

private:
    /** Per step: the gates z, r, the candidate n, the recurrent term h_{t-1} Whn^T + bhn, h_{t-1} and h_t. */
    struct Steps
    {
        std::vector<Mat> z, r, n, hn, hPrev, h;
    };

    Steps run(const Mat& input) const
    {
        const Mat x = toDouble(input).reshape(1, T * N);
        Steps s;
        for (std::vector<Mat>* v : {&s.z, &s.r, &s.n, &s.hn, &s.hPrev, &s.h})
            v->resize(T);
        Mat h = h0.clone();
        for (int t = 0; t < T; t++)
        {
            const Mat xt = x.rowRange(t * N, (t + 1) * N);
            Mat gates = xt * Wx.rowRange(0, 2 * H).t() + h * Wh.rowRange(0, 2 * H).t() +
                        repeat(bx.colRange(0, 2 * H) + bh.colRange(0, 2 * H), N, 1);
            exp(-gates, gates);
            gates = 1 / (1 + gates);
            const Mat hn = h * Wh.rowRange(2 * H, 3 * H).t() + repeat(bh.colRange(2 * H, 3 * H), N, 1);
            Mat n = gates.colRange(H, 2 * H).mul(hn) + xt * Wx.rowRange(2 * H, 3 * H).t() + repeat(bx.colRange(2 * H, 3 * H), N, 1);
            for (int i = 0; i < N; i++)
                for (int j = 0; j < H; j++)
                    n.at<double>(i, j) = std::tanh(n.at<double>(i, j));
            s.z[t] = gates.colRange(0, H).clone();
            s.r[t] = gates.colRange(H, 2 * H).clone();
            s.n[t] = n;
            s.hn[t] = hn;
            s.hPrev[t] = h;
            h = Mat(s.z[t].mul(h) + (1 - s.z[t]).mul(n));  // a new buffer: s.hPrev[t] keeps the old one
            s.h[t] = h;
        }
        return s;
    }

    /** The steps on `input`: those of the last run when it is the same input. */
    Steps stepsOf(const Mat& input) const { return lastSteps.of(input, [this](const Mat& x) { return run(x); }); }

    Mat Wh, Wx, bx, bh, h0;
    mutable LastSteps<Steps> lastSteps;
};

} // namespace

void registerRecurrentRules(RuleMap& rules)
{
    EXPLAIN_REGISTER_RULE(rules, "LSTM", LSTMRule);
    EXPLAIN_REGISTER_RULE(rules, "GRU", GRURule);
}

}} // namespace cv::explain
