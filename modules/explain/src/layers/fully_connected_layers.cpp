// Backward rule of InnerProduct: y = x W^T + b over the axes from `axis` on, so dX = dY W.
#include "layer_utils.hpp"
#include "../ocl_ops.hpp"
#include "cpu_kernels.hpp"

namespace cv {
namespace explain {

namespace {

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
    }

    void backward(const std::vector<Mat>& inputs, const std::vector<Mat>&,
                  const std::vector<Mat>& outputGrads, const std::vector<bool>& need, RectifierMode,
                  std::vector<Mat>& inputGrads) CV_OVERRIDE
    {
        if (!need[0])
            return;
        const Mat& x = inputs[0];
        const int ax = normalizeAxis(axis, x.dims);
        const int outer = (int)totalOf(x, 0, ax), inner = (int)totalOf(x, ax);
        const int numOutput = weights.size[0];
        if ((int)weights.total() != numOutput * inner || (int)outputGrads[0].total() != outer * numOutput)
            CV_Error(Error::StsBadArg, "explain: InnerProduct weights do not fit the recorded input");
        Mat dx(x.dims, x.size.p, CV_32F);
        const Mat dy = outputGrads[0].reshape(1, outer);
        if (countNonZero(dy) <= outer * 4)
        {
            // a class score's gradient is one-hot: dX = sum over the nonzero dY_o of dY_o W_o reads a few
            // rows of W instead of all of it (ResNet-50's classifier is 8 MB)
            Mat rows = dx.reshape(1, outer), w = weights.reshape(1, numOutput);
            rows.setTo(Scalar::all(0));
            for (int r = 0; r < outer; r++)
                for (int o = 0; o < numOutput; o++)
                    if (const float g = dy.at<float>(r, o))
                        scaleAdd(w.row(o), g, rows.row(r), rows.row(r));
        }
        else
            gemmAB(dy.ptr<float>(), numOutput, weights.ptr<float>(), inner, dx.ptr<float>(), inner, outer, inner,
                   numOutput);
        inputGrads[0] = dx;
    }

    bool backwardOCL(const std::vector<UMat>& inputs, const std::vector<UMat>&, const std::vector<UMat>& outputGrads,
                     const std::vector<bool>& need, RectifierMode, std::vector<UMat>& inputGrads) CV_OVERRIDE
    {
        if (!need[0])
            return true;
        const UMat& x = inputs[0];
        const int ax = normalizeAxis(axis, x.dims);
        int outer = 1, inner = 1;
        for (int d = 0; d < x.dims; d++)
            (d < ax ? outer : inner) *= x.size[d];
        const int numOutput = weights.size[0];
        if (deviceWeights.empty())
            weights.reshape(1, numOutput).copyTo(deviceWeights);  // once per rule
        UMat dx;
        if (!ocl_gemm(as2D(outputGrads[0], outer), deviceWeights, dx))
            return false;
        inputGrads[0] = dx.reshape(1, x.dims, x.size.p);
        return true;
    }

private:
    Mat weights;
    UMat deviceWeights;
    int axis;
};

} // namespace

void registerFullyConnectedRules(RuleMap& rules)
{
    EXPLAIN_REGISTER_RULE(rules, "InnerProduct", InnerProductRule);
}

}} // namespace cv::explain
