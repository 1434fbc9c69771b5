// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// Every build of the CPU kernels this CPU runs (AVX-512, AVX2+FMA, baseline), each against the
// definition: the rules use only the fastest one, so the others are tested here directly.
#include "test_common.hpp"
#include "../src/layers/cpu_kernels.hpp"

namespace opencv_test {
namespace {

using cv::explain::ConvPlaneGeometry;
using cv::explain::CpuKernelSet;

/** C = op(A) B in double, A and B row-major with row strides lda and ldb; op(A) = A^T when transposeA. */
Mat gemmByDefinition(const Mat& a, const Mat& b, int m, int n, int k, bool transposeA)
{
    Mat c = Mat::zeros(m, n, CV_64F);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++)
            for (int p = 0; p < k; p++)
                c.at<double>(i, j) += (double)(transposeA ? a.at<float>(p, i) : a.at<float>(i, p)) * b.at<float>(p, j);
    return c;
}

TEST(CpuKernels, EveryBuildRunsAndTheFastestComesFirst)
{
    const std::vector<CpuKernelSet>& sets = cv::explain::cpuKernelSets();
    ASSERT_FALSE(sets.empty());
    EXPECT_STREQ(sets.back().name, "baseline");
    if (checkHardwareSupport(CV_CPU_AVX512_SKX) && std::string(sets.front().name) != "baseline")
        EXPECT_STREQ(sets.front().name, "avx512");
}

/** Both GEMMs on sizes around the kernels' register blocks (24/48 rows, 4-16 columns), on submatrices
    (row strides larger than the width), against the definition in double. */
TEST(CpuKernels, GemmsMatchTheDefinition)
{
    RNG rng(211);
    const int sizes[][3] = {{1, 1, 1}, {3, 5, 7}, {24, 4, 16}, {49, 17, 33}, {48, 64, 9}, {97, 31, 130}};
    for (const CpuKernelSet& set : cv::explain::cpuKernelSets())
        for (const auto& size : sizes)
            for (int transposeA = 0; transposeA < 2; transposeA++)
            {
                const int m = size[0], n = size[1], k = size[2], pad = rng.uniform(0, 5);
                SCOPED_TRACE(cv::format("%s %s m %d n %d k %d", set.name, transposeA ? "A^T B" : "A B", m, n, k));
                const Mat aFull = randomBlob({(transposeA ? k : m), (transposeA ? m : k) + pad}, rng);
                const Mat bFull = randomBlob({k, n + pad}, rng);
                const Mat a = aFull.colRange(0, transposeA ? m : k), b = bFull.colRange(0, n);
                Mat c(m, n + pad, CV_32F, Scalar(7.f));
                auto gemm = transposeA ? set.gemmAtB : set.gemmAB;
                gemm(a.ptr<float>(), (int)a.step1(), b.ptr<float>(), (int)b.step1(), c.ptr<float>(), (int)c.step1(), m,
                     n, k);
                Mat c64;
                c.colRange(0, n).convertTo(c64, CV_64F);
                const Mat expected = gemmByDefinition(a, b, m, n, k, transposeA != 0);
                EXPECT_LE(cv::norm(c64, expected, NORM_INF), 1e-5 * (k + 1));
                if (pad > 0)  // the columns past n are not written
                    EXPECT_EQ(cv::norm(c.colRange(n, n + pad), Mat(m, pad, CV_32F, Scalar(7.f)), NORM_INF), 0.0);
            }
}

/** The depthwise backward of three consecutive planes (one call: buffers set up once, reused), every
    build, against the definition: strides 1-3, dilations, pads, kernels up to 5x5, widths to 40. */
TEST(CpuKernels, DepthwiseBackwardMatchesTheDefinition)
{
    RNG rng(223);
    const int planes = 3;
    for (const CpuKernelSet& set : cv::explain::cpuKernelSets())
        for (int iter = 0; iter < 16; iter++)
        {
            ConvPlaneGeometry g;
            g.kh = rng.uniform(1, 6), g.kw = rng.uniform(1, 6), g.sh = rng.uniform(1, 4), g.sw = rng.uniform(1, 4);
            g.dh = rng.uniform(1, 3), g.dw = rng.uniform(1, 3), g.ph = rng.uniform(0, g.kh), g.pw = rng.uniform(0, g.kw);
            g.inH = rng.uniform((g.kh - 1) * g.dh + 1, 14), g.inW = rng.uniform((g.kw - 1) * g.dw + 1, 40);
            g.outH = (g.inH + 2 * g.ph - (g.kh - 1) * g.dh - 1) / g.sh + 1;
            g.outW = (g.inW + 2 * g.pw - (g.kw - 1) * g.dw - 1) / g.sw + 1;
            SCOPED_TRACE(cv::format("%s iter %d k %dx%d stride %d,%d dilation %d,%d pads %d,%d input %dx%d", set.name,
                                    iter, g.kh, g.kw, g.sh, g.sw, g.dh, g.dw, g.ph, g.pw, g.inH, g.inW));
            const Mat dy = randomBlob({planes, g.outH, g.outW}, rng), w = randomBlob({planes, g.kh, g.kw}, rng);
            Mat dx({planes, g.inH, g.inW}, CV_32F, Scalar(7.f)), expected = Mat::zeros(3, dx.size.p, CV_64F);
            set.depthwiseBackwardPlanes(dy.ptr<float>(), w.ptr<float>(), dx.ptr<float>(), g, planes);
            for (int p = 0; p < planes; p++)
                for (int oy = 0; oy < g.outH; oy++)
                    for (int ox = 0; ox < g.outW; ox++)
                        for (int ky = 0; ky < g.kh; ky++)
                            for (int kx = 0; kx < g.kw; kx++)
                            {
                                const int iy = oy * g.sh - g.ph + ky * g.dh, ix = ox * g.sw - g.pw + kx * g.dw;
                                if (iy >= 0 && iy < g.inH && ix >= 0 && ix < g.inW)
                                    expected.at<double>(p, iy, ix) +=
                                        (double)dy.at<float>(p, oy, ox) * w.at<float>(p, ky, kx);
                            }
            Mat dx64;
            dx.convertTo(dx64, CV_64F);
            EXPECT_LE(cv::norm(dx64, expected, NORM_INF), 1e-5);
        }
}

}} // namespace opencv_test::<anonymous>
