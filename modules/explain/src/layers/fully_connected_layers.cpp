// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// Backward rules of InnerProduct (y = x W^T + b over the axes from `axis` on, so dX = dY W), Gemm
// (Y = alpha op(A) op(B) + beta C) and MatMul (batched, broadcast products; both cv::dnn 4.9+).
#include "layer_utils.hpp"
#include "../opencv_compat.hpp"
#include "../ocl_ops.hpp"
#include "cpu_kernels.hpp"

namespace cv {
namespace explain {

namespace {

/** dX = alpha dY W, with dY [outer, numOutput], W [numOutput, inner] and dX [outer, inner], all continuous.
    A class score's gradient is one-hot: then dX sums the few rows of W that a nonzero dY picks instead of
    reading all of W (ResNet-50's classifier is 8 MB). */
void gradientTimesRows(const Mat& dy, const Mat& w, float alpha, Mat& dx)
{
    CV_Assert(dy.isContinuous() && w.isContinuous() && dx.isContinuous() && dy.cols == w.rows && dx.cols == w.cols);
    const int outer = dy.rows, numOutput = w.rows, inner = w.cols;
    if (countNonZero(dy) <= outer * 4)
    {
        dx.setTo(Scalar::all(0));
        for (int r = 0; r < outer; r++)
            for (int o = 0; o < numOutput; o++)
                if (const float g = dy.at<float>(r, o))
                    scaleAdd(w.row(o), alpha * g, dx.row(r), dx.row(r));
        return;
    }
    gemmAB(dy.ptr<float>(), numOutput, w.ptr<float>(), inner, dx.ptr<float>(), inner, outer, inner, numOutput);
    if (alpha != 1.f)
        dx *= alpha;
}

class InnerProductRule CV_FINAL : public BackwardRule
{
public:
    explicit InnerProductRule(const LayerInfo& info)
    {
        Ptr<dnn::InnerProductLayer> fc = layerAs<dnn::InnerProductLayer>(info);
        if (info.layer->blobs.empty())
            CV_Error(Error::StsNotImplemented, "explain: " + describeLayer(info) +
                                                   " multiplies two inputs; only constant weights are supported");
        weights = info.layer->blobs[0];
        axis = fc->axis;
        if (info.inputShapes.size() != 1)
            CV_Error(Error::StsNotImplemented, "explain: " + describeLayer(info) + " has no recorded input shape");
        inShape = std::vector<int>(info.inputShapes[0].begin(), info.inputShapes[0].end());
    }

    int activationsRead() const CV_OVERRIDE
    {
        return READS_NOTHING;
    }

    void backward(const std::vector<Mat>&, const std::vector<Mat>&,
                  const std::vector<Mat>& outputGrads, const std::vector<bool>& need, RectifierMode,
                  std::vector<Mat>& inputGrads) CV_OVERRIDE
    {
        if (!need[0])
            return;
        const int dims = (int)inShape.size();
        const int ax = normalizeAxis(axis, dims);
        int outer = 1, inner = 1;
        for (int d = 0; d < dims; d++)
            (d < ax ? outer : inner) *= inShape[d];
        const int numOutput = weights.size[0];
        if ((int)weights.total() != numOutput * inner || (int)outputGrads[0].total() != outer * numOutput)
            CV_Error(Error::StsBadArg, "explain: InnerProduct weights do not fit the recorded input");
        Mat dx(dims, inShape.data(), CV_32F);
        Mat rows = dx.reshape(1, outer);
        gradientTimesRows(outputGrads[0].reshape(1, outer), weights.reshape(1, numOutput), 1.f, rows);
        inputGrads[0] = dx;
    }

    bool backwardOCL(const std::vector<UMat>&, const std::vector<UMat>&, const std::vector<UMat>& outputGrads,
                     const std::vector<bool>& need, RectifierMode, std::vector<UMat>& inputGrads) CV_OVERRIDE
    {
        if (!need[0])
            return true;
        const int dims = (int)inShape.size();
        const int ax = normalizeAxis(axis, dims);
        int outer = 1, inner = 1;
        for (int d = 0; d < dims; d++)
            (d < ax ? outer : inner) *= inShape[d];
        const int numOutput = weights.size[0];
        if (deviceWeights.empty())
            weights.reshape(1, numOutput).copyTo(deviceWeights);  // once per rule
        UMat dx;
        if (!ocl_gemm(as2D(outputGrads[0], outer), deviceWeights, dx))
            return false;
        inputGrads[0] = dx.reshape(1, dims, inShape.data());
        return true;
    }

private:
    Mat weights;
    UMat deviceWeights;
    int axis;
    std::vector<int> inShape;
};

/** Gemm: A is [batches..., rows, cols] with op(A) = A or A^T per batch ([M, K]); B (a constant or the
    second input) is [K, N] after op(B); C, broadcast to [M, N], a constant or the last input. Gradients:
    dA_b = alpha dY_b op(B)^T (transposed back for transA), dB = alpha sum_b op(A_b)^T dY_b (transposed back
    for transB), dC = beta dY summed to C's shape. */
class GemmRule CV_FINAL : public BackwardRule
{
public:
    explicit GemmRule(const LayerInfo& info_) : info(info_), s(compat::gemmOf(info_))
    {
        const size_t nIn = info.inputShapes.size(), nBlobs = info.layer->blobs.size();
        bIsInput = nIn >= 2;
        cIsInput = nIn == 3;
        if (nIn == 2 && nBlobs == 1)  // B and C: one is the constant; the layer's private flags say which
        {
            const CapturedParams captured(info);
            if (!captured.known)
                CV_Error(Error::StsNotImplemented, "explain: cannot tell whether B or C of " + describeLayer(info) +
                                                       " is its second input (Net read before the explain library was loaded)");
            const bool constB = captured.params.get<bool>("constB", false);
            bIsInput = !(captured.params.get<bool>("have_bias", false) && constB);
            cIsInput = !bIsInput;
        }
        if (!bIsInput)  // dOp(A) = alpha dY op(B)^T reads op(B)^T by rows
        {
            const Mat b = info.layer->blobs.at(0).reshape(1, 2, bShape(dnn::shape(info.layer->blobs[0])).data());
            bRows = s.transB ? b : Mat(b.t());  // B itself shares the layer's blob
        }
        const MatShape& a = info.inputShapes.at(0);
        if (a.size() < 2)
            CV_Error(Error::StsBadArg, "explain: input A of " + describeLayer(info) + " has fewer than 2 axes");
    }

    /** With a constant B the input gradient needs nothing of the forward pass. */
    int activationsRead() const CV_OVERRIDE
    {
        return bIsInput ? READS_INPUTS : READS_NOTHING;
    }

    void backward(const std::vector<Mat>& inputs, const std::vector<Mat>&, const std::vector<Mat>& outputGrads,
                  const std::vector<bool>& need, RectifierMode, std::vector<Mat>& inputGrads) CV_OVERRIDE
    {
        const MatShape& aShape = info.inputShapes.at(0);
        const int rows = aShape[aShape.size() - 2], cols = aShape.back();
        const int batches = (int)(dnn::total(aShape) / ((size_t)rows * cols));
        const int M = s.transA ? cols : rows;
        const Mat B = bIsInput ? inputs.at(1).reshape(1, 2, bShape(info.inputShapes[1]).data()) : Mat();
        const int N = bIsInput ? (s.transB ? B.rows : B.cols) : bRows.rows;
        const Mat dy = outputGrads[0].reshape(1, batches * M);
        if (dy.cols != N)
            CV_Error(Error::StsBadArg, "explain: the output gradient of " + describeLayer(info) + " does not fit its shapes");
        if (need[0])
            inputGrads[0] = inputGradientA(dy, B, batches, rows, cols).reshape(1, aShape);
        if (bIsInput && need[1])  // dOp(B) = alpha op(A)^T g; op(B) = B^T: dB = g^T op(A) alpha
        {
            const Mat A = inputs[0].reshape(1, batches * rows);
            Mat dB = Mat::zeros(B.size(), CV_32F);
            for (int k = 0; k < batches; k++)
            {
                const Mat a = A.rowRange(k * rows, (k + 1) * rows), g = dy.rowRange(k * M, (k + 1) * M);
                gemm(s.transB ? g : a, s.transB ? a : g, s.alpha, dB, 1, dB,
                     s.transB ? (GEMM_1_T | (s.transA ? GEMM_2_T : 0)) : (s.transA ? 0 : GEMM_1_T));
            }
            inputGrads[1] = dB.reshape(1, info.inputShapes[1]);
        }
        if (cIsInput && need.back())
        {
            const MatShape& cShape = info.inputShapes.back();
            inputGrads.back() = sumToShape(dy * s.beta, cShape, MatShape{batches * M, N});
        }
    }

private:
    /** dA per batch: dOp(A) = alpha g op(B)^T, and dA = dOp(A)^T when op(A) = A^T. */
    Mat inputGradientA(const Mat& dy, const Mat& B, int batches, int rows, int cols) const
    {
        const int M = s.transA ? cols : rows, K = s.transA ? rows : cols;
        Mat dA(batches * rows, cols, CV_32F), dOpA;
        if (s.transA)  // dOp(A) is computed apart, then transposed into dA
            dOpA.create(M, K, CV_32F);
        for (int k = 0; k < batches; k++)
        {
            const Mat g = dy.rowRange(k * M, (k + 1) * M);
            Mat out = dA.rowRange(k * rows, (k + 1) * rows), opOut = s.transA ? dOpA : out;
            if (bIsInput)
                gemm(g, B, s.alpha, noArray(), 0, opOut, s.transB ? 0 : GEMM_2_T);
            else
                gradientTimesRows(g, bRows, (float)s.alpha, opOut);
            if (s.transA)
                transpose(dOpA, out);
        }
        return dA;
    }

    std::vector<int> bShape(const MatShape& sh) const
    {
        if (sh.size() != 2)
            CV_Error(Error::StsNotImplemented, "explain: B of " + describeLayer(info) + " is not 2-D");
        return std::vector<int>{sh[0], sh[1]};
    }

    LayerInfo info;
    compat::GemmSettings s;
    bool bIsInput = false, cIsInput = false;
    Mat bRows;  // a constant B as op(B)^T, [N, K]
};

/** MatMul: Y_i = alpha op(A_i) op(B_i) (+ beta C) over the batch axes (all but the last two), broadcast
    numpy-style; B is the second input or a constant; C, a constant bias broadcast to Y (OpenCV 5 fuses a
    MatMul's Add into it), adds nothing to the input gradients. dA_i = alpha dY_i op(B_i)^T,
    dB_i = alpha op(A_i)^T dY_i (each transposed back for transA / transB), summed over the batches a repeated
    matrix served. */
class MatMulRule CV_FINAL : public BackwardRule
{
public:
    explicit MatMulRule(const LayerInfo& info_) : info(info_), s(compat::matMulOf(info_))
    {
        const size_t nIn = info.inputShapes.size(), nBlobs = info.layer->blobs.size();
        if (nIn > 2 || (nIn == 1 && nBlobs != 1 && nBlobs != 2) || (nIn == 2 && nBlobs != 0))
            CV_Error(Error::StsNotImplemented, "explain: " + describeLayer(info) + " adds a bias that is an input; "
                                                                                   "not supported yet");
        if (nIn == 1 && nBlobs == 2)  // constant B and bias: the bias broadcast to Y, for the forward check
        {
            const Mat& c = info.layer->blobs[1];
            bias = broadcastTo(c, biasShape(c), info.outputShapes.at(0)).clone();
        }
        aShape = info.inputShapes[0];
        bShape = nIn == 2 ? info.inputShapes[1] : dnn::shape(info.layer->blobs[0]);
        yShape = info.outputShapes.at(0);
        if (aShape.size() < 2 || bShape.size() < 2 || yShape.size() < 2)
            CV_Error(Error::StsNotImplemented, "explain: " + describeLayer(info) + " multiplies vectors; matrices expected");
        aIndex = broadcastIndex(batchOf(aShape), batchOf(yShape));
        bIndex = broadcastIndex(batchOf(bShape), batchOf(yShape));
    }

    void backward(const std::vector<Mat>& inputs, const std::vector<Mat>&, const std::vector<Mat>& outputGrads,
                  const std::vector<bool>& need, RectifierMode, std::vector<Mat>& inputGrads) CV_OVERRIDE
    {
        const bool bIsInput = inputs.size() == 2;
        const Mat A = inputs[0], B = bIsInput ? inputs[1] : info.layer->blobs[0];
        Mat dA = Mat::zeros((int)aShape.size(), aShape.data(), CV_32F);
        Mat dB = Mat::zeros((int)bShape.size(), bShape.data(), CV_32F);
        for (size_t i = 0; i < aIndex.size(); i++)
        {
            const Mat a = matrix(A, aShape, aIndex[i]), b = matrix(B, bShape, bIndex[i]);
            const Mat dy = matrix(outputGrads[0], yShape, i);
            if (need[0])  // dOp(A) = alpha dy op(B)^T; dA = dOp(A) or its transpose
            {
                Mat da = matrix(dA, aShape, aIndex[i]), t;
                if (s.transA)  // dA = alpha op(B) dy^T
                    gemm(b, dy, s.alpha, noArray(), 0, t, GEMM_2_T | (s.transB ? GEMM_1_T : 0));
                else
                    gemm(dy, b, s.alpha, noArray(), 0, t, s.transB ? 0 : GEMM_2_T);
                da += t;  // a broadcast A collects the gradients of every matrix it served
            }
            if (bIsInput && need[1])  // dOp(B) = alpha op(A)^T dy; dB = dOp(B) or its transpose
            {
                Mat db = matrix(dB, bShape, bIndex[i]), t;
                if (s.transB)  // dB = alpha dy^T op(A)
                    gemm(dy, a, s.alpha, noArray(), 0, t, GEMM_1_T | (s.transA ? GEMM_2_T : 0));
                else
                    gemm(a, dy, s.alpha, noArray(), 0, t, s.transA ? 0 : GEMM_1_T);
                db += t;
            }
        }
        if (need[0])
            inputGrads[0] = dA;
        if (bIsInput && need[1])
            inputGrads[1] = dB;
    }

    /** cv::dnn packs a two-dimensional B in finalize(), keyed by its data pointer: a B recomputed into the
        same buffer in a later pass would be multiplied stale. A sample of Y is recomputed from A and B. */
    void verifyForward(const std::vector<Mat>& inputs, const std::vector<Mat>& outputs) const CV_OVERRIDE
    {
        if (inputs.empty() || outputs.empty() || inputs[0].empty() || outputs[0].empty() ||
            (inputs.size() == 2 && inputs[1].empty()))
            return;
        const Mat B = inputs.size() == 2 ? inputs[1] : info.layer->blobs[0];
        const int M = yShape[yShape.size() - 2], N = yShape.back();
        for (size_t k = 0; k < 8; k++)
        {
            const size_t e = (k * 2654435761u + 31) % (size_t)dnn::total(yShape), i = e / ((size_t)M * N);
            const int row = (int)(e / N % M), col = (int)(e % N);
            const Mat a = matrix(inputs[0], aShape, aIndex[i]), b = matrix(B, bShape, bIndex[i]);
            const Mat opA = s.transA ? Mat(a.t()) : a, opB = s.transB ? Mat(b.t()) : b;
            double sum = 0, sumAbs = 1e-5;
            for (int t = 0; t < opA.cols; t++)
            {
                const double term = (double)opA.at<float>(row, t) * opB.at<float>(t, col);
                sum += term;
                sumAbs += std::abs(term);
            }
            const double actual = outputs[0].ptr<float>()[e],
                         expected = s.alpha * sum + (bias.empty() ? 0.0 : s.beta * bias.ptr<float>()[e]);
            if (std::isfinite(actual) && std::abs(actual - expected) > 1e-3 * std::abs(s.alpha) * sumAbs)
                CV_Error(Error::StsError, format("explain: the output of %s is not the product of its inputs "
                                                 "(element %zu is %g, the inputs give %g): cv::dnn multiplied a matrix "
                                                 "it packed in an earlier pass", describeLayer(info).c_str(), e, actual,
                                                 expected));
        }
    }

private:
    /** The bias's own shape. cv::dnn 4.x keeps a 1-D ONNX constant as a column (N x 1), which would broadcast
        along the wrong axis, and says its true rank in the importer's parameter real_ndims_C. */
    MatShape biasShape(const Mat& c) const
    {
        const CapturedParams captured(info);
        const int ndims = captured.known ? captured.params.get<int>("real_ndims_C", -1) : -1;
        return ndims == 0 || ndims == 1 ? MatShape{(int)c.total()} : dnn::shape(c);
    }

    /** The batch axes (all but the last two); {1} for a single matrix. */
    static MatShape batchOf(const MatShape& shape)
    {
        std::vector<int> batch(shape.begin(), shape.end() - 2);
        if (batch.empty())
            batch.push_back(1);
        return MatShape(batch.begin(), batch.end());
    }

    /** Matrix `i` (of the last two axes) of a blob of `shape`, as a 2-D header on its data. */
    static Mat matrix(const Mat& blob, const MatShape& shape, size_t i)
    {
        const int rows = shape[shape.size() - 2], cols = shape.back();
        return Mat(rows, cols, CV_32F, (void*)(blob.ptr<float>() + i * rows * cols));
    }

    LayerInfo info;
    compat::GemmSettings s;
    MatShape aShape, bShape, yShape;
    std::vector<size_t> aIndex, bIndex;  // the matrix of A and of B for each matrix of Y
    Mat bias;                            // beta C's C broadcast to Y; empty without a bias
};

} // namespace

void registerFullyConnectedRules(RuleMap& rules)
{
    EXPLAIN_REGISTER_RULE(rules, "InnerProduct", InnerProductRule);
    EXPLAIN_REGISTER_RULE(rules, "Gemm", GemmRule);
    EXPLAIN_REGISTER_RULE(rules, "MatMul", MatMulRule);
}

}} // namespace cv::explain
