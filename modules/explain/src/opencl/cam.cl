// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// The CAM family on the device, as cam_methods.cpp computes it on the CPU: per-channel weights and the
// weighted sum of the activation maps (Grad-CAM, Grad-CAM++, XGrad-CAM), or the sum over channels of an
// element-wise term (HiResCAM, Grad-CAM element-wise, LayerCAM); then the ReLU.
// Each method is one snippet below, cam_weight_<name> or cam_term_<name>, with <name> its oclName in the
// CAM method table (cam_method_table.cpp), whose build options choose it: "-D CAM_WEIGHT=cam_weight_<name>"
// or "-D CAM_TERM=cam_term_<name>".
// Dot products over the plane are accumulated in double where the device has it, as Mat::dot does.
#if defined(cl_khr_fp64)
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
typedef double acc_t;
#else
typedef float acc_t;
#endif

// The sum over a plane in float, as reduce(REDUCE_SUM) on the CPU.
float plane_sum(__global const float* p, int plane)
{
    float s = 0.f;
    for (int i = 0; i < plane; i++)
        s += p[i];
    return s;
}

// Channel weights from one plane of the activations ap and gradients gp.

// Grad-CAM: mean of g (the CPU's reduce(REDUCE_AVG) sums in float).
float cam_weight_gradcam(__global const float* ap, __global const float* gp, int plane)
{
    return plane_sum(gp, plane) / plane;
}

// Grad-CAM++: sum_p alpha_p ReLU(g_p), alpha = g^2 / (2 g^2 + sum(a) g^3 + 1e-6) and 0 where g == 0.
float cam_weight_gradcam_plus_plus(__global const float* ap, __global const float* gp, int plane)
{
    float sumA = plane_sum(ap, plane);
    acc_t s = 0;
    for (int p = 0; p < plane; p++)
    {
        float gv = gp[p];
        if (gv > 0.f)  // ReLU(g) drops the others, and alpha is 0 where g == 0
        {
            float g2 = gv * gv, g3 = g2 * gv;
            float alpha = g2 / (2.f * g2 + sumA * g3 + 1e-6f);
            s += (acc_t)alpha * gv;
        }
    }
    return (float)s;
}

// XGrad-CAM: sum_p g_p a_p / (sum(a) + 1e-7).
float cam_weight_xgradcam(__global const float* ap, __global const float* gp, int plane)
{
    float sumA = plane_sum(ap, plane);
    acc_t s = 0;
    for (int p = 0; p < plane; p++)
        s += (acc_t)gp[p] * ap[p];
    return (float)(s / ((acc_t)sumA + (acc_t)1e-7));
}

// Element-wise terms of one gradient gv and activation av.

// HiResCAM: g a.
float cam_term_hirescam(float gv, float av) { return gv * av; }

// Grad-CAM element-wise: ReLU(g a).
float cam_term_gradcam_elementwise(float gv, float av) { return fmax(gv * av, 0.f); }

// LayerCAM: ReLU(g) a.
float cam_term_layercam(float gv, float av) { return fmax(gv, 0.f) * av; }

// Without build options (checkOpenCLKernels builds every program as it is) the first method of each kind.
#ifndef CAM_WEIGHT
#define CAM_WEIGHT cam_weight_gradcam
#endif
#ifndef CAM_TERM
#define CAM_TERM cam_term_hirescam
#endif

// w[nk] from the plane nk of the activations a and gradients g; one work item per (image, channel).
__kernel void cam_channel_weights(__global const float* a, __global const float* g, __global float* w, int plane,
                                  int total)
{
    int nk = get_global_id(0);
    if (nk >= total)
        return;
    w[nk] = CAM_WEIGHT(a + (size_t)nk * plane, g + (size_t)nk * plane, plane);
}

// cam[n, p] = max(sum_k w[n, k] * a[n, k, p], 0); one work item per (image, pixel).
__kernel void cam_weighted_sum(__global const float* a, __global const float* w, __global float* cam, int channels,
                               int plane, int images)
{
    int p = get_global_id(0), n = get_global_id(1);
    if (p >= plane || n >= images)
        return;
    __global const float* src = a + (size_t)n * channels * plane + p;
    __global const float* wn = w + (size_t)n * channels;
    float s = 0.f;
    for (int k = 0; k < channels; k++)
        s += wn[k] * src[(size_t)k * plane];
    cam[(size_t)n * plane + p] = fmax(s, 0.f);
}

// cam[n, p] = max(sum_k CAM_TERM(g[n, k, p], a[n, k, p]), 0); one work item per (image, pixel).
__kernel void cam_elementwise_sum(__global const float* a, __global const float* g, __global float* cam,
                                  int channels, int plane, int images)
{
    int p = get_global_id(0), n = get_global_id(1);
    if (p >= plane || n >= images)
        return;
    size_t base = (size_t)n * channels * plane + p;
    float s = 0.f;  // reduce(REDUCE_SUM) over channels sums in float
    for (int k = 0; k < channels; k++)
        s += CAM_TERM(g[base + (size_t)k * plane], a[base + (size_t)k * plane]);
    cam[(size_t)n * plane + p] = fmax(s, 0.f);
}
