// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// Baseline CPU kernels and the run-time choice of the AVX2+FMA build.
#include "cpu_kernels.hpp"
#include <opencv2/core/utility.hpp>

#define EXPLAIN_KERNELS_NAMESPACE baseline
#include "cpu_kernels.inl.hpp"

namespace cv {
namespace explain {

#ifdef EXPLAIN_HAVE_AVX2_KERNELS
namespace avx2 {
void gemmAtB(const float* a, int lda, const float* b, int ldb, float* c, int ldc, int m, int n, int k);
void gemmAB(const float* a, int lda, const float* b, int ldb, float* c, int ldc, int m, int n, int k);
void depthwiseBackwardPlane(const float* dy, const float* w, float* dx, const ConvPlaneGeometry& g);
}
static const bool useAVX2 = checkHardwareSupport(CV_CPU_AVX2) && checkHardwareSupport(CV_CPU_FMA3);
#else
static const bool useAVX2 = false;
#endif

void gemmAtB(const float* a, int lda, const float* b, int ldb, float* c, int ldc, int m, int n, int k)
{
#ifdef EXPLAIN_HAVE_AVX2_KERNELS
    if (useAVX2)
        return avx2::gemmAtB(a, lda, b, ldb, c, ldc, m, n, k);
#endif
    baseline::gemmAtB(a, lda, b, ldb, c, ldc, m, n, k);
}

void gemmAB(const float* a, int lda, const float* b, int ldb, float* c, int ldc, int m, int n, int k)
{
#ifdef EXPLAIN_HAVE_AVX2_KERNELS
    if (useAVX2)
        return avx2::gemmAB(a, lda, b, ldb, c, ldc, m, n, k);
#endif
    baseline::gemmAB(a, lda, b, ldb, c, ldc, m, n, k);
}

void depthwiseBackwardPlane(const float* dy, const float* w, float* dx, const ConvPlaneGeometry& g)
{
#ifdef EXPLAIN_HAVE_AVX2_KERNELS
    if (useAVX2)
        return avx2::depthwiseBackwardPlane(dy, w, dx, g);
#endif
    baseline::depthwiseBackwardPlane(dy, w, dx, g);
}

const char* gemmKernelName()
{
    return useAVX2 ? "avx2" : "baseline";
}

}} // namespace cv::explain
