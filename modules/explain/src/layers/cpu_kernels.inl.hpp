// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// The CPU kernels, compiled once per instruction set into namespace EXPLAIN_KERNELS_NAMESPACE.
#include "cpu_kernels.hpp"
#include <Eigen/Core>
#include <algorithm>
#include <vector>

namespace cv {
namespace explain {
namespace EXPLAIN_KERNELS_NAMESPACE {

typedef Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> RowMatrix;
typedef Eigen::Map<const RowMatrix, 0, Eigen::OuterStride<> > ConstMap;
typedef Eigen::Map<RowMatrix, 0, Eigen::OuterStride<> > MutableMap;

void gemmAtB(const float* a, int lda, const float* b, int ldb, float* c, int ldc, int m, int n, int k)
{
    MutableMap(c, m, n, Eigen::OuterStride<>(ldc)).noalias() =
        ConstMap(a, k, m, Eigen::OuterStride<>(lda)).transpose() * ConstMap(b, k, n, Eigen::OuterStride<>(ldb));
}

void gemmAB(const float* a, int lda, const float* b, int ldb, float* c, int ldc, int m, int n, int k)
{
    MutableMap(c, m, n, Eigen::OuterStride<>(ldc)).noalias() =
        ConstMap(a, m, k, Eigen::OuterStride<>(lda)) * ConstMap(b, k, n, Eigen::OuterStride<>(ldb));
}

/** The outputs o in [begin, end) whose tap at offset `off` reads an input inside [0, size):
    0 <= o * stride + off < size. (As in convolution_layers.cpp: code here must not share inline
    functions with the baseline units, or the linker could keep the AVX2 copy for both.) */
static inline void validRange(int off, int stride, int size, int outSize, int& begin, int& end)
{
    begin = off >= 0 ? 0 : (-off + stride - 1) / stride;
    end = size - off <= 0 ? 0 : std::min(outSize, (size - off + stride - 1) / stride);
    if (end < begin)
        end = begin;
}

/** dst[o] += scale * src[o] for o in [begin, end): the one loop every tap runs, vectorized. */
static inline void addScaled(float* __restrict dst, const float* __restrict src, float scale, int begin, int end)
{
    for (int o = begin; o < end; o++)
        dst[o] += scale * src[o];
}

/** dst[i] += w[0] src[i - off[0]] + w[1] src[i - off[1]] + w[2] src[i - off[2]] for i in [begin, end):
    three taps of a row in one pass over dst. */
static inline void addScaled3(float* __restrict dst, const float* __restrict src, const float* w, const int* off,
                              int begin, int end)
{
    const float w0 = w[0], w1 = w[1], w2 = w[2];
    const float *s0 = src - off[0], *s1 = src - off[1], *s2 = src - off[2];
    for (int i = begin; i < end; i++)
        dst[i] += w0 * s0[i] + w1 * s1[i] + w2 * s2[i];
}

/** One output row src (of dY) added to the dX row acc through the kw taps of one kernel row, stride 1:
    tap kx adds w[kx] src[o] to acc[o + off[kx]] for o in [range[2kx], range[2kx+1]). Where every tap
    is valid (the row's interior), taps go three at a time; the edges, one at a time. */
static void addRowTapsStride1(float* acc, const float* src, const float* w, const int* off, const int* range, int kw,
                              int inW)
{
    int lo = 0, hi = inW;  // the interior, in dX positions
    for (int kx = 0; kx < kw; kx++)
    {
        lo = std::max(lo, range[2 * kx] + off[kx]);
        hi = std::min(hi, range[2 * kx + 1] + off[kx]);
    }
    hi = std::max(hi, lo);
    int kx = 0;
    for (; kx + 3 <= kw; kx += 3)
        addScaled3(acc, src, w + kx, off + kx, lo, hi);
    for (; kx < kw; kx++)
        addScaled(acc + off[kx], src, w[kx], lo - off[kx], hi - off[kx]);
    for (kx = 0; kx < kw; kx++)  // the edges: each tap's range left and right of the interior
    {
        addScaled(acc + off[kx], src, w[kx], range[2 * kx], std::min(range[2 * kx + 1], lo - off[kx]));
        addScaled(acc + off[kx], src, w[kx], std::max(range[2 * kx], hi - off[kx]), range[2 * kx + 1]);
    }
}

// Row by row of dX: each input row gathers the output rows that read it (at most kh), each shifted
// by its kw taps, so the row stays in L1; the taps' valid ranges are computed once per plane.
// With stride 1, the taps of a kernel row go through the row together (addRowTapsStride1).
// With stride s > 1, tap kx writes every s-th input position (o * s + off), which does not vectorize:
// the row is split into s phases (positions p, p + s, ...), each tap adds to one phase contiguously,
// and the phases are interleaved into the row once at the end.
void depthwiseBackwardPlane(const float* dy, const float* w, float* dx, const ConvPlaneGeometry& g)
{
    enum { maxTaps = 16 };
    int range[2 * maxTaps], offset[maxTaps];
    const int taps = std::min(g.kw, (int)maxTaps);
    for (int kx = 0; kx < taps; kx++)
    {
        offset[kx] = kx * g.dw - g.pw;
        validRange(offset[kx], g.sw, g.inW, g.outW, range[2 * kx], range[2 * kx + 1]);
    }
    const bool rowTaps = g.sw == 1 && g.kw <= maxTaps;
    const int phaseLen = (g.inW + g.sw - 1) / g.sw;
    std::vector<float> phases(g.sw > 1 ? (size_t)g.sw * phaseLen : 0);
    for (int iy = 0; iy < g.inH; iy++)
    {
        float* row = dx + (size_t)iy * g.inW;
        // dX needs no zeros beforehand: each row starts here, in cache
        float* acc = g.sw == 1 ? row : phases.data();
        std::fill_n(acc, g.sw == 1 ? g.inW : (int)phases.size(), 0.f);
        for (int ky = 0; ky < g.kh; ky++)
        {
            const int ty = iy + g.ph - ky * g.dh;  // = oy * stride for the output row oy that reads iy
            if (ty < 0 || ty % g.sh != 0 || ty / g.sh >= g.outH)
                continue;
            const float* src = dy + (size_t)(ty / g.sh) * g.outW;
            if (rowTaps)
            {
                addRowTapsStride1(acc, src, w + ky * g.kw, offset, range, g.kw, g.inW);
                continue;
            }
            for (int kx = 0; kx < g.kw; kx++)
            {
                const int off = kx * g.dw - g.pw;
                int begin, end;
                if (kx < taps)
                    begin = range[2 * kx], end = range[2 * kx + 1];
                else
                    validRange(off, g.sw, g.inW, g.outW, begin, end);
                // input position o * sw + off = (o + q) * sw + phase
                const int phase = ((off % g.sw) + g.sw) % g.sw, q = (off - phase) / g.sw;
                addScaled(acc + (size_t)phase * phaseLen + q, src, w[ky * g.kw + kx], begin, end);
            }
        }
        if (g.sw > 1)
            for (int p = 0; p < g.sw; p++)
                for (int j = 0; j * g.sw + p < g.inW; j++)
                    row[j * g.sw + p] = acc[(size_t)p * phaseLen + j];
    }
}

}}} // namespace cv::explain::EXPLAIN_KERNELS_NAMESPACE
