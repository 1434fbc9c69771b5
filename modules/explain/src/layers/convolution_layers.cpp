// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// Backward rules of Convolution and Deconvolution.
// Convolution (1D, 2D and 3D; groups, depthwise, dilation, stride, padding):
// dX = col2im(W^T * dY) per group, with Eigen's single-threaded GEMM (far faster than cv::gemm on
// Debian's reference BLAS) and parallel_for_ over (image, group, block of input channels), so that
// each task writes its own slice of dX. 1x1 stride-1 convolutions skip col2im; depthwise ones use a
// stencil per plane (cpu_kernels.inl.hpp); 3x3 stride-1 ones on enough channels and pixels use Winograd's
// transform (conv_winograd.cpp).
// 1D and 2D convolutions are 3D ones of depth (and height) 1.
#include "layer_utils.hpp"
#include "cpu_kernels.hpp"
#include "conv_winograd.hpp"
#include "../ocl_ops.hpp"
#include "../opencv_compat.hpp"

namespace cv {
namespace explain {

namespace {

struct ConvGeometry
{
    int inC, inH, inW, outC, outH, outW, groups;
    int kh, kw, sh, sw, dh, dw, ph, pw;
    int inD = 1, outD = 1, kd = 1, sd = 1, dd = 1, pd = 0;  // the depth axis of a 3D convolution

    bool volumetric() const { return inD > 1 || outD > 1 || kd > 1; }

    /** A 1x1 stride-1 convolution without padding: its GEMM output is dX itself, no col2im. */
    bool pointwise() const
    {
        return kd * kh * kw == 1 && sd == 1 && sh == 1 && sw == 1 && pd == 0 && ph == 0 && pw == 0 &&
               outD == inD && outH == inH && outW == inW;
    }

    /** A 2D 3x3 convolution with stride 1 and no dilation on enough channels and pixels for Winograd. */
    bool winograd(int images) const
    {
        return !volumetric() && kh == 3 && kw == 3 && sh == 1 && sw == 1 && dh == 1 && dw == 1 &&
               winogradPays(inC / groups, outC / groups, images * inH * inW);
    }
};

/** Setting `axis` (0: depth, 1: height, 2: width) of a layer with `spatial` axes whose per-axis settings
    list only those (cv::dnn: D, H, W for 3D, H, W for 2D, W for 1D); `missing` for the axes it has not. */
int axisSetting(const std::vector<size_t>& settings, int spatial, int axis, int missing)
{
    const int k = axis - (3 - spatial);
    return k < 0 || k >= (int)settings.size() ? missing : (int)settings[k];
}

/** The outputs o in [begin, end) whose tap at offset `off` (= k * dilation - pad) reads an input
    inside [0, size): 0 <= o * stride + off < size. Keeps the inner loops free of bounds checks. */
inline void validRange(int off, int stride, int size, int outSize, int& begin, int& end)
{
    begin = off >= 0 ? 0 : (-off + stride - 1) / stride;
    end = size - off <= 0 ? 0 : std::min(outSize, (size - off + stride - 1) / stride);
    if (end < begin)
        end = begin;
}

/** row[o * stride + off] += scale * src[o] for o in the valid range. */
inline void scatterRow(float* row, const float* src, float scale, int off, int stride, int size, int outSize)
{
    int begin, end;
    validRange(off, stride, size, outSize, begin, end);
    if (stride == 1)
    {
        float* dst = row + off;
        for (int o = begin; o < end; o++)
            dst[o] += scale * src[o];
    }
    else
        for (int o = begin; o < end; o++)
            row[o * stride + off] += scale * src[o];
}

class ConvolutionRule CV_FINAL : public BackwardRule
{
public:
    explicit ConvolutionRule(const LayerInfo& info)
    {
        Ptr<dnn::BaseConvolutionLayer> conv = layerAs<dnn::BaseConvolutionLayer>(info);
        if (info.layer->blobs.empty())
            CV_Error(Error::StsNotImplemented, "explain: " + describeLayer(info) +
                                                   " takes its weights as an input; only constant weights are supported");
        const Mat& w = info.layer->blobs[0];
        const int spatial = info.inputShapes.empty() ? 0 : (int)info.inputShapes[0].size() - 2;
        if (spatial < 1 || spatial > 3 || w.dims != spatial + 2)
            CV_Error(Error::StsNotImplemented, "explain: only 1D, 2D and 3D convolutions (3D to 5D blobs) are supported, "
                                               "in " + describeLayer(info));
        const MatShape& in = info.inputShapes[0];
        const MatShape out = info.outputShapes.empty() ? MatShape() : info.outputShapes[0];
        if (out.size() != in.size())
            CV_Error(Error::StsNotImplemented, "explain: " + describeLayer(info) + " turns an input of shape " +
                                                   shapeToString(in) + " into " + shapeToString(out) +
                                                   "; convolutions that keep the number of axes are supported");
        // D, H, W of the input, the output and the kernel; 1 on the axes a 1D or 2D convolution has not
        int inSize[3], outSize[3], kSize[3];
        for (int a = 0; a < 3; a++)
        {
            const int dim = a - (3 - spatial) + 2;
            inSize[a] = dim < 2 ? 1 : in[dim];
            outSize[a] = dim < 2 ? 1 : out[dim];
            kSize[a] = dim < 2 ? 1 : w.size[dim];
        }
        g.inC = in[1]; g.inD = inSize[0]; g.inH = inSize[1]; g.inW = inSize[2];
        g.outC = out[1]; g.outD = outSize[0]; g.outH = outSize[1]; g.outW = outSize[2];
        g.kd = kSize[0]; g.kh = kSize[1]; g.kw = kSize[2];
        if (w.size[1] <= 0 || g.inC % w.size[1] != 0 || w.size[0] != g.outC)
            CV_Error(Error::StsBadArg, "explain: weights of " + describeLayer(info) + " do not fit its input");
        g.groups = g.inC / w.size[1];
        g.sd = axisSetting(conv->strides, spatial, 0, 1);
        g.sh = axisSetting(conv->strides, spatial, 1, 1);
        g.sw = axisSetting(conv->strides, spatial, 2, 1);
        g.dd = axisSetting(conv->dilations, spatial, 0, 1);
        g.dh = axisSetting(conv->dilations, spatial, 1, 1);
        g.dw = axisSetting(conv->dilations, spatial, 2, 1);
        if (conv->padMode.empty())
        {
            g.pd = axisSetting(conv->pads_begin, spatial, 0, 0);
            g.ph = axisSetting(conv->pads_begin, spatial, 1, 0);
            g.pw = axisSetting(conv->pads_begin, spatial, 2, 0);
        }
        else  // "SAME"/"VALID": the padding that gives the recorded output size, split as TensorFlow does
        {
            const bool valid = conv->padMode == "VALID";
            g.pd = valid ? 0 : std::max(0, (g.outD - 1) * g.sd + g.dd * (g.kd - 1) + 1 - g.inD) / 2;
            g.ph = valid ? 0 : std::max(0, (g.outH - 1) * g.sh + g.dh * (g.kh - 1) + 1 - g.inH) / 2;
            g.pw = valid ? 0 : std::max(0, (g.outW - 1) * g.sw + g.dw * (g.kw - 1) + 1 - g.inW) / 2;
        }
        // [Cout, Cin/g * kd * kh * kw], shared with the layer: cv::dnn fuses BatchNorm into a copy of its own
        weights = w.reshape(1, g.outC);
        if (info.layer->blobs.size() > 1)
            bias = info.layer->blobs[1].reshape(1, 1);
        halfPrecision = info.layer->preferableTarget == dnn::DNN_TARGET_OPENCL_FP16;
        describe = describeLayer(info);
        inShape = std::vector<int>(in.begin(), in.end());
    }

    /** The input gradient needs the weights only (verifyForward reads what the plan kept). */
    int activationsRead() const CV_OVERRIDE
    {
        return READS_NOTHING;
    }

    /** A sample of output elements recomputed from the input and the layer's own weights. cv::dnn 4.7 and
        newer keep the packed weights of a convolution from its first forward pass, with a BatchNorm, Scale
        or Power folded in or not as that pass's fusion decided: when a later pass of the same Net fuses
        differently, the output is silently wrong. The packed weights never change after that first pass, so
        one check per rule is enough (a rule is made again when the shapes change). */
    void verifyForward(const std::vector<Mat>& inputs, const std::vector<Mat>& outputs) const CV_OVERRIDE
    {
        if (verified || inputs.empty() || outputs.empty())
            return;
        const Mat& x = inputs[0];
        const Mat& y = outputs[0];
        if (x.dims < 3 || x.dims != y.dims || x.depth() != CV_32F || y.depth() != CV_32F)
            return;
        const size_t total = y.total();
        for (size_t k = 0; k < 16 && k < total; k++)
        {
            const size_t i = (k * 2654435761u + 97) % total;  // spread over images, channels and positions
            double sumAbs = 0;
            const double expected = outputAt(x, i, sumAbs), actual = y.ptr<float>()[i];
            if (!std::isfinite(actual) || !std::isfinite(sumAbs))
                continue;  // reported with its layer by the non-finite checks
            const double tol = (halfPrecision ? 2e-2 : 1e-3) * sumAbs + 1e-5;
            if (std::abs(actual - expected) > tol)
                CV_Error(Error::StsError, format("explain: the output of %s is not the convolution of its input with "
                                                 "its own weights (element %zu is %g, the weights give %g): cv::dnn "
                                                 "computed it with weights fused by an earlier forward pass of this "
                                                 "Net (a cv::dnn 4.7+ bug). Create the explainer before the Net's "
                                                 "first forward pass, or call net.enableFusion(false) before that "
                                                 "pass", describe.c_str(), i, actual, expected));
        }
        verified = true;
    }

    void backward(const std::vector<Mat>& inputs, const std::vector<Mat>& outputs,
                  const std::vector<Mat>& outputGrads, const std::vector<bool>& need, RectifierMode,
                  std::vector<Mat>& inputGrads) CV_OVERRIDE
    {
        if (!need[0])
            return;
        const Mat& dy = outputGrads[0];
        const int n = inShape[0];
        const int cinG = g.inC / g.groups, coutG = g.outC / g.groups;
        const bool depthwise = cinG == 1 && coutG == 1 && !g.volumetric();
        // depthwise planes, Winograd tiles and 1x1 stride-1 GEMM outputs are written whole; col2im accumulates
        const int dims = (int)inShape.size();
        if (depthwise || g.winograd(n))
        {
            Mat dx(dims, inShape.data(), CV_32F);
            if (depthwise)
                depthwiseBackward(dy, dx);
            else
                winogradBackward(dy, dx);
            inputGrads[0] = dx;
            return;
        }
        Mat dx = g.pointwise() ? Mat(dims, inShape.data(), CV_32F) : Mat::zeros(dims, inShape.data(), CV_32F);
        // Tasks: (image, group, block of input channels or of pixels); blocks give two threads work at batch 1.
        const int blocks = std::min(cinG, std::max(1, 4 / std::max(1, n * g.groups)));
        if (g.pointwise() && blocks > 1 && g.outD * g.outH * g.outW > cinG)
        {
            pointwiseBackwardByPixels(dy, blocks, dx);
            inputGrads[0] = dx;
            return;
        }
        const int tasks = n * g.groups * blocks;
        if (tasks < 4 && !g.pointwise() && !g.volumetric())  // a stem: too few input channels to share
        {
            for (int img = 0; img < n; img++)
                for (int grp = 0; grp < g.groups; grp++)
                    bandedBackward(dy.ptr<float>(img) + (size_t)grp * coutG * g.outH * g.outW, grp,
                                   dx.ptr<float>(img) + (size_t)grp * cinG * g.inH * g.inW);
            inputGrads[0] = dx;
            return;
        }
        parallel_for_(Range(0, tasks), [&](const Range& r) {
            std::vector<float> cols;
            for (int t = r.start; t < r.end; t++)
            {
                const int b = t % blocks, grp = (t / blocks) % g.groups, img = t / (blocks * g.groups);
                const int c0 = cinG * b / blocks, c1 = cinG * (b + 1) / blocks;
                const float* dyp = dy.ptr<float>(img) + (size_t)grp * coutG * g.outD * g.outH * g.outW;
                float* dxp = dx.ptr<float>(img) + (size_t)(grp * cinG + c0) * g.inD * g.inH * g.inW;
                groupBackward(dyp, grp, c0, c1, dxp, cols);
            }
        });
        inputGrads[0] = dx;
    }

    /** On the device: cols = W_g^T dY_g with a tiled OpenCL GEMM (gemm.cl), then a col2im gather kernel
        (none for 1x1 stride-1 convolutions, whose cols are dX).
        Depthwise convolutions use a gather kernel of their own instead (one tiny GEMM per channel
        would not pay). */
    bool backwardOCL(const std::vector<UMat>&, const std::vector<UMat>&, const std::vector<UMat>& outputGrads,
                     const std::vector<bool>& need, RectifierMode, std::vector<UMat>& inputGrads) CV_OVERRIDE
    {
        const int cinG = g.inC / g.groups, coutG = g.outC / g.groups;
        if (g.volumetric() || !useOpenCLFor(outputGrads[0]))  // 3D: on the host
            return false;
        if (!need[0])
            return true;
        if (cinG == 1 && coutG == 1)
            return depthwiseBackwardOCL(outputGrads[0], inputGrads[0]);
        if (weightsT.empty())  // per group, W_g^T: (cinG kk) x coutG, once per rule
            for (int grp = 0; grp < g.groups; grp++)
            {
                UMat t;
                Mat(weights.rowRange(grp * coutG, (grp + 1) * coutG).t()).copyTo(t);
                weightsT.push_back(t);
            }
        const int n = inShape[0], inPlane = g.inH * g.inW;
        const bool pointwise = g.pointwise();
        UMat dy = as2D(outputGrads[0], n * g.outC), dx(n * g.inC, inPlane, CV_32F);
        for (int img = 0; img < n; img++)
            for (int grp = 0; grp < g.groups; grp++)
            {
                UMat cols, block;
                const int dyRow = img * g.outC + grp * coutG, dxRow = img * g.inC + grp * cinG;
                UMat dst = dx.rowRange(dxRow, dxRow + cinG);
                if (pointwise)  // cols are dX itself
                {
                    if (!ocl_gemm(weightsT[grp], dy.rowRange(dyRow, dyRow + coutG), dst))
                        return false;
                    continue;
                }
                if (!ocl_gemm(weightsT[grp], dy.rowRange(dyRow, dyRow + coutG), cols) ||
                    !ocl_col2im(cols, block, cinG, g.inH, g.inW, g.outH, g.outW, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw,
                                g.dh, g.dw))
                    return false;
                block.copyTo(dst);
            }
        inputGrads[0] = dx.reshape(1, (int)inShape.size(), inShape.data());
        return true;
    }

private:
    /** Per group, all images at once (the Winograd kernel runs parallel_for_ over its own stages). */
    void winogradBackward(const Mat& dy, Mat& dx) const
    {
        const int cinG = g.inC / g.groups, coutG = g.outC / g.groups;
        const size_t inPlane = (size_t)g.inH * g.inW, outPlane = (size_t)g.outH * g.outW;
        const Winograd3x3Shape shape = {inShape[0], cinG, g.inH, g.inW, coutG, g.outH, g.outW, g.ph, g.pw,
                                        g.inC * inPlane, g.outC * outPlane, weights.step1()};
        for (int grp = 0; grp < g.groups; grp++)
            winogradConvBackward3x3(dy.ptr<float>() + grp * coutG * outPlane, weights.ptr<float>(grp * coutG),
                                    dx.ptr<float>() + grp * cinG * inPlane, shape);
    }

    bool depthwiseBackwardOCL(const UMat& dy, UMat& dx)
    {
        if (deviceWeights.empty())  // channels x (kh kw), once per rule
            weights.copyTo(deviceWeights);
        UMat planes;
        if (!ocl_depthwiseConvBackward(dy, deviceWeights, planes, inShape[0] * g.inC, g.inC, g.inH, g.inW, g.outH,
                                       g.outW, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw))
            return false;
        dx = planes.reshape(1, (int)inShape.size(), inShape.data());
        return true;
    }

    /** A 1x1 stride-1 convolution whose images have more pixels than its groups have input channels: each
        task takes a block of pixels, so that it packs only its columns of dY and all of W_g^T (the smaller
        one), where blocks of input channels would each pack all of dY. */
    void pointwiseBackwardByPixels(const Mat& dy, int blocks, Mat& dx) const
    {
        const int cinG = g.inC / g.groups, coutG = g.outC / g.groups, pixels = g.outD * g.outH * g.outW;
        const int tasks = inShape[0] * g.groups * blocks;
        parallel_for_(Range(0, tasks), [&](const Range& r) {
            for (int t = r.start; t < r.end; t++)
            {
                const int b = t % blocks, grp = (t / blocks) % g.groups, img = t / (blocks * g.groups);
                const int p0 = (int)((int64)pixels * b / blocks) & ~15;  // whole vectors, but for the last block
                const int p1 = b + 1 == blocks ? pixels : (int)((int64)pixels * (b + 1) / blocks) & ~15;
                if (p1 <= p0)
                    continue;
                const float* dyp = dy.ptr<float>(img) + (size_t)grp * coutG * pixels + p0;
                float* dxp = dx.ptr<float>(img) + (size_t)grp * cinG * pixels + p0;
                gemmAtB(weights.ptr<float>(grp * coutG), cinG, dyp, pixels, dxp, pixels, cinG, p1 - p0, coutG);
            }
        });
    }

    void groupBackward(const float* dyp, int grp, int c0, int c1, float* dxp, std::vector<float>& cols) const
    {
        const int cinG = g.inC / g.groups, coutG = g.outC / g.groups;
        const int kk = g.kd * g.kh * g.kw, outVolume = g.outD * g.outH * g.outW;
        const int rows = (c1 - c0) * kk;
        // cols (rows x outVolume) = W_g[:, block]^T (rows x coutG) * dY_g (coutG x outVolume)
        const float* w = weights.ptr<float>(grp * coutG) + c0 * kk;
        if (g.pointwise())
        {
            gemmAtB(w, cinG * kk, dyp, outVolume, dxp, outVolume, rows, outVolume, coutG);
            return;
        }
        cols.resize((size_t)rows * outVolume);
        gemmAtB(w, cinG * kk, dyp, outVolume, cols.data(), outVolume, rows, outVolume, coutG);
        // col2im: scatter-add each kernel tap back to the input positions it read.
        for (int ci = 0; ci < c1 - c0; ci++)
            for (int kz = 0; kz < g.kd; kz++)
                for (int ky = 0; ky < g.kh; ky++)
                    for (int kx = 0; kx < g.kw; kx++)
                    {
                        const size_t tap = ((size_t)(ci * g.kd + kz) * g.kh + ky) * g.kw + kx;
                        scatterTap(cols.data() + tap * outVolume, kz, ky, kx,
                                   dxp + (size_t)ci * g.inD * g.inH * g.inW);
                    }
    }

    /** One image and group of a 2D convolution with few input channels (a network's stem), in bands of
        output rows whose cols stay in cache: cols = W_g^T dY_g for the band's pixels, shared among threads
        by pixels, then col2im as a gather, shared by input rows (each task owns the rows it writes). */
    void bandedBackward(const float* dyp, int grp, float* dxp) const
    {
        const int cinG = g.inC / g.groups, coutG = g.outC / g.groups, kk = g.kh * g.kw, rows = cinG * kk;
        const int outPlane = g.outH * g.outW, bandH = std::max(1, (1 << 19) / (rows * g.outW));  // 2 MB of cols
        const float* w = weights.ptr<float>(grp * coutG);
        std::vector<float> cols((size_t)rows * std::min(bandH, g.outH) * g.outW);
        for (int oy0 = 0; oy0 < g.outH; oy0 += bandH)
        {
            const int oy1 = std::min(g.outH, oy0 + bandH), pixels = (oy1 - oy0) * g.outW;
            const int blocks = std::max(1, std::min(4 * getNumThreads(), pixels / 64));
            parallel_for_(Range(0, blocks), [&](const Range& r) {
                for (int b = r.start; b < r.end; b++)
                {
                    const int p0 = (int)((int64)pixels * b / blocks), p1 = (int)((int64)pixels * (b + 1) / blocks);
                    gemmAtB(w, rows, dyp + (size_t)oy0 * g.outW + p0, outPlane, cols.data() + p0, pixels, rows,
                            p1 - p0, coutG);
                }
            });
            // the input rows this band's taps reach
            const int iy0 = std::max(0, oy0 * g.sh - g.ph);
            const int iy1 = std::min(g.inH, (oy1 - 1) * g.sh - g.ph + (g.kh - 1) * g.dh + 1);
            if (iy1 <= iy0)
                continue;
            parallel_for_(Range(0, cinG * (iy1 - iy0)), [&](const Range& r) {
                for (int t = r.start; t < r.end; t++)
                    gatherInputRow(cols.data(), oy0, oy1, t / (iy1 - iy0), iy0 + t % (iy1 - iy0), dxp);
            });
        }
    }

    /** Adds to input row `iy` of channel `ci` every tap of the band's cols (output rows [oy0, oy1)) that read it. */
    void gatherInputRow(const float* cols, int oy0, int oy1, int ci, int iy, float* dxp) const
    {
        const int pixels = (oy1 - oy0) * g.outW;
        float* row = dxp + ((size_t)ci * g.inH + iy) * g.inW;
        for (int ky = 0; ky < g.kh; ky++)
        {
            const int at = iy + g.ph - ky * g.dh;  // = oy * sh for the output row oy whose tap ky reads row iy
            if (at < 0 || at % g.sh != 0 || at / g.sh < oy0 || at / g.sh >= oy1)
                continue;
            const int oy = at / g.sh;
            for (int kx = 0; kx < g.kw; kx++)
                scatterRow(row, cols + ((size_t)(ci * g.kh + ky) * g.kw + kx) * pixels + (size_t)(oy - oy0) * g.outW,
                           1.f, kx * g.dw - g.pw, g.sw, g.inW, g.outW);
        }
    }

    /** Adds one kernel tap's column (an output volume) to the input positions that tap read. */
    void scatterTap(const float* src, int kz, int ky, int kx, float* volume) const
    {
        int oz0, oz1, oy0, oy1;
        validRange(kz * g.dd - g.pd, g.sd, g.inD, g.outD, oz0, oz1);
        validRange(ky * g.dh - g.ph, g.sh, g.inH, g.outH, oy0, oy1);
        for (int oz = oz0; oz < oz1; oz++)
        {
            float* plane = volume + (size_t)(oz * g.sd - g.pd + kz * g.dd) * g.inH * g.inW;
            const float* srcPlane = src + (size_t)oz * g.outH * g.outW;
            for (int oy = oy0; oy < oy1; oy++)
                scatterRow(plane + (size_t)(oy * g.sh - g.ph + ky * g.dh) * g.inW, srcPlane + (size_t)oy * g.outW,
                           1.f, kx * g.dw - g.pw, g.sw, g.inW, g.outW);
        }
    }

    /** All planes (image, channel) in parallel, each task on consecutive planes of one image at a time (the
        kernel sets up its buffers once per call). AVX-512 or AVX2+FMA where the CPU has it. */
    void depthwiseBackward(const Mat& dy, Mat& dx) const
    {
        const ConvPlaneGeometry plane = {g.inH, g.inW, g.outH, g.outW, g.kh, g.kw, g.sh, g.sw, g.dh, g.dw, g.ph, g.pw};
        const int channels = g.inC, planes = inShape[0] * channels;
        const size_t inPlane = (size_t)g.inH * g.inW, outPlane = (size_t)g.outH * g.outW;
        parallel_for_(Range(0, planes), [&](const Range& r) {
            for (int p = r.start; p < r.end;)
            {
                const int count = std::min(r.end, (p / channels + 1) * channels) - p;  // up to the image's end
                depthwiseBackwardPlanes(dy.ptr<float>() + p * outPlane, weights.ptr<float>(p % channels),
                                        dx.ptr<float>() + p * inPlane, plane, count);
                p += count;
            }
        }, 4 * getNumThreads());
    }

    /** Output element `i` (flat index) from the input, accumulated in double; sumAbs = sum of |w x| + |b|. */
    double outputAt(const Mat& x, size_t i, double& sumAbs) const
    {
        const int ox = (int)(i % g.outW), oy = (int)(i / g.outW % g.outH);
        const size_t outVolume = (size_t)g.outD * g.outH * g.outW;
        const int oz = (int)(i / ((size_t)g.outW * g.outH) % g.outD);
        const int co = (int)(i / outVolume % g.outC), img = (int)(i / (outVolume * g.outC));
        const int cinG = g.inC / g.groups, grp = co / (g.outC / g.groups);
        const float* w = weights.ptr<float>(co);
        double sum = bias.empty() ? 0.0 : bias.at<float>(co);
        sumAbs = std::abs(sum);
        for (int ci = 0; ci < cinG; ci++)
        {
            const float* volume = x.ptr<float>(img, grp * cinG + ci);
            for (int kz = 0; kz < g.kd; kz++)
                for (int ky = 0; ky < g.kh; ky++)
                    for (int kx = 0; kx < g.kw; kx++)
                    {
                        const int iz = oz * g.sd - g.pd + kz * g.dd, iy = oy * g.sh - g.ph + ky * g.dh;
                        const int ix = ox * g.sw - g.pw + kx * g.dw;
                        if (iz < 0 || iz >= g.inD || iy < 0 || iy >= g.inH || ix < 0 || ix >= g.inW)
                            continue;
                        const double term = (double)w[((ci * g.kd + kz) * g.kh + ky) * g.kw + kx] *
                                            volume[((size_t)iz * g.inH + iy) * g.inW + ix];
                        sum += term;
                        sumAbs += std::abs(term);
                    }
        }
        return sum;
    }

    ConvGeometry g;
    Mat weights, bias;
    bool halfPrecision = false;
    mutable bool verified = false;  // verifyForward found the packed weights the layer's own
    String describe;
    std::vector<int> inShape;
    std::vector<UMat> weightsT;
    UMat deviceWeights;  // depthwise: the filters as they are, one row per channel
};

/** The dilation cv::dnn applies along `axis` of a deconvolution: 4.6 ignores it (in the output size and
    in col2im), later versions apply it; the recorded output size tells which. */
int appliedDilation(const LayerInfo& info, const dnn::BaseConvolutionLayer& l, int axis, int in, int out, int k, int s)
{
    const int d = axis < (int)l.dilations.size() ? (int)l.dilations[axis] : 1;
    if (d == 1 || k == 1)
        return 1;
    if (!l.padMode.empty())
        CV_Error(Error::StsNotImplemented, "explain: " + describeLayer(info) + " is dilated and pads in mode " +
                                               l.padMode + "; only explicit pads are supported with dilation");
    const int adjust = axis < (int)l.adjust_pads.size() ? (int)l.adjust_pads[axis] : 0;
    const int base = s * (in - 1) - (int)l.pads_begin[axis] - (int)l.pads_end[axis] + adjust;
    if (out == base + (k - 1) * d + 1)
        return d;
    if (out == base + k)
        return 1;
    CV_Error(Error::StsBadArg, format("explain: the output size %d of %s fits neither its dilation %d nor none",
                                      out, describeLayer(info).c_str(), d));
}

/** Deconvolution (transposed convolution, weights Cin x Cout/g x kh x kw): its input gradient is the
    ordinary convolution of dY with the same weights, dX_g = W_g * im2col(dY_g), with the deconvolution's
    stride, padding and dilation read from the input side. */
class DeconvolutionRule CV_FINAL : public BackwardRule
{
public:
    explicit DeconvolutionRule(const LayerInfo& info)
    {
        Ptr<dnn::BaseConvolutionLayer> deconv = layerAs<dnn::BaseConvolutionLayer>(info);
        if (info.layer->blobs.empty())
            CV_Error(Error::StsNotImplemented, "explain: " + describeLayer(info) + " has no constant weights");
        const Mat& w = info.layer->blobs[0];
        const MatShape& in = info.inputShapes.at(0);
        const MatShape& out = info.outputShapes.at(0);
        if (w.dims != 4 || in.size() != 4)
            CV_Error(Error::StsNotImplemented, "explain: only 2D deconvolutions are supported, in " + describeLayer(info));
        g.inC = in[1]; g.inH = in[2]; g.inW = in[3];
        g.outC = out[1]; g.outH = out[2]; g.outW = out[3];
        g.kh = w.size[2]; g.kw = w.size[3];
        if (w.size[0] != g.inC || w.size[1] <= 0 || g.outC % w.size[1] != 0)
            CV_Error(Error::StsBadArg, "explain: weights of " + describeLayer(info) + " do not fit its shapes");
        g.groups = g.outC / w.size[1];
        g.sh = (int)deconv->strides[0]; g.sw = (int)deconv->strides[1];
        g.ph = (int)deconv->pads_begin[0]; g.pw = (int)deconv->pads_begin[1];
        g.dh = appliedDilation(info, *deconv, 0, g.inH, g.outH, g.kh, g.sh);
        g.dw = appliedDilation(info, *deconv, 1, g.inW, g.outW, g.kw, g.sw);
        weights = w.reshape(1, g.inC).clone();  // [Cin, Cout/g * kh * kw]
    }

    void backward(const std::vector<Mat>& inputs, const std::vector<Mat>&, const std::vector<Mat>& outputGrads,
                  const std::vector<bool>& need, RectifierMode, std::vector<Mat>& inputGrads) CV_OVERRIDE
    {
        if (!need[0])
            return;
        const Mat& dy = outputGrads[0];
        const int n = inputs[0].size[0];
        const int cinG = g.inC / g.groups, coutG = g.outC / g.groups, kk = g.kh * g.kw, inPlane = g.inH * g.inW;
        Mat dx(inputs[0].dims, inputs[0].size.p, CV_32F);
        parallel_for_(Range(0, n * g.groups), [&](const Range& r) {
            std::vector<float> cols((size_t)coutG * kk * inPlane);
            for (int t = r.start; t < r.end; t++)
            {
                const int grp = t % g.groups, img = t / g.groups;
                const float* dyp = dy.ptr<float>(img) + (size_t)grp * coutG * g.outH * g.outW;
                // im2col of dY at the input positions: output (iy, ix) tap (ky, kx) reads
                // dY[iy * s - p + ky * d, ix * s - p + kx * d]
                for (int co = 0; co < coutG; co++)
                    for (int ky = 0; ky < g.kh; ky++)
                        for (int kx = 0; kx < g.kw; kx++)
                        {
                            float* dst = cols.data() + ((size_t)(co * g.kh + ky) * g.kw + kx) * inPlane;
                            const float* plane = dyp + (size_t)co * g.outH * g.outW;
                            for (int iy = 0; iy < g.inH; iy++)
                            {
                                const int oy = iy * g.sh - g.ph + ky * g.dh;
                                for (int ix = 0; ix < g.inW; ix++)
                                {
                                    const int ox = ix * g.sw - g.pw + kx * g.dw;
                                    dst[iy * g.inW + ix] = (oy >= 0 && oy < g.outH && ox >= 0 && ox < g.outW)
                                                               ? plane[oy * g.outW + ox] : 0.f;
                                }
                            }
                        }
                gemmAB(weights.ptr<float>(grp * cinG), coutG * kk, cols.data(), inPlane,
                       dx.ptr<float>(img) + (size_t)grp * cinG * inPlane, inPlane, cinG, inPlane, coutG * kk);
            }
        });
        inputGrads[0] = dx;
    }

private:
    ConvGeometry g;
    Mat weights;
};

} // namespace

/** The convolutions of OpenCV 5's new engine (Conv2, ConvTranspose2): its reader folds BatchNorm, the
    activation and the residual sum into them and keeps the weights only repacked, privately (the original
    tensors are freed), so no gradient can pass them: the rule refuses, saying what works instead. */
class PrivateWeightsRule CV_FINAL : public BackwardRule
{
public:
    explicit PrivateWeightsRule(const LayerInfo& info)
    {
        CV_Error(Error::StsNotImplemented,
                 "explain: " + describeLayer(info) + " keeps its weights private on OpenCV 5's new engine (its reader "
                 "repacks them and frees the originals), so no gradient can pass it: take a target layer after it "
                 "(Grad-CAM's default target is one), or, for gradients down to the input, " +
                 compat::classicEngineHint());
    }

    void backward(const std::vector<Mat>&, const std::vector<Mat>&, const std::vector<Mat>&, const std::vector<bool>&,
                  RectifierMode, std::vector<Mat>&) CV_OVERRIDE
    {
    }
};

void registerConvolutionRules(RuleMap& rules)
{
    EXPLAIN_REGISTER_RULE(rules, "Convolution", ConvolutionRule);
    EXPLAIN_REGISTER_RULE(rules, "Deconvolution", DeconvolutionRule);
    EXPLAIN_REGISTER_RULE(rules, "Conv2", PrivateWeightsRule);
    EXPLAIN_REGISTER_RULE(rules, "ConvTranspose2", PrivateWeightsRule);
}

}} // namespace cv::explain
