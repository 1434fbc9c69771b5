// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// Backward of the clipping rectifiers (ReLU, LeakyReLU, ReLU6/Clip) in the three modes:
// exact R * f'(x); guided R * f'(x) * [R > 0]; deconvnet: the rectifier applied to R.
// f'(x) = 1 inside (lo, hi), `slope` below lo (LeakyReLU), 0 above hi (ReLU6).
#define MODE_EXACT 0
#define MODE_GUIDED 1
#define MODE_DECONVNET 2

__kernel void rectifier_backward(__global const float* x, __global const float* r, __global float* dx,
                                 int total, float lo, float hi, float slope, int mode)
{
    int i = get_global_id(0);
    if (i >= total)
        return;
    float xv = x[i], rv = r[i];
    float d = xv > lo ? (xv < hi ? 1.f : 0.f) : slope;
    float v;
    if (mode == MODE_DECONVNET)
        v = rv > 0.f ? rv : slope * rv;
    else
    {
        v = rv * d;
        if (mode == MODE_GUIDED && !(rv > 0.f))
            v = 0.f;
    }
    dx[i] = v;
}
