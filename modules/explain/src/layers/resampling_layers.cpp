// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// Backward rules of Resize and Interp. Every cv::dnn 4.6 resize mode is separable: per plane
// Y = Rh X Rw^T with 1-D interpolation matrices, so dX = Rh^T dY Rw. The matrices reproduce the
// layer's own arithmetic: for the modes that call cv::resize they are cv::resize of an identity;
// the other modes (nearest with align_corners/half-pixel rounding, bilinear without half-pixel
// centres) follow ResizeLayer's index formulas.
#include "layer_utils.hpp"
#include "cpu_kernels.hpp"
#include "../ocl_ops.hpp"
#include <opencv2/imgproc.hpp>
#include <cmath>

namespace cv {
namespace explain {

namespace {

class ResizeRule CV_FINAL : public BackwardRule
{
public:
    explicit ResizeRule(const LayerInfo& info)
    {
        String interpolation = "bilinear";
        bool alignCorners = true, halfPixel = false;
        if (info.type == "Resize")
        {
            const CapturedParams captured = requireCapturedParams(info);
            interpolation = captured.params.get<String>("interpolation", "nearest");
            alignCorners = captured.params.get<bool>("align_corners", false);
            halfPixel = captured.params.get<bool>("half_pixel_centers", false) || interpolation == "opencv_linear";
        }
        const MatShape& in = info.inputShapes.at(0);
        const MatShape& out = info.outputShapes.at(0);
        if (in.size() != 4)
            CV_Error(Error::StsNotImplemented, "explain: only 4D resizes are supported, in " + describeLayer(info));
        const bool viaCvResize = (interpolation == "nearest" && !alignCorners && !halfPixel) ||
                                 interpolation == "opencv_linear" || (interpolation == "bilinear" && halfPixel);
        if (viaCvResize)
        {
            const int mode = interpolation == "nearest" ? INTER_NEAREST : INTER_LINEAR;
            rh = resizedIdentity(in[2], out[2], mode);
            rw = resizedIdentity(in[3], out[3], mode);
        }
        else
        {
            rh = formulaMatrix(in[2], out[2], interpolation == "nearest", alignCorners, halfPixel);
            rw = formulaMatrix(in[3], out[3], interpolation == "nearest", alignCorners, halfPixel);
        }
        sameSize = in[2] == out[2] && in[3] == out[3];
    }

    void backward(const std::vector<Mat>& inputs, const std::vector<Mat>&, const std::vector<Mat>& outputGrads,
                  const std::vector<bool>& need, RectifierMode, std::vector<Mat>& inputGrads) CV_OVERRIDE
    {
        if (!need[0])
            return;  // a second input gives only the output size: no gradient
        const Mat& x = inputs[0];
        const Mat& dy = outputGrads[0];
        if (sameSize)
        {
            inputGrads[0] = dy.reshape(1, x.dims, x.size.p);
            return;
        }
        const int planes = x.size[0] * x.size[1], inH = rh.cols, inW = rw.cols, outH = rh.rows, outW = rw.rows;
        Mat dx(x.dims, x.size.p, CV_32F);
        parallel_for_(Range(0, planes), [&](const Range& r) {
            std::vector<float> tmp((size_t)inH * outW);
            for (int p = r.start; p < r.end; p++)
            {
                const float* g = dy.ptr<float>() + (size_t)p * outH * outW;
                gemmAtB(rh.ptr<float>(), inH, g, outW, tmp.data(), outW, inH, outW, outH);  // Rh^T dY
                gemmAB(tmp.data(), outW, rw.ptr<float>(), inW, dx.ptr<float>() + (size_t)p * inH * inW, inW,
                       inH, inW, outW);                                                      // (.) Rw
            }
        });
        inputGrads[0] = dx;
    }

    /** On the device: the same products, the width axis with our OpenCL GEMM, the height axis with
        a kernel. */
    bool backwardOCL(const std::vector<UMat>& inputs, const std::vector<UMat>&, const std::vector<UMat>& outputGrads,
                     const std::vector<bool>& need, RectifierMode, std::vector<UMat>& inputGrads) CV_OVERRIDE
    {
        if (!useOpenCLFor(outputGrads[0]))
            return false;
        if (!need[0])
            return true;
        const UMat& x = inputs[0];
        const UMat& dy = outputGrads[0];
        if (sameSize)
        {
            inputGrads[0] = dy.reshape(1, x.dims, x.size.p);
            return true;
        }
        if (deviceRh.empty())  // once per rule
        {
            rh.copyTo(deviceRh);
            rw.copyTo(deviceRw);
        }
        UMat dx;
        if (!ocl_resizeBackward(dy, deviceRh, deviceRw, dx, x.size[0] * x.size[1]))
            return false;
        inputGrads[0] = dx.reshape(1, x.dims, x.size.p);
        return true;
    }

private:
    /** The out x in matrix of cv::resize along one axis: cv::resize of an identity, the other axis kept. */
    static Mat resizedIdentity(int in, int out, int mode)
    {
        Mat eye = Mat::eye(in, in, CV_32F), r;
        resize(eye, r, Size(in, out), 0, 0, mode);  // rows: out positions, columns: in positions
        return r;
    }

    /** ResizeLayer's own loops for the modes that do not call cv::resize. */
    static Mat formulaMatrix(int in, int out, bool nearest, bool alignCorners, bool halfPixel)
    {
        const float scale = alignCorners && out > 1 ? static_cast<float>(in - 1) / (out - 1)
                                                    : static_cast<float>(in) / out;
        Mat r = Mat::zeros(out, in, CV_32F);
        for (int o = 0; o < out; o++)
        {
            if (nearest)
            {
                const float pos = o * scale + (halfPixel ? 0.5f * scale : 0.f);
                int i0 = halfPixel ? (int)std::floor(pos) : (int)lroundf(pos);
                r.at<float>(o, std::min(i0, in - 1)) += 1.f;
            }
            else
            {
                const float pos = o * scale;
                const int i0 = static_cast<int>(pos), i1 = std::min(i0 + 1, in - 1);
                const float w = pos - i0;
                r.at<float>(o, std::min(i0, in - 1)) += 1.f - w;
                r.at<float>(o, i1) += w;
            }
        }
        return r;
    }

    Mat rh, rw;  // out x in interpolation matrices of the height and width axes
    UMat deviceRh, deviceRw;
    bool sameSize;
};

} // namespace

void registerResamplingRules(RuleMap& rules)
{
    EXPLAIN_REGISTER_RULE(rules, "Resize", ResizeRule);
    EXPLAIN_REGISTER_RULE(rules, "Interp", ResizeRule);
}

}} // namespace cv::explain
