// Grad-CAM on the device: channel weights (spatial mean of the gradients) and the weighted sum of the
// activation maps with its ReLU (Grad-CAM) and the ReLU of its negation (counterfactual).

// alpha[nk] = mean_p g[nk * plane + p]; one work item per (image, channel).
__kernel void cam_channel_weights(__global const float* g, __global float* alpha, int plane, int total)
{
    int nk = get_global_id(0);
    if (nk >= total)
        return;
    __global const float* src = g + (size_t)nk * plane;
    float s = 0.f;
    for (int p = 0; p < plane; p++)
        s += src[p];
    alpha[nk] = s / plane;
}

// sum = sum_k alpha[n, k] * a[n, k, p]; cam = max(sum, 0), counter = max(-sum, 0).
// One work item per (image, pixel).
__kernel void cam_weighted_sum(__global const float* a, __global const float* alpha, __global float* cam,
                               __global float* counter, int channels, int plane, int images)
{
    int p = get_global_id(0), n = get_global_id(1);
    if (p >= plane || n >= images)
        return;
    __global const float* src = a + (size_t)n * channels * plane + p;
    __global const float* w = alpha + (size_t)n * channels;
    float s = 0.f;
    for (int k = 0; k < channels; k++)
        s += w[k] * src[(size_t)k * plane];
    cam[(size_t)n * plane + p] = fmax(s, 0.f);
    counter[(size_t)n * plane + p] = fmax(-s, 0.f);
}
