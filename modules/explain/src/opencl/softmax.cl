// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// Softmax / LogSoftmax backward along one axis of an outer x count x inner blob, from the output y:
// softmax: dx_c = y_c (r_c - sum_k r_k y_k); log-softmax: dx_c = r_c - exp(y_c) sum_k r_k.
// The sum is accumulated in double where the device has it, as the CPU rule does.
#if defined(cl_khr_fp64)
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
typedef double acc_t;
#else
typedef float acc_t;
#endif

// One work item per (outer, inner) position: the `count` values along the axis.
__kernel void softmax_backward(__global const float* y, __global const float* r, __global float* dx, int outer,
                               int count, int inner, int logSoftmax)
{
    int idx = get_global_id(0);
    if (idx >= outer * inner)
        return;
    size_t base = (size_t)(idx / inner) * count * inner + idx % inner;
    acc_t dot = 0;
    for (int c = 0; c < count; c++)
    {
        size_t k = base + (size_t)c * inner;
        dot += logSoftmax ? (acc_t)r[k] : (acc_t)r[k] * y[k];
    }
    for (int c = 0; c < count; c++)
    {
        size_t k = base + (size_t)c * inner;
        dx[k] = logSoftmax ? (float)(r[k] - exp(y[k]) * dot) : (float)(y[k] * (r[k] - dot));
    }
}
