// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// Backward rule of cv::dnn's fused multi-head self-attention (Attention, 4.10+ and OpenCV 5's classic engine:
// the ONNX importer fuses the Transpose / MatMul / Slice / Reshape / Softmax subgraph of an exported
// torch.nn.MultiheadAttention, e.g. torchvision's ViT, into this one layer; the output projection stays a
// layer of its own).
#include "layer_utils.hpp"
#include <cmath>

namespace cv {
namespace explain {

namespace {

/** Row-wise softmax of a float32 matrix, in place. */
void softmaxRows(Mat& z)
{
    for (int i = 0; i < z.rows; i++)
    {
        float* row = z.ptr<float>(i);
        double top = row[0], sum = 0;
        for (int j = 1; j < z.cols; j++)
            top = std::max(top, (double)row[j]);
        for (int j = 0; j < z.cols; j++)
            sum += (row[j] = (float)std::exp(row[j] - top));
        for (int j = 0; j < z.cols; j++)
            row[j] = (float)(row[j] / sum);
    }
}

/** The softmax backward of P = softmax(Z) by rows: dZ = P * (dP - rowsum(dP * P)), in place of dP. */
void softmaxRowsBackward(const Mat& p, Mat& dp)
{
    for (int i = 0; i < p.rows; i++)
    {
        const float* pr = p.ptr<float>(i);
        float* dr = dp.ptr<float>(i);
        double dot = 0;
        for (int j = 0; j < p.cols; j++)
            dot += (double)pr[j] * dr[j];
        for (int j = 0; j < p.cols; j++)
            dr[j] = (float)(pr[j] * (dr[j] - dot));
    }
}

/** Attention as cv::dnn computes it (attention_layer.cpp): input X of N x S x D, weight W of D x (q + k + v)
    columns and bias b of q + k + v, all projected at once: [Q K V] = X W + b. Per image and head h (q, k and v
    split into `heads` equal parts), P = softmax(Q_h K_h^T / scale) by rows and O_h = P V_h, the heads side by
    side: N x S x v (or (N S) x v with output_ndims 2: the same memory). Backward per image and head, with R_h
    the output gradient: dV_h = P^T R_h, dZ = softmax'(R_h V_h^T), dQ_h = dZ K_h / scale,
    dK_h = dZ^T Q_h / scale; then dX = d[Q K V] W^T, dW = X^T d[Q K V], db = the column sums of d[Q K V].
    num_heads, qkv_hidden_sizes and scale come from the captured parameters (AttentionLayer has no public
    ones); the rotary embedding and the attention mask are refused. */
class AttentionRule CV_FINAL : public BackwardRule
{
public:
    explicit AttentionRule(const LayerInfo& info_) : info(info_)
    {
        const CapturedParams captured = requireCapturedParams(info);
        const dnn::LayerParams& p = captured.params;
        heads = p.get<int>("num_heads", 0);
        const dnn::DictValue sizes = p.has("qkv_hidden_sizes") ? p.get("qkv_hidden_sizes") : dnn::DictValue();
        if (heads < 1 || sizes.size() != 3)
            CV_Error(Error::StsNotImplemented, "explain: " + describeLayer(info) +
                                                   " has no num_heads or no three qkv_hidden_sizes");
        qSize = sizes.get<int>(0);
        kSize = sizes.get<int>(1);
        if (qSize != kSize || qSize % heads != 0)
            CV_Error(Error::StsNotImplemented, format("explain: %s has query and key sizes %d and %d for %d heads; "
                                                      "equal sizes that the heads divide are supported",
                                                      describeLayer(info).c_str(), qSize, kSize, heads));
        scale = p.get<float>("scale", std::sqrt((float)(qSize / heads)));
        if (p.get<bool>("do_rotary", false))
            CV_Error(Error::StsNotImplemented, "explain: " + describeLayer(info) + " applies a rotary position "
                                                   "embedding, which has no backward rule yet");
    }

    void backward(const std::vector<Mat>& inputs, const std::vector<Mat>&, const std::vector<Mat>& outputGrads,
                  const std::vector<bool>& need, RectifierMode, std::vector<Mat>& inputGrads) CV_OVERRIDE
    {
        const std::vector<Mat>& blobs = info.layer->blobs;
        const bool weightsAreInputs = blobs.empty();
        if (inputs.size() != (weightsAreInputs ? 3u : 1u))
            CV_Error(Error::StsNotImplemented, format("explain: %s has %d inputs and %d weights: an attention mask "
                                                      "has no backward rule yet", describeLayer(info).c_str(),
                                                      (int)inputs.size(), (int)blobs.size()));
        const Mat& x = inputs[0];
        const Mat w = weightsAreInputs ? inputs[1] : blobs.front(), bias = weightsAreInputs ? inputs[2] : blobs.back();
        const int total = w.dims == 2 ? w.size[1] : 0, vSize = total - qSize - kSize;
        if (x.dims != 3 || w.dims != 2 || w.size[0] != x.size[2] || (int)bias.total() != total || vSize <= 0 ||
            vSize % heads != 0 || outputGrads[0].total() != (size_t)x.size[0] * x.size[1] * vSize)
            CV_Error(Error::StsNotImplemented, "explain: " + describeLayer(info) + " has input " +
                                                   shapeToString(dnn::shape(x)) + " and weight " +
                                                   shapeToString(dnn::shape(w)) + ", which do not fit its settings");
        const int n = x.size[0], s = x.size[1], d = x.size[2];
        const Mat wc = w.clone(), bc = bias.reshape(1, 1).clone();
        Mat dx(x.dims, x.size.p, CV_32F), dw = Mat::zeros(d, total, CV_32F), db = Mat::zeros(1, total, CV_32F);
        for (int b = 0; b < n; b++)
        {
            const Mat xb(s, d, CV_32F, (void*)x.ptr<float>(b));
            const Mat rb(s, vSize, CV_32F, (void*)(outputGrads[0].ptr<float>() + (size_t)b * s * vSize));
            Mat qkv;
            gemm(xb, wc, 1.0, repeat(bc, s, 1), 1.0, qkv);
            const Mat dqkv = headsBackward(qkv, rb, vSize);
            Mat dxb(s, d, CV_32F, dx.ptr<float>(b));
            gemm(dqkv, wc, 1.0, noArray(), 0.0, dxb, GEMM_2_T);
            dw += xb.t() * dqkv;
            Mat colSums;
            reduce(dqkv, colSums, 0, REDUCE_SUM, CV_32F);
            db += colSums;
        }
        if (need[0])
            inputGrads[0] = dx;
        if (weightsAreInputs && need[1])
            inputGrads[1] = dw.reshape(1, inputs[1].dims, inputs[1].size.p);
        if (weightsAreInputs && need[2])
            inputGrads[2] = db.reshape(1, inputs[2].dims, inputs[2].size.p);
    }

private:
    /** d[Q K V] (S x (q + k + v)) of one image from its projections and its output gradient R (S x v). */
    Mat headsBackward(const Mat& qkv, const Mat& r, int vSize) const
    {
        const int dq = qSize / heads, dv = vSize / heads;
        const double inv = 1.0 / scale;
        Mat dqkv = Mat::zeros(qkv.size(), CV_32F);
        for (int h = 0; h < heads; h++)
        {
            const Range qCols(h * dq, (h + 1) * dq), kCols(qSize + h * dq, qSize + (h + 1) * dq);
            const Range vCols(qSize + kSize + h * dv, qSize + kSize + (h + 1) * dv);
            const Mat q = qkv.colRange(qCols), k = qkv.colRange(kCols), v = qkv.colRange(vCols);
            const Mat rh = r.colRange(h * dv, (h + 1) * dv);
            Mat p, dp;
            gemm(q, k, inv, noArray(), 0.0, p, GEMM_2_T);
            softmaxRows(p);
            Mat dqh = dqkv.colRange(qCols), dkh = dqkv.colRange(kCols), dvh = dqkv.colRange(vCols);
            gemm(p, rh, 1.0, noArray(), 0.0, dvh, GEMM_1_T);
            gemm(rh, v, 1.0, noArray(), 0.0, dp, GEMM_2_T);
            softmaxRowsBackward(p, dp);
            gemm(dp, k, inv, noArray(), 0.0, dqh);
            gemm(dp, q, inv, noArray(), 0.0, dkh, GEMM_1_T);
        }
        return dqkv;
    }

    LayerInfo info;
    int heads = 1, qSize = 0, kSize = 0;
    float scale = 1.f;
};

} // namespace

void registerAttentionRules(RuleMap& rules)
{
    EXPLAIN_REGISTER_RULE(rules, "Attention", AttentionRule);
}

}} // namespace cv::explain
