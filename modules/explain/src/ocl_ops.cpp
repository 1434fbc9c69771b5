// OpenCL (T-API) versions of the hot operations; kernels in src/opencl/*.cl.
#include "ocl_ops.hpp"
#include "opencl_kernels_explain.hpp"
#include <opencv2/core/ocl.hpp>
#include <atomic>
#include <cfloat>

namespace cv {
namespace explain {

namespace {

std::atomic<size_t> roundTrips(0);

/** The kernel, or an error naming it and the device: a kernel that does not compile must not hide. */
ocl::Kernel kernel(const char* name, const ocl::ProgramSource& source)
{
    ocl::Kernel k(name, source);
    if (k.empty())
        CV_Error(Error::OpenCLApiCallError, std::string("explain: the OpenCL kernel '") + name +
                                                "' does not compile on " + ocl::Device::getDefault().name());
    return k;
}

} // namespace

bool useOpenCLFor(InputArray data)
{
    return data.isUMat() && ocl::useOpenCL();
}

size_t hostRoundTrips()
{
    return roundTrips.load();
}

size_t getHostDeviceCopyCount()
{
    return hostRoundTrips();
}

void countHostRoundTrip(size_t n)
{
    roundTrips += n;
}

bool ocl_gradcamMaps(const UMat& a, const UMat& g, UMat& maps, UMat& counterfactual)
{
    if (!ocl::useOpenCL() || a.dims != 4 || !a.isContinuous() || !g.isContinuous())
        return false;
    const int n = a.size[0], k = a.size[1], plane = a.size[2] * a.size[3];
    UMat alpha(n, k, CV_32F);
    size_t weightsSize = (size_t)n * k;
    if (!kernel("cam_channel_weights", ocl::explain::cam_oclsrc)
             .args(ocl::KernelArg::PtrReadOnly(g), ocl::KernelArg::PtrWriteOnly(alpha), plane, n * k)
             .run(1, &weightsSize, nullptr, true))
        return false;
    maps.create(n, plane, CV_32F);
    counterfactual.create(n, plane, CV_32F);
    size_t global[2] = {(size_t)plane, (size_t)n};
    return kernel("cam_weighted_sum", ocl::explain::cam_oclsrc)
        .args(ocl::KernelArg::PtrReadOnly(a), ocl::KernelArg::PtrReadOnly(alpha), ocl::KernelArg::PtrWriteOnly(maps),
              ocl::KernelArg::PtrWriteOnly(counterfactual), k, plane, n)
        .run(2, global, nullptr, true);
}

bool ocl_rectifierBackward(const UMat& x, const UMat& r, UMat& dx, float lo, float hi, float slope, RectifierMode mode)
{
    if (!ocl::useOpenCL() || !x.isContinuous() || !r.isContinuous())
        return false;
    dx.create(x.dims, x.size.p, CV_32F);
    size_t total = x.total();
    return kernel("rectifier_backward", ocl::explain::rectifier_oclsrc)
        .args(ocl::KernelArg::PtrReadOnly(x), ocl::KernelArg::PtrReadOnly(r), ocl::KernelArg::PtrWriteOnly(dx),
              (int)total, lo, hi, slope, (int)mode)
        .run(1, &total, nullptr, true);
}

}} // namespace cv::explain
