// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// The input gradient of a 3x3 stride-1 convolution is a 3x3 correlation of dY with the weights flipped
// (and input and output channels swapped). Winograd's F(m x m, 3 x 3) computes each m x m tile of dX from an
// a x a tile of dY (a = m + 2) with a*a multiplications per channel pair instead of 9 m^2:
//   dX tile = A^T [ sum over output channels of (G g G^T) .* (B^T d B) ] A,
// where the sum is one GEMM per element of the a x a transformed tile. Matrices of Lavin and Gray,
// "Fast Algorithms for Convolutional Neural Networks" (2016).
#include "conv_winograd.hpp"
#include "cpu_kernels.hpp"
#include <opencv2/core/utility.hpp>
#include <algorithm>
#include <memory>
#include <vector>

namespace cv {
namespace explain {

namespace {

/** F(2x2, 3x3): dX tiles of 2x2 from dY tiles of 4x4; 2.25x fewer multiplications. */
struct F23
{
    enum { m = 2, a = 4 };
    static const float BT[a][a], G[a][3], AT[m][a];
};
const float F23::BT[a][a] = {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}};
const float F23::G[a][3] = {{1, 0, 0}, {0.5f, 0.5f, 0.5f}, {0.5f, -0.5f, 0.5f}, {0, 0, 1}};
const float F23::AT[m][a] = {{1, 1, 1, 0}, {0, 1, -1, -1}};

/** F(4x4, 3x3): dX tiles of 4x4 from dY tiles of 6x6; 4x fewer multiplications, but 36 transformed
    weights per channel pair instead of 16, so it pays on larger planes only. */
struct F43
{
    enum { m = 4, a = 6 };
    static const float BT[a][a], G[a][3], AT[m][a];
};
const float F43::BT[a][a] = {{4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
                             {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
const float F43::G[a][3] = {{1.f / 4, 0, 0},
                            {-1.f / 6, -1.f / 6, -1.f / 6},
                            {-1.f / 6, 1.f / 6, -1.f / 6},
                            {1.f / 24, 1.f / 12, 1.f / 6},
                            {1.f / 24, -1.f / 12, 1.f / 6},
                            {0, 0, 1}};
const float F43::AT[m][a] = {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};

template <class F>
struct Transforms
{
    enum { m = F::m, a = F::a };

    /** u = G g G^T of the 3x3 kernel w flipped in both axes (the backward pass correlates with it); the
        a*a results go to u[k * planeStep]. */
    static void filter(const float* w, float* u, size_t planeStep)
    {
        float t[a][3];
        for (int i = 0; i < a; i++)
            for (int c = 0; c < 3; c++)
            {
                float s = 0;
                for (int k = 0; k < 3; k++)
                    s += F::G[i][k] * w[(2 - k) * 3 + (2 - c)];
                t[i][c] = s;
            }
        for (int i = 0; i < a; i++)
            for (int j = 0; j < a; j++)
            {
                float s = 0;
                for (int k = 0; k < 3; k++)
                    s += t[i][k] * F::G[j][k];
                u[(i * a + j) * planeStep] = s;
            }
    }

    /** v = B^T d B of the a x a tile d (rows rowStep apart); the a*a results go to v[k * planeStep]. */
    static void input(const float* d, size_t rowStep, float* v, size_t planeStep)
    {
        float t[a][a];
        for (int i = 0; i < a; i++)
            for (int j = 0; j < a; j++)
            {
                float s = 0;
                for (int k = 0; k < a; k++)
                    s += F::BT[i][k] * d[k * rowStep + j];
                t[i][j] = s;
            }
        for (int i = 0; i < a; i++)
            for (int j = 0; j < a; j++)
            {
                float s = 0;
                for (int k = 0; k < a; k++)
                    s += t[i][k] * F::BT[j][k];
                v[(i * a + j) * planeStep] = s;
            }
    }

    /** y = A^T x A of the a x a tile x read from x[k * planeStep]. */
    static void output(const float* x, size_t planeStep, float y[m][m])
    {
        float t[m][a];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < a; j++)
            {
                float s = 0;
                for (int k = 0; k < a; k++)
                    s += F::AT[i][k] * x[(k * a + j) * planeStep];
                t[i][j] = s;
            }
        for (int i = 0; i < m; i++)
            for (int j = 0; j < m; j++)
            {
                float s = 0;
                for (int k = 0; k < a; k++)
                    s += t[i][k] * F::AT[j][k];
                y[i][j] = s;
            }
    }
};

template <class F>
class WinogradBackward
{
    enum { m = F::m, a = F::a, planes = a * a };
    typedef Transforms<F> T;

public:
    explicit WinogradBackward(const Winograd3x3Shape& shape)
        : s(shape), tilesH((s.inH + m - 1) / m), tilesW((s.inW + m - 1) / m),
          tiles((size_t)s.images * tilesH * tilesW), uStep(planeStride((size_t)s.outC * s.inC)),
          vStep(planeStride(s.outC * tiles)), prodStep(planeStride(s.inC * tiles))
    {
    }

    void run(const float* dy, const float* w, float* dx) const
    {
        // transformed weights U (planes x outC x inC), dY tiles V (planes x outC x tiles), products
        // U^T V (planes x inC x tiles); uninitialized: every element is written before it is read
        std::unique_ptr<float[]> u(new float[planes * uStep]), v(new float[planes * vStep]);
        std::unique_ptr<float[]> prod(new float[planes * prodStep]);
        transformWeights(w, u.get());
        transformOutputGradient(dy, v.get());
        parallel_for_(Range(0, planes), [&](const Range& r) {
            for (int p = r.start; p < r.end; p++)
                gemmAtB(u.get() + p * uStep, s.inC, v.get() + p * vStep, (int)tiles, prod.get() + p * prodStep,
                        (int)tiles, s.inC, (int)tiles, s.outC);
        });
        writeInputGradient(prod.get(), dx);
    }

private:
    void transformWeights(const float* w, float* u) const
    {
        parallel_for_(Range(0, s.outC), [&](const Range& r) {
            for (int co = r.start; co < r.end; co++)
                for (int ci = 0; ci < s.inC; ci++)
                    T::filter(w + co * s.weightRowStep + ci * 9, u + (size_t)co * s.inC + ci, uStep);
        });
    }

    /** Each channel of dY is copied into a zero-padded plane that holds every tile whole, so that the
        transform reads no element outside it: padded row r is dY row r + ph - 2 (the flipped kernel's reach). */
    void transformOutputGradient(const float* dy, float* v) const
    {
        const int rows = tilesH * m + 2, cols = tilesW * m + 2;
        parallel_for_(Range(0, s.outC), [&](const Range& r) {
            std::vector<float> padded((size_t)rows * cols);
            for (int co = r.start; co < r.end; co++)
                for (int img = 0; img < s.images; img++)
                {
                    pad(dy + img * s.dyImageStep + (size_t)co * s.outH * s.outW, padded.data(), rows, cols);
                    float* dst = v + (size_t)co * tiles + (size_t)img * tilesH * tilesW;
                    for (int ty = 0; ty < tilesH; ty++)
                        for (int tx = 0; tx < tilesW; tx++)
                            T::input(padded.data() + (size_t)ty * m * cols + tx * m, cols,
                                     dst + (size_t)ty * tilesW + tx, vStep);
                }
        });
    }

    void pad(const float* plane, float* padded, int rows, int cols) const
    {
        const int rowOffset = s.ph - 2, colOffset = s.pw - 2;
        // the columns c with 0 <= c + colOffset < outW
        const int c0 = std::max(0, -colOffset), c1 = std::max(c0, std::min(cols, s.outW - colOffset));
        for (int r = 0; r < rows; r++)
        {
            float* dst = padded + (size_t)r * cols;
            const int y = r + rowOffset;
            if (y < 0 || y >= s.outH)
            {
                std::fill(dst, dst + cols, 0.f);
                continue;
            }
            std::fill(dst, dst + c0, 0.f);
            std::copy(plane + (size_t)y * s.outW + c0 + colOffset, plane + (size_t)y * s.outW + c1 + colOffset,
                      dst + c0);
            std::fill(dst + c1, dst + cols, 0.f);
        }
    }

    void writeInputGradient(const float* prod, float* dx) const
    {
        parallel_for_(Range(0, s.inC), [&](const Range& r) {
            float y[m][m];
            for (int ci = r.start; ci < r.end; ci++)
                for (int img = 0; img < s.images; img++)
                {
                    const float* src = prod + (size_t)ci * tiles + (size_t)img * tilesH * tilesW;
                    float* plane = dx + img * s.dxImageStep + (size_t)ci * s.inH * s.inW;
                    for (int ty = 0; ty < tilesH; ty++)
                        for (int tx = 0; tx < tilesW; tx++)
                        {
                            T::output(src + (size_t)ty * tilesW + tx, prodStep, y);
                            const int rows = std::min((int)m, s.inH - ty * m), cols = std::min((int)m, s.inW - tx * m);
                            for (int i = 0; i < rows; i++)
                                for (int j = 0; j < cols; j++)
                                    plane[(size_t)(ty * m + i) * s.inW + tx * m + j] = y[i][j];
                        }
                }
        });
    }

    /** Floats between two planes of a transformed buffer: a multiple of 16 (64-byte rows) that is not a
        multiple of 4 KiB. A transform writes one element to every plane in turn, and plane strides of a
        power of two would map all of them to one cache set. */
    static size_t planeStride(size_t size)
    {
        return (size + 15) / 16 * 16 + 16;
    }

    const Winograd3x3Shape s;
    const int tilesH, tilesW;
    const size_t tiles, uStep, vStep, prodStep;
};

} // namespace

// The thresholds come from timing each path on ResNet-50's 3x3 shapes at batch 1 to 8, one thread: the
// weight transform costs the same whatever the plane size, so the GEMMs it saves must cover enough
// pixels (at 7x7 and 14x14 per image, W^T dY and col2im stay faster; at 28x28 and above, F(2x2) or
// F(4x4) is about 2-3x faster).
static const int kWinogradMinPixels = 256, kF43MinPixels = 1024;

bool winogradPays(int inC, int outC, int pixels)
{
    return inC >= 16 && outC >= 16 && pixels >= kWinogradMinPixels;
}

void winogradConvBackward3x3(const float* dy, const float* w, float* dx, const Winograd3x3Shape& s)
{
    if ((size_t)s.images * s.inH * s.inW >= (size_t)kF43MinPixels)
        WinogradBackward<F43>(s).run(dy, w, dx);
    else
        WinogradBackward<F23>(s).run(dy, w, dx);
}

}} // namespace cv::explain
