// The CAM family on the device, as cam_methods.cpp computes it on the CPU: per-channel weights and the
// weighted sum of the activation maps (Grad-CAM, Grad-CAM++, XGrad-CAM), or the sum over channels of an
// element-wise term (HiResCAM, Grad-CAM element-wise, LayerCAM); then the ReLU.
// Dot products over the plane are accumulated in double where the device has it, as Mat::dot does.
#if defined(cl_khr_fp64)
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
typedef double acc_t;
#else
typedef float acc_t;
#endif

// The values of cv::explain::CAMMethod
#define CAM_GRADCAM 0
#define CAM_GRADCAM_PLUS_PLUS 1
#define CAM_XGRADCAM 2
#define CAM_HIRESCAM 3
#define CAM_GRADCAM_ELEMENTWISE 4
#define CAM_LAYERCAM 5

// w[nk] from the plane nk of the activations a and gradients g; one work item per (image, channel).
// Grad-CAM: mean of g. Grad-CAM++: sum_p alpha_p ReLU(g_p), alpha = g^2 / (2 g^2 + sum(a) g^3 + 1e-6)
// and 0 where g == 0. XGrad-CAM: sum_p g_p a_p / (sum(a) + 1e-7).
__kernel void cam_channel_weights(__global const float* a, __global const float* g, __global float* w, int plane,
                                  int total, int method)
{
    int nk = get_global_id(0);
    if (nk >= total)
        return;
    __global const float* ap = a + (size_t)nk * plane;
    __global const float* gp = g + (size_t)nk * plane;
    if (method == CAM_GRADCAM)
    {
        float s = 0.f;  // the CPU's reduce(REDUCE_AVG) sums in float
        for (int p = 0; p < plane; p++)
            s += gp[p];
        w[nk] = s / plane;
        return;
    }
    float sumA = 0.f;  // reduce(REDUCE_SUM) in float, as on the CPU
    for (int p = 0; p < plane; p++)
        sumA += ap[p];
    acc_t s = 0;
    if (method == CAM_GRADCAM_PLUS_PLUS)
    {
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
        w[nk] = (float)s;
    }
    else  // CAM_XGRADCAM
    {
        for (int p = 0; p < plane; p++)
            s += (acc_t)gp[p] * ap[p];
        w[nk] = (float)(s / ((acc_t)sumA + (acc_t)1e-7));
    }
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

// cam[n, p] = max(sum_k term(g[n, k, p], a[n, k, p]), 0) with the term g a (HiResCAM), ReLU(g a)
// (Grad-CAM element-wise) or ReLU(g) a (LayerCAM); one work item per (image, pixel).
__kernel void cam_elementwise_sum(__global const float* a, __global const float* g, __global float* cam,
                                  int channels, int plane, int images, int method)
{
    int p = get_global_id(0), n = get_global_id(1);
    if (p >= plane || n >= images)
        return;
    size_t base = (size_t)n * channels * plane + p;
    float s = 0.f;  // reduce(REDUCE_SUM) over channels sums in float
    for (int k = 0; k < channels; k++)
    {
        float av = a[base + (size_t)k * plane], gv = g[base + (size_t)k * plane];
        s += method == CAM_HIRESCAM ? gv * av
           : method == CAM_GRADCAM_ELEMENTWISE ? fmax(gv * av, 0.f)
           : fmax(gv, 0.f) * av;
    }
    cam[(size_t)n * plane + p] = fmax(s, 0.f);
}
