// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// C = A B for row-major float matrices (A: M x K, B: K x N), with local-memory tiles of TILE x TILE.
// OpenCV's generic OpenCL GEMM took ~0.3-4 ms per backward GEMM on an NVIDIA H100 (doc/performance.md);
// the input gradients of convolutions and InnerProduct need nothing more than this.
// Matrices come as (pointer, step in bytes, offset in bytes), so row ranges of UMats work.
#define TILE 16

__kernel void gemm_nn(__global const uchar* aptr, int astep, int aoff,
                      __global const uchar* bptr, int bstep, int boff,
                      __global uchar* cptr, int cstep, int coff, int M, int N, int K)
{
    const int col = get_global_id(0), row = get_global_id(1);
    const int lc = get_local_id(0), lr = get_local_id(1);
    __local float as[TILE][TILE];
    __local float bs[TILE][TILE + 1];
    float acc = 0.f;
    for (int t = 0; t < K; t += TILE)
    {
        const int ak = t + lc, bk = t + lr;
        as[lr][lc] = (row < M && ak < K) ? ((__global const float*)(aptr + aoff + row * astep))[ak] : 0.f;
        bs[lr][lc] = (bk < K && col < N) ? ((__global const float*)(bptr + boff + bk * bstep))[col] : 0.f;
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int k = 0; k < TILE; k++)
            acc = mad(as[lr][k], bs[k][lc], acc);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (row < M && col < N)
        ((__global float*)(cptr + coff + row * cstep))[col] = acc;
}
