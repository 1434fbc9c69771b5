// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// OpenCL (T-API) versions of the hot operations; kernels in src/opencl/*.cl.
#include "ocl_ops.hpp"
#include "cam_method_table.hpp"
#include "opencl_programs.hpp"
#include <opencv2/core/ocl.hpp>
#include <atomic>
#include <cfloat>

namespace cv {
namespace explain {

namespace {

std::atomic<size_t> roundTrips(0);
std::atomic<size_t> openclQueryCount(0);

// Kernels are enqueued without waiting for them: the OpenCL queue runs them in order, OpenCV keeps
// their UMat arguments alive until they finish, and reading a UMat on the host waits for its writers.
const bool kWaitForKernels = false;

} // namespace

ocl::Kernel compileKernel(const char* name, const ocl::ProgramSource& source, const String& buildOptions)
{
    ocl::Kernel k(name, source, buildOptions);
    if (k.empty())
        CV_Error(Error::OpenCLApiCallError, std::string("explain: the OpenCL kernel '") + name +
                                                "' does not compile on " + ocl::Device::getDefault().name());
    return k;
}

int checkOpenCLKernels()
{
    if (!openclInUse())
        return 0;
    // every file in src/opencl, listed by the module's CMakeLists.txt
    for (int i = 0; i < ocl::explain::programFileCount; i++)
    {
        const ocl::explain::ProgramFile& p = ocl::explain::programFiles[i];
        String log;
        ocl::Program program(*p.source, String(), log);
        if (program.ptr() == nullptr)
            CV_Error(Error::OpenCLApiCallError, std::string("explain: the OpenCL program ") + p.file +
                                                    " does not compile on " + ocl::Device::getDefault().name() +
                                                    ": " + log);
    }
    return ocl::explain::programFileCount;
}

bool openclInUse()
{
    openclQueryCount++;
    return ocl::useOpenCL();
}

size_t openclQueries()
{
    return openclQueryCount.load();
}

bool useOpenCLFor(InputArray data)
{
    return data.isUMat() && openclInUse();
}

size_t hostRoundTrips()
{
    return roundTrips.load();
}

void countHostRoundTrip(size_t n)
{
    roundTrips += n;
}

bool ocl_camMaps(const detail::CamMethodSpec& spec, const UMat& a, const UMat& g, UMat& maps)
{
    const bool elementwise = spec.kind == detail::CamKind::ELEMENTWISE;
    if (!openclInUse() || !spec.oclName || a.dims != 4 || !a.isContinuous() || !g.isContinuous() ||
        g.total() != a.total())
        return false;
    // one program per method: the build options pick its snippet in cam.cl
    const String options = detail::camKernelOptions(spec);
    const int n = a.size[0], k = a.size[1], plane = a.size[2] * a.size[3];
    maps.create(n, plane, CV_32F);
    size_t global[2] = {(size_t)plane, (size_t)n};
    if (elementwise)
        return compileKernel("cam_elementwise_sum", ocl::explain::cam_oclsrc, options)
            .args(ocl::KernelArg::PtrReadOnly(a), ocl::KernelArg::PtrReadOnly(g), ocl::KernelArg::PtrWriteOnly(maps),
                  k, plane, n)
            .run(2, global, nullptr, kWaitForKernels);
    UMat w(n, k, CV_32F);
    size_t weightsSize = (size_t)n * k;
    if (!compileKernel("cam_channel_weights", ocl::explain::cam_oclsrc, options)
             .args(ocl::KernelArg::PtrReadOnly(a), ocl::KernelArg::PtrReadOnly(g), ocl::KernelArg::PtrWriteOnly(w),
                   plane, n * k)
             .run(1, &weightsSize, nullptr, kWaitForKernels))
        return false;
    return compileKernel("cam_weighted_sum", ocl::explain::cam_oclsrc, options)
        .args(ocl::KernelArg::PtrReadOnly(a), ocl::KernelArg::PtrReadOnly(w), ocl::KernelArg::PtrWriteOnly(maps), k,
              plane, n)
        .run(2, global, nullptr, kWaitForKernels);
}

bool ocl_rectifierBackward(const UMat& x, const UMat& r, UMat& dx, float lo, float hi, float slope, RectifierMode mode)
{
    if (!openclInUse() || !x.isContinuous() || !r.isContinuous())
        return false;
    dx.create(x.dims, x.size.p, CV_32F);
    size_t total = x.total();
    return compileKernel("rectifier_backward", ocl::explain::rectifier_oclsrc)
        .args(ocl::KernelArg::PtrReadOnly(x), ocl::KernelArg::PtrReadOnly(r), ocl::KernelArg::PtrWriteOnly(dx),
              (int)total, lo, hi, slope, (int)mode)
        .run(1, &total, nullptr, kWaitForKernels);
}

bool ocl_col2im(const UMat& cols, UMat& dx, int channels, int inH, int inW, int outH, int outW, int kh, int kw,
                int sh, int sw, int ph, int pw, int dh, int dw)
{
    if (!openclInUse())
        return false;
    dx.create(channels, inH * inW, CV_32F);
    size_t total = (size_t)channels * inH * inW;
    return compileKernel("col2im_gather", ocl::explain::layer_backward_oclsrc)
        .args(ocl::KernelArg::PtrReadOnly(cols), ocl::KernelArg::PtrWriteOnly(dx), channels, inH, inW, outH, outW,
              kh, kw, sh, sw, ph, pw, dh, dw)
        .run(1, &total, nullptr, kWaitForKernels);
}

bool ocl_depthwiseConvBackward(const UMat& dy, const UMat& weights, UMat& dx, int planes, int channels, int inH,
                               int inW, int outH, int outW, int kh, int kw, int sh, int sw, int ph, int pw, int dh,
                               int dw)
{
    if (!openclInUse() || !dy.isContinuous() || !weights.isContinuous())
        return false;
    dx.create(planes, inH * inW, CV_32F);
    size_t total = (size_t)planes * inH * inW;
    return compileKernel("depthwise_conv_backward", ocl::explain::layer_backward_oclsrc)
        .args(ocl::KernelArg::PtrReadOnly(dy), ocl::KernelArg::PtrReadOnly(weights), ocl::KernelArg::PtrWriteOnly(dx),
              planes, channels, inH, inW, outH, outW, kh, kw, sh, sw, ph, pw, dh, dw)
        .run(1, &total, nullptr, kWaitForKernels);
}

bool ocl_sliceBackward(const UMat& r, UMat& dx, const MatShape& inShape, const std::vector<Range>& ranges,
                       bool accumulate)
{
    if (!openclInUse() || !r.isContinuous() || ranges.size() != inShape.size())
        return false;
    // Fold the region into as few axes as possible: an axis taken whole merges into the axis before it,
    // axes of size 1 vanish. What remains (at most 4 axes) fits the kernel's 4D view.
    std::vector<int> size, start, len;
    for (size_t d = 0; d < inShape.size(); d++)
    {
        const int s = inShape[d], a = ranges[d] == Range::all() ? 0 : ranges[d].start;
        const int l = ranges[d] == Range::all() ? s : ranges[d].size();
        if (a < 0 || l < 0 || a + l > s)
            return false;
        if (s == 1)
            continue;
        if (!size.empty() && a == 0 && l == s)
        {
            size.back() *= s;
            start.back() *= s;
            len.back() *= s;
            continue;
        }
        size.push_back(s);
        start.push_back(a);
        len.push_back(l);
    }
    if (size.size() > 4)
        return false;
    while (size.size() < 4)
    {
        size.insert(size.begin(), 1);
        start.insert(start.begin(), 0);
        len.insert(len.begin(), 1);
    }
    if (accumulate)
        CV_Assert(dx.isContinuous() && dnn::shape(dx) == inShape);
    else
        dx.create((int)inShape.size(), inShape.data(), CV_32F);
    const int total = (int)dx.total();
    if ((size_t)len[0] * len[1] * len[2] * len[3] != r.total())
        return false;
    size_t global = (size_t)total;
    return compileKernel("slice_backward", ocl::explain::layer_backward_oclsrc)
        .args(ocl::KernelArg::PtrReadOnly(r), ocl::KernelArg::PtrReadWrite(dx), total, size[1], size[2], size[3],
              len[0], len[1], len[2], len[3], start[0], start[1], start[2], start[3], (int)accumulate)
        .run(1, &global, nullptr, kWaitForKernels);
}

bool ocl_stridedGather(const UMat& src, UMat& dst, const MatShape& dstShape, const std::vector<int>& srcStrides,
                       int base)
{
    if (!openclInUse() || !src.isContinuous() || dstShape.empty() || dstShape.size() > 6 ||
        srcStrides.size() != dstShape.size())
        return false;
    // leading axes of size 1 fill the kernel's six
    std::vector<int> d(6, 1), s(6, 0);
    const size_t lead = 6 - dstShape.size();
    std::copy(dstShape.begin(), dstShape.end(), d.begin() + lead);
    std::copy(srcStrides.begin(), srcStrides.end(), s.begin() + lead);
    dst.create((int)dstShape.size(), dstShape.data(), CV_32F);
    const int total = (int)dst.total();
    if (total == 0)
        return true;
    size_t global = (size_t)total;
    return compileKernel("strided_gather", ocl::explain::layer_backward_oclsrc)
        .args(ocl::KernelArg::PtrReadOnly(src), ocl::KernelArg::PtrWriteOnly(dst), total, base, d[1], d[2], d[3], d[4],
              d[5], s[0], s[1], s[2], s[3], s[4], s[5])
        .run(1, &global, nullptr, kWaitForKernels);
}

bool ocl_poolingBackward(const UMat& x, const UMat& dy, UMat& dx, const std::vector<int>& inShape, int inH, int inW,
                         int outH, int outW, int kh, int kw, int sh, int sw, int pt, int pl, int pb, int pr, bool isMax,
                         bool paddedArea)
{
    const int planes = inShape[0] * inShape[1];
    if (!openclInUse() || (isMax && !x.isContinuous()) || !dy.isContinuous())
        return false;
    dx.create((int)inShape.size(), inShape.data(), CV_32F);
    size_t total = (size_t)planes * inH * inW;
    const UMat& src = isMax ? x : dy;  // a buffer for the kernel's argument; average pooling does not read it
    return compileKernel("pooling_backward", ocl::explain::layer_backward_oclsrc)
        .args(ocl::KernelArg::PtrReadOnly(src), ocl::KernelArg::PtrReadOnly(dy), ocl::KernelArg::PtrWriteOnly(dx),
              planes, inH, inW, outH, outW, kh, kw, sh, sw, pt, pl, pb, pr, (int)isMax, (int)paddedArea)
        .run(1, &total, nullptr, kWaitForKernels);
}

bool ocl_channelScale(const UMat& dy, const UMat& scale, UMat& dx, int channels)
{
    if (!openclInUse() || !dy.isContinuous() || dy.dims < 2)
        return false;
    dx.create(dy.dims, dy.size.p, CV_32F);
    const int total = (int)dy.total(), plane = (int)(dy.total() / ((size_t)dy.size[0] * channels));
    size_t global = (size_t)total;
    return compileKernel("channel_scale", ocl::explain::layer_backward_oclsrc)
        .args(ocl::KernelArg::PtrReadOnly(dy), ocl::KernelArg::PtrReadOnly(scale), ocl::KernelArg::PtrWriteOnly(dx),
              total, channels, plane)
        .run(1, &global, nullptr, kWaitForKernels);
}

bool ocl_broadcastScale(const UMat& dy, const UMat& scale, UMat& dx, int count, int inner)
{
    if (!openclInUse() || !dy.isContinuous() || !scale.isContinuous() || (int)scale.total() != count)
        return false;
    dx.create(dy.dims, dy.size.p, CV_32F);
    const int total = (int)dy.total();
    size_t global = (size_t)total;
    return compileKernel("channel_scale", ocl::explain::layer_backward_oclsrc)
        .args(ocl::KernelArg::PtrReadOnly(dy), ocl::KernelArg::PtrReadOnly(scale), ocl::KernelArg::PtrWriteOnly(dx),
              total, count, inner)
        .run(1, &global, nullptr, kWaitForKernels);
}

bool ocl_broadcastWeightGrad(const UMat& r, const UMat& x, UMat& dw, int outer, int count, int inner)
{
    if (!openclInUse() || !r.isContinuous() || (!x.empty() && (!x.isContinuous() || x.total() != r.total())) ||
        (size_t)outer * count * inner != r.total())
        return false;
    dw.create(1, count, CV_32F);
    const bool withX = !x.empty();
    size_t global = (size_t)count;
    return compileKernel("broadcast_weight_grad", ocl::explain::layer_backward_oclsrc)
        .args(ocl::KernelArg::PtrReadOnly(r), ocl::KernelArg::PtrReadOnly(withX ? x : r), ocl::KernelArg::PtrWriteOnly(dw),
              outer, count, inner, (int)withX)
        .run(1, &global, nullptr, kWaitForKernels);
}

bool ocl_softmaxBackward(const UMat& y, const UMat& r, UMat& dx, int outer, int count, int inner, bool logSoftmax)
{
    if (!openclInUse() || !y.isContinuous() || !r.isContinuous() || r.total() != y.total() ||
        (size_t)outer * count * inner != y.total())
        return false;
    dx.create(y.dims, y.size.p, CV_32F);
    size_t global = (size_t)outer * inner;
    return compileKernel("softmax_backward", ocl::explain::softmax_oclsrc)
        .args(ocl::KernelArg::PtrReadOnly(y), ocl::KernelArg::PtrReadOnly(r), ocl::KernelArg::PtrWriteOnly(dx), outer,
              count, inner, (int)logSoftmax)
        .run(1, &global, nullptr, kWaitForKernels);
}

bool ocl_resizeBackward(const UMat& dy, const UMat& rh, const UMat& rw, UMat& dx, int planes)
{
    const int outH = rh.rows, inH = rh.cols, outW = rw.rows, inW = rw.cols;
    if (!openclInUse() || !dy.isContinuous() || dy.total() != (size_t)planes * outH * outW)
        return false;
    // the width axis of all planes at once with one GEMM, then the height axis per plane
    UMat t;
    if (!ocl_gemm(as2D(dy, planes * outH), rw, t))
        return false;
    dx.create(planes, inH * inW, CV_32F);
    size_t global = (size_t)planes * inH * inW;
    return compileKernel("resize_rows_backward", ocl::explain::layer_backward_oclsrc)
        .args(ocl::KernelArg::PtrReadOnly(t), ocl::KernelArg::PtrReadOnly(rh), ocl::KernelArg::PtrWriteOnly(dx),
              planes, inH, inW, outH)
        .run(1, &global, nullptr, kWaitForKernels);
}

bool ocl_gemm(const UMat& a, const UMat& b, UMat& c)
{
    if (!openclInUse() || a.dims != 2 || b.dims != 2 || a.type() != CV_32F || b.type() != CV_32F || a.cols != b.rows)
        return false;
    const int m = a.rows, n = b.cols, k = a.cols;
    if (c.rows != m || c.cols != n || c.type() != CV_32F)
        c.create(m, n, CV_32F);
    const size_t tile = 16;
    size_t global[2] = {(n + tile - 1) / tile * tile, (m + tile - 1) / tile * tile}, local[2] = {tile, tile};
    return compileKernel("gemm_nn", ocl::explain::gemm_oclsrc)
        .args(ocl::KernelArg::ReadOnlyNoSize(a), ocl::KernelArg::ReadOnlyNoSize(b), ocl::KernelArg::WriteOnlyNoSize(c),
              m, n, k)
        .run(2, global, local, kWaitForKernels);
}

}} // namespace cv::explain
