// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// Backward rules on the device: convolution's col2im, pooling and per-channel scaling, written as
// gathers (each work item owns one input element), so that no atomics are needed.

// dx[c, iy, ix] = sum over taps (ky, kx) whose output position (oy, ox) exists of
// cols[(c * kh + ky) * kw + kx, oy * outW + ox], with iy = oy * sh - ph + ky * dh (same for x).
__kernel void col2im_gather(__global const float* cols, __global float* dx, int channels, int inH, int inW,
                            int outH, int outW, int kh, int kw, int sh, int sw, int ph, int pw, int dh, int dw)
{
    int i = get_global_id(0);
    if (i >= channels * inH * inW)
        return;
    int ix = i % inW, iy = (i / inW) % inH, c = i / (inW * inH);
    float s = 0.f;
    for (int ky = 0; ky < kh; ky++)
    {
        int ty = iy + ph - ky * dh;
        if (ty < 0 || ty % sh != 0)
            continue;
        int oy = ty / sh;
        if (oy >= outH)
            continue;
        for (int kx = 0; kx < kw; kx++)
        {
            int tx = ix + pw - kx * dw;
            if (tx < 0 || tx % sw != 0)
                continue;
            int ox = tx / sw;
            if (ox >= outW)
                continue;
            s += cols[(size_t)((c * kh + ky) * kw + kx) * outH * outW + oy * outW + ox];
        }
    }
    dx[i] = s;
}

// Pooling windows as in cv::dnn: start o * stride - padBegin, end min(start + kernel, in + padEnd),
// clipped to the input; max routes to the first maximum (row-major), average divides by the padded
// (clipped to in + padEnd) or the valid window size. One work item per input element of a plane.
__kernel void pooling_backward(__global const float* x, __global const float* dy, __global float* dx,
                               int planes, int inH, int inW, int outH, int outW, int kh, int kw, int sh, int sw,
                               int pt, int pl, int pb, int pr, int isMax, int paddedArea)
{
    int i = get_global_id(0);
    if (i >= planes * inH * inW)
        return;
    int ix = i % inW, iy = (i / inW) % inH, p = i / (inW * inH);
    __global const float* xp = x + (size_t)p * inH * inW;
    __global const float* gp = dy + (size_t)p * outH * outW;
    // outputs whose window can contain (iy, ix)
    int oy0 = max(0, (iy + pt - kh + sh) / sh), oy1 = min(outH - 1, (iy + pt) / sh);
    int ox0 = max(0, (ix + pl - kw + sw) / sw), ox1 = min(outW - 1, (ix + pl) / sw);
    float s = 0.f;
    for (int oy = oy0; oy <= oy1; oy++)
        for (int ox = ox0; ox <= ox1; ox++)
        {
            int y0 = oy * sh - pt, x0 = ox * sw - pl;
            int y1 = min(y0 + kh, inH + pb), x1 = min(x0 + kw, inW + pr);
            int padded = (y1 - y0) * (x1 - x0);
            y0 = max(y0, 0); x0 = max(x0, 0); y1 = min(y1, inH); x1 = min(x1, inW);
            if (iy < y0 || iy >= y1 || ix < x0 || ix >= x1)
                continue;
            float g = gp[oy * outW + ox];
            if (isMax)
            {
                int best = y0 * inW + x0;
                for (int yy = y0; yy < y1; yy++)
                    for (int xx = x0; xx < x1; xx++)
                        if (xp[yy * inW + xx] > xp[best])
                            best = yy * inW + xx;
                if (best == iy * inW + ix)
                    s += g;
            }
            else
                s += g / (paddedArea ? padded : (y1 - y0) * (x1 - x0));
        }
    dx[i] = s;
}

// dx[n, c, p] = dy[n, c, p] * scale[c]
__kernel void channel_scale(__global const float* dy, __global const float* scale, __global float* dx,
                            int total, int channels, int plane)
{
    int i = get_global_id(0);
    if (i >= total)
        return;
    dx[i] = dy[i] * scale[(i / plane) % channels];
}

// Depthwise convolution (one kh x kw filter per channel): dx[p, iy, ix] = sum over taps (ky, kx) whose
// output position (oy, ox) exists of w[p % channels, ky, kx] * dy[p, oy, ox], with
// iy = oy * sh - ph + ky * dh (same for x); p runs over the (image, channel) planes.
__kernel void depthwise_conv_backward(__global const float* dy, __global const float* w, __global float* dx,
                                      int planes, int channels, int inH, int inW, int outH, int outW,
                                      int kh, int kw, int sh, int sw, int ph, int pw, int dh, int dw)
{
    int i = get_global_id(0);
    if (i >= planes * inH * inW)
        return;
    int ix = i % inW, iy = (i / inW) % inH, p = i / (inW * inH);
    __global const float* wp = w + (size_t)(p % channels) * kh * kw;
    __global const float* gp = dy + (size_t)p * outH * outW;
    float s = 0.f;
    for (int ky = 0; ky < kh; ky++)
    {
        int ty = iy + ph - ky * dh;
        if (ty < 0 || ty % sh != 0 || ty / sh >= outH)
            continue;
        for (int kx = 0; kx < kw; kx++)
        {
            int tx = ix + pw - kx * dw;
            if (tx < 0 || tx % sw != 0 || tx / sw >= outW)
                continue;
            s += wp[ky * kw + kx] * gp[(ty / sh) * outW + tx / sw];
        }
    }
    dx[i] = s;
}

// Slice backward, one output at a time, in 4D views (ocl_sliceBackward folds other shapes into 4D):
// dx (d1 x d2 x d3 planes, `total` elements) takes the output gradient r (b0 x b1 x b2 x b3) in the box at
// (o0, o1, o2, o3), added to its previous value when `accumulate` (later outputs), zero outside otherwise.
__kernel void slice_backward(__global const float* r, __global float* dx, int total, int d1, int d2, int d3,
                             int b0, int b1, int b2, int b3, int o0, int o1, int o2, int o3, int accumulate)
{
    int i = get_global_id(0);
    if (i >= total)
        return;
    int i3 = i % d3 - o3, i2 = (i / d3) % d2 - o2, i1 = (i / (d3 * d2)) % d1 - o1, i0 = i / (d3 * d2 * d1) - o0;
    float v = 0.f;
    if (i0 >= 0 && i0 < b0 && i1 >= 0 && i1 < b1 && i2 >= 0 && i2 < b2 && i3 >= 0 && i3 < b3)
        v = r[((i0 * b1 + i1) * b2 + i2) * b3 + i3];
    dx[i] = accumulate ? dx[i] + v : v;
}

// Gradient of a weight broadcast over x (Scale with a second input): dw[c] = sum over the outer and inner
// positions of r * x (or of r alone for a bias: withX = 0), x and r being outer x count x inner.
// One work item per weight.
__kernel void broadcast_weight_grad(__global const float* r, __global const float* x, __global float* dw,
                                    int outer, int count, int inner, int withX)
{
    int c = get_global_id(0);
    if (c >= count)
        return;
    float total = 0.f;
    for (int o = 0; o < outer; o++)
    {
        size_t base = ((size_t)o * count + c) * inner;
        float s = 0.f;
        for (int i = 0; i < inner; i++)
            s += withX ? r[base + i] * x[base + i] : r[base + i];
        total += s;
    }
    dw[c] = total;
}

// Resize backward, dX = Rh^T dY Rw per plane, second step: with t = dY Rw (planes * outH rows of inW),
// dx[p, iy, ix] = sum_oy rh[oy, iy] * t[p, oy, ix]; rh is the outH x inH interpolation matrix.
__kernel void resize_rows_backward(__global const float* t, __global const float* rh, __global float* dx,
                                   int planes, int inH, int inW, int outH)
{
    int i = get_global_id(0);
    if (i >= planes * inH * inW)
        return;
    int ix = i % inW, iy = (i / inW) % inH, p = i / (inW * inH);
    __global const float* tp = t + (size_t)p * outH * inW + ix;
    float s = 0.f;
    for (int oy = 0; oy < outH; oy++)
    {
        float w = rh[oy * inH + iy];
        if (w != 0.f)  // rh has at most two non-zeros a row
            s += w * tp[(size_t)oy * inW];
    }
    dx[i] = s;
}

// dst[i] = src[base + sum_d idx_d * s_d] with idx the position of i in the (up to 6D) dst shape d0..d5:
// the backward of Permute (permuted strides) and of constant Padding (the crop of the output gradient).
__kernel void strided_gather(__global const float* src, __global float* dst, int total, int base, int d1, int d2,
                             int d3, int d4, int d5, int s0, int s1, int s2, int s3, int s4, int s5)
{
    int i = get_global_id(0);
    if (i >= total)
        return;
    int r = i;
    size_t off = (size_t)base;
    off += (size_t)(r % d5) * s5; r /= d5;
    off += (size_t)(r % d4) * s4; r /= d4;
    off += (size_t)(r % d3) * s3; r /= d3;
    off += (size_t)(r % d2) * s2; r /= d2;
    off += (size_t)(r % d1) * s1; r /= d1;
    off += (size_t)r * s0;
    dst[i] = src[off];
}
