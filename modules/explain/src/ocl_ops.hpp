// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// OpenCL (T-API) versions of the hot operations. Each ocl_xxx() returns false when OpenCL is not in
// use, so that the caller runs the CPU path (the pattern of opencv_contrib's optflow/ximgproc); a
// kernel that fails to compile is an error, never a silent fallback.
#ifndef OPENCV_EXPLAIN_OCL_OPS_HPP
#define OPENCV_EXPLAIN_OCL_OPS_HPP

#include "precomp.hpp"
#include <opencv2/core/ocl.hpp>

namespace cv {
namespace explain {

/** A rows x (total / rows) view of a continuous UMat of any dimensionality (UMat::reshape(cn, rows)
    takes 2D UMats only). */
inline UMat as2D(const UMat& u, int rows)
{
    int sz[] = {rows, (int)(u.total() / rows)};
    return u.reshape(1, 2, sz);
}

/** Product of the dimensions [begin, end) of a UMat (end < 0: up to the last). */
inline size_t totalOf(const UMat& u, int begin, int end = -1)
{
    size_t t = 1;
    for (int i = begin; i < (end < 0 ? u.dims : end); i++)
        t *= u.size[i];
    return t;
}

/** The kernel `name` of `source` built with `buildOptions` (e.g. "-D NAME=value") for the current device;
    one that does not compile is a cv::Exception naming the kernel and the device, never an empty kernel
    that would make the caller fall back. */
ocl::Kernel compileKernel(const char* name, const ocl::ProgramSource& source, const String& buildOptions = String());

/** cv::ocl::useOpenCL(), counted: its first call loads the OpenCL runtime (tens of MB), so the CPU
    path must never ask (test CPU.ExplainingNeverAsksForOpenCL). */
bool openclInUse();
size_t openclQueries();

/** Whether the T-API path should run: OpenCL is activated and the data is a UMat. */
bool useOpenCLFor(InputArray data);

namespace detail { struct CamMethodSpec; }

/** Maps (N x HW rows, after the ReLU) of a CAM method with an OpenCL snippet (CamMethodSpec::oclName)
    from N x K x H x W activations and gradients; false for the other methods. */
bool ocl_camMaps(const detail::CamMethodSpec& spec, const UMat& activations, const UMat& gradients, UMat& maps);

/** Backward of ReLU/LeakyReLU (lo = 0, hi = +inf, slope) and ReLU6/Clip (lo, hi, slope = 0). */
bool ocl_rectifierBackward(const UMat& x, const UMat& r, UMat& dx, float lo, float hi, float slope,
                           RectifierMode mode);

/** Convolution's col2im on the device: cols ((channels kh kw) x (outH outW)) -> dx (channels x inH x inW). */
bool ocl_col2im(const UMat& cols, UMat& dx, int channels, int inH, int inW, int outH, int outW, int kh, int kw,
                int sh, int sw, int ph, int pw, int dh, int dw);

/** Depthwise convolution backward: dy (planes x outH x outW) -> dx (planes x inH x inW), planes = images x
    channels, with one kh x kw filter per channel in `weights` (channels x kh kw). */
bool ocl_depthwiseConvBackward(const UMat& dy, const UMat& weights, UMat& dx, int planes, int channels, int inH,
                               int inW, int outH, int outW, int kh, int kw, int sh, int sw, int ph, int pw, int dh,
                               int dw);

/** Slice backward for one output: dx (of shape inShape) gets r in the region `ranges` (Range::all() for
    whole axes), added to dx's values when `accumulate`, otherwise zero outside the region. False when the
    region does not fold into 4 dimensions. */
bool ocl_sliceBackward(const UMat& r, UMat& dx, const MatShape& inShape, const std::vector<Range>& ranges,
                       bool accumulate);

/** dst (of dstShape, at most 6 axes) gathered from the continuous src: dst[idx] = src[base + sum_d idx_d *
    srcStrides[d]] (Permute and Padding backward). */
bool ocl_stridedGather(const UMat& src, UMat& dst, const MatShape& dstShape, const std::vector<int>& srcStrides,
                       int base);

/** Pooling backward (max or average) for inputs of inShape, N x C x inH x inW (dx gets inShape). The input x
    is read for max pooling only (average pooling may pass an empty one). */
bool ocl_poolingBackward(const UMat& x, const UMat& dy, UMat& dx, const std::vector<int>& inShape, int inH, int inW,
                         int outH, int outW, int kh, int kw, int sh, int sw, int pt, int pl, int pb, int pr, bool isMax,
                         bool paddedArea);

/** dx = dy * scale[channel] for N x C x ... blobs. */
bool ocl_channelScale(const UMat& dy, const UMat& scale, UMat& dx, int channels);

/** dx = dy * scale[c] for outer x count x inner blobs (scale of `count` values). */
bool ocl_broadcastScale(const UMat& dy, const UMat& scale, UMat& dx, int count, int inner);

/** dw (1 x count) = sum over the outer and inner positions of r * x, or of r alone when x is empty, for
    outer x count x inner blobs: the gradient of a broadcast weight (or bias). */
bool ocl_broadcastWeightGrad(const UMat& r, const UMat& x, UMat& dw, int outer, int count, int inner);

/** Softmax (or LogSoftmax) backward along the middle axis of outer x count x inner blobs, from the output y. */
bool ocl_softmaxBackward(const UMat& y, const UMat& r, UMat& dx, int outer, int count, int inner, bool logSoftmax);

/** Resize backward dX = Rh^T dY Rw per plane, for dy (planes x outH x outW) and the out x in
    interpolation matrices rh (outH x inH) and rw (outW x inW); dx is planes x (inH inW). */
bool ocl_resizeBackward(const UMat& dy, const UMat& rh, const UMat& rw, UMat& dx, int planes);

/** C = A B for 2D float32 UMats (row ranges allowed): A is M x K, B is K x N; C is created M x N unless
    it already has that size (then it is written in place, e.g. a row range of a larger UMat). */
bool ocl_gemm(const UMat& a, const UMat& b, UMat& c);

/** Host <-> device copies made by the backward engine and the maps since the process started: a
    diagnostic for tests, e.g. that a Grad-CAM on DNN_TARGET_OPENCL keeps its data on the device (only
    the class seed goes up). */
size_t hostRoundTrips();
void countHostRoundTrip(size_t n = 1);

}} // namespace cv::explain

#endif
