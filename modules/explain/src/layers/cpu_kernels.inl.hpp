// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// The CPU kernels, compiled once per instruction set into namespace EXPLAIN_KERNELS_NAMESPACE.
#include "cpu_kernels.hpp"
#include <Eigen/Core>
#include <algorithm>
#include <memory>
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

/** dst[i] (+)= w[0] src[i + off[0]] + w[1] src[i + off[1]] + w[2] src[i + off[2]] for i in [0, n): three
    taps in one pass over dst; the first pass assigns. */
static inline void addTaps3(float* __restrict dst, const float* __restrict src, const float* w, const int* off, int n,
                            bool assign)
{
    const float w0 = w[0], w1 = w[1], w2 = w[2];
    const float *s0 = src + off[0], *s1 = src + off[1], *s2 = src + off[2];
    if (assign)
        for (int i = 0; i < n; i++)
            dst[i] = w0 * s0[i] + w1 * s1[i] + w2 * s2[i];
    else
        for (int i = 0; i < n; i++)
            dst[i] += w0 * s0[i] + w1 * s1[i] + w2 * s2[i];
}

/** a / b rounded down, and whether it is exact (b > 0). (As validRange in convolution_layers.cpp, code here
    must not share inline functions with the baseline units, or the linker could keep one copy for all.) */
static inline int floorDiv(int a, int b, bool& exact)
{
    const int q = a >= 0 ? a / b : -((-a + b - 1) / b);
    exact = q * b == a;
    return q;
}

/** A depthwise tap that reaches a phase of dX: it reads dY shifted by (qy, qx); k is its index in the
    kernel, k < 0 a zero-weight tap that completes a group of three. */
struct DepthwiseTap
{
    int qy, qx, k;
};

/** One phase (py, px) of a depthwise plane (see depthwiseBackwardPlanes): the taps' stencil over the
    padded dY, in blocks that stay in L1, then the phase's rows and columns written into dX. */
static void depthwisePhase(const float* padded, const std::vector<DepthwiseTap>& taps, const std::vector<int>& off,
                           const float* w, float* wide, int wp, float* dx, int py, int px, const ConvPlaneGeometry& g)
{
    const int rows = (g.inH - py + g.sh - 1) / g.sh, cols = (g.inW - px + g.sw - 1) / g.sw, n = rows * wp;
    const int block = 2048;  // floats per pass of all the taps
    for (int i0 = 0; i0 < n; i0 += block)
        for (size_t t = 0; t < taps.size(); t += 3)
        {
            float tw[3];
            for (int j = 0; j < 3; j++)
                tw[j] = taps[t + j].k < 0 ? 0.f : w[taps[t + j].k];
            addTaps3(wide + i0, padded + i0, tw, &off[t], std::min(block, n - i0), t == 0);
        }
    for (int a = 0; a < rows; a++)
    {
        float* dst = dx + (size_t)(py + g.sh * a) * g.inW + px;
        const float* src = wide + (size_t)a * wp;
        for (int b = 0; b < cols; b++)
            dst[(size_t)b * g.sw] = src[b];
    }
}

// dX[iy][ix] = sum over the taps (ky, kx) with iy + ph - ky dh = oy sh and ix + pw - kx dw = ox sw of
// w[ky][kx] dY[oy][ox]. Split dX into its sh x sw phases (iy = py + sh a, ix = px + sw b): in a phase, the
// taps that reach it read dY[a + qy][b + qx] with a fixed shift (qy, qx) each, so the phase is a plain
// stencil over dY. dY is copied into a zero-padded plane of row length wp; each tap is then one shift
// of the flattened plane, and a phase is a flat loop over its rows of wp (columns past its width are
// computed and dropped): one long vector loop per three taps, however narrow the plane (a row by row
// loop spends its time in the remainders of short rows, 7 to 28 wide in MobileNet's later blocks).
// The phases, shifts and buffers are set up once for all the planes.
void depthwiseBackwardPlanes(const float* dy, const float* w, float* dx, const ConvPlaneGeometry& g, int planes)
{
    std::vector<std::vector<DepthwiseTap> > phaseTaps((size_t)g.sh * g.sw);
    int padT = 0, padL = 0, reachY = 0, reachX = 0;  // dY rows/columns the phases read before 0 and past their size
    for (int py = 0; py < g.sh; py++)
        for (int px = 0; px < g.sw; px++)
        {
            const int rows = (g.inH - py + g.sh - 1) / g.sh, cols = (g.inW - px + g.sw - 1) / g.sw;
            for (int ky = 0; ky < g.kh; ky++)
                for (int kx = 0; kx < g.kw; kx++)
                {
                    bool exactY, exactX;
                    const int qy = floorDiv(py + g.ph - ky * g.dh, g.sh, exactY);
                    const int qx = floorDiv(px + g.pw - kx * g.dw, g.sw, exactX);
                    if (!exactY || !exactX)
                        continue;
                    phaseTaps[(size_t)py * g.sw + px].push_back({qy, qx, ky * g.kw + kx});
                    padT = std::max(padT, -qy), padL = std::max(padL, -qx);
                    reachY = std::max(reachY, rows + qy), reachX = std::max(reachX, cols + qx);
                }
        }
    // +1 row: the flat loop over a phase's last row reads up to wp - 1 floats past it
    const int wp = padL + std::max(reachX, g.outW), hp = padT + std::max(reachY, g.outH) + 1;
    std::vector<std::vector<int> > phaseOffsets(phaseTaps.size());
    for (size_t p = 0; p < phaseTaps.size(); p++)
    {
        while (phaseTaps[p].empty() || phaseTaps[p].size() % 3)
            phaseTaps[p].push_back({-padT, -padL, -1});
        for (const DepthwiseTap& t : phaseTaps[p])
            phaseOffsets[p].push_back((t.qy + padT) * wp + t.qx + padL);
    }
    std::vector<float> padded((size_t)hp * wp, 0.f);  // the padding stays zero; each plane fills the rest
    std::unique_ptr<float[]> wide(new float[(size_t)((g.inH + g.sh - 1) / g.sh) * wp]);
    const size_t inPlane = (size_t)g.inH * g.inW, outPlane = (size_t)g.outH * g.outW, kk = (size_t)g.kh * g.kw;
    for (int plane = 0; plane < planes; plane++)
    {
        const float* src = dy + plane * outPlane;
        for (int oy = 0; oy < g.outH; oy++)
            std::copy(src + (size_t)oy * g.outW, src + (size_t)(oy + 1) * g.outW,
                      padded.data() + (size_t)(oy + padT) * wp + padL);
        for (int py = 0; py < g.sh; py++)
            for (int px = 0; px < g.sw; px++)
                depthwisePhase(padded.data(), phaseTaps[(size_t)py * g.sw + px], phaseOffsets[(size_t)py * g.sw + px],
                               w + plane * kk, wide.get(), wp, dx + plane * inPlane, py, px, g);
    }
}

}}} // namespace cv::explain::EXPLAIN_KERNELS_NAMESPACE
