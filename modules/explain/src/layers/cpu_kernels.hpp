// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// The hot single-threaded loops of the backward rules: float GEMMs (Eigen: far faster than cv::gemm
// on Debian's reference BLAS) and the depthwise convolution backward. AVX-512 and AVX2+FMA builds of the
// same code are chosen at run time where the CPU has them, so the library still runs on baseline x86-64.
#ifndef OPENCV_EXPLAIN_CPU_KERNELS_HPP
#define OPENCV_EXPLAIN_CPU_KERNELS_HPP

#include <vector>

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

/** dX (written, not accumulated) = the input gradient of `planes` consecutive depthwise channels: plane p
    of dY (outH x outW, planes one after another) through its kh x kw kernel w + p kh kw into plane p of dX. */
void depthwiseBackwardPlanes(const float* dy, const float* w, float* dx, const ConvPlaneGeometry& g, int planes);

/** One build of the kernels above. */
struct CpuKernelSet
{
    const char* name;  // "avx512", "avx2" or "baseline"
    void (*gemmAtB)(const float* a, int lda, const float* b, int ldb, float* c, int ldc, int m, int n, int k);
    void (*gemmAB)(const float* a, int lda, const float* b, int ldb, float* c, int ldc, int m, int n, int k);
    void (*depthwiseBackwardPlanes)(const float* dy, const float* w, float* dx, const ConvPlaneGeometry& g,
                                    int planes);
};

/** The builds this library has and this CPU runs, fastest first; the functions above call the first. */
const std::vector<CpuKernelSet>& cpuKernelSets();

}} // namespace cv::explain

#endif
