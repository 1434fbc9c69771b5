// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// The hot single-threaded loops of the backward rules: float GEMMs (Eigen: far faster than cv::gemm
// on Debian's reference BLAS) and the depthwise convolution backward. An AVX2+FMA build of the same
// code is chosen at run time where the CPU has it, so the library still runs on baseline x86-64.
#ifndef OPENCV_EXPLAIN_CPU_KERNELS_HPP
#define OPENCV_EXPLAIN_CPU_KERNELS_HPP

namespace cv {
namespace explain {

/** C (m x n) = A^T B, with A k x m and B k x n; all row-major with the given row strides. */
void gemmAtB(const float* a, int lda, const float* b, int ldb, float* c, int ldc, int m, int n, int k);

/** C (m x n) = A B, with A m x k and B k x n; all row-major with the given row strides. */
void gemmAB(const float* a, int lda, const float* b, int ldb, float* c, int ldc, int m, int n, int k);

/** Geometry of one 2D convolution plane. */
struct ConvPlaneGeometry
{
    int inH, inW, outH, outW;
    int kh, kw, sh, sw, dh, dw, ph, pw;
};

/** dX (written, not accumulated) = the input gradient of one depthwise channel: dY (outH x outW)
    through its kh x kw kernel w. */
void depthwiseBackwardPlane(const float* dy, const float* w, float* dx, const ConvPlaneGeometry& g);

/** "avx2" or "baseline": the kernels in use. */
const char* gemmKernelName();

}} // namespace cv::explain

#endif
