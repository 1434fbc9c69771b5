// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// Baseline CPU kernels and the run-time choice among the AVX-512, AVX2+FMA and baseline builds.
#include "cpu_kernels.hpp"
#include <opencv2/core/utility.hpp>

#define EXPLAIN_KERNELS_NAMESPACE baseline
#include "cpu_kernels.inl.hpp"

namespace cv {
namespace explain {

#define EXPLAIN_DECLARE_KERNELS(ns)                                                                                 \
    namespace ns {                                                                                                  \
    void gemmAtB(const float* a, int lda, const float* b, int ldb, float* c, int ldc, int m, int n, int k);        \
    void gemmAB(const float* a, int lda, const float* b, int ldb, float* c, int ldc, int m, int n, int k);         \
    void depthwiseBackwardPlanes(const float* dy, const float* w, float* dx, const ConvPlaneGeometry& g,         \
                                 int planes);                                                                   \
    }
#ifdef EXPLAIN_HAVE_X86_KERNELS
EXPLAIN_DECLARE_KERNELS(avx512)
EXPLAIN_DECLARE_KERNELS(avx2)
#endif

static std::vector<CpuKernelSet> supportedSets()
{
    std::vector<CpuKernelSet> sets;
#ifdef EXPLAIN_HAVE_X86_KERNELS
    if (checkHardwareSupport(CV_CPU_AVX512_SKX))
        sets.push_back({"avx512", avx512::gemmAtB, avx512::gemmAB, avx512::depthwiseBackwardPlanes});
    if (checkHardwareSupport(CV_CPU_AVX2) && checkHardwareSupport(CV_CPU_FMA3))
        sets.push_back({"avx2", avx2::gemmAtB, avx2::gemmAB, avx2::depthwiseBackwardPlanes});
#endif
    sets.push_back({"baseline", baseline::gemmAtB, baseline::gemmAB, baseline::depthwiseBackwardPlanes});
    return sets;
}

const std::vector<CpuKernelSet>& cpuKernelSets()
{
    static const std::vector<CpuKernelSet> sets = supportedSets();
    return sets;
}

static const CpuKernelSet& fastest()
{
    return cpuKernelSets().front();
}

void gemmAtB(const float* a, int lda, const float* b, int ldb, float* c, int ldc, int m, int n, int k)
{
    fastest().gemmAtB(a, lda, b, ldb, c, ldc, m, n, k);
}

void gemmAB(const float* a, int lda, const float* b, int ldb, float* c, int ldc, int m, int n, int k)
{
    fastest().gemmAB(a, lda, b, ldb, c, ldc, m, n, k);
}

void depthwiseBackwardPlanes(const float* dy, const float* w, float* dx, const ConvPlaneGeometry& g, int planes)
{
    fastest().depthwiseBackwardPlanes(dy, w, dx, g, planes);
}

}} // namespace cv::explain
