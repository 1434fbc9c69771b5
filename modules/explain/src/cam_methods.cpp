// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// The CAM family on one pipeline: per image, the K x HW activations A and gradients g of the target
// layer are combined as the method's table entry says (channel weights, element-wise terms or a
// principal component; cam_method_table.cpp), summed over channels and rectified.
#include "cam_method_table.hpp"
#include "ocl_ops.hpp"
#include "layers/cpu_kernels.hpp"
#include <opencv2/core/ocl.hpp>

namespace cv {
namespace explain {

namespace {

/** Projection of the centred HW x K matrix M^T on its first right singular vector. */
Mat firstComponent(const Mat& m /* K x HW */, const Mat& a /* K x HW, for the sign */)
{
    Mat x = m.t();  // HW x K
    Mat mu;
    reduce(x, mu, 0, REDUCE_AVG);
    x -= repeat(mu, x.rows, 1);
    Mat w, u, vt;
    SVD::compute(x, w, u, vt, SVD::MODIFY_A);
    if (vt.empty() || w.empty() || w.at<float>(0) <= 0)
        return Mat::zeros(1, m.cols, CV_32F);
    Mat proj = (x * vt.row(0).t()).t();  // 1 x HW
    Mat channelSum;
    reduce(a, channelSum, 0, REDUCE_SUM);
    if (proj.dot(channelSum - mean(channelSum)[0]) < 0)
        proj = -proj;
    return proj;
}

/** The K x HW per-channel terms whose sum over channels is the map before the ReLU. */
Mat channelTerms(const detail::CamMethodSpec& spec, const Mat& a, const Mat& g)
{
    if (spec.kind != detail::CamKind::CHANNEL_WEIGHTS)
        return spec.combine(a, g);
    Mat w = spec.combine(a, g), c = a.clone();
    for (int k = 0; k < a.rows; k++)
        c.row(k) *= w.at<float>(k);
    return c;
}

Mat camForImage(const detail::CamMethodSpec& spec, const Mat& a, const Mat& g, bool eigenSmooth)
{
    Mat combined;  // 1 x HW before the ReLU
    if (spec.kind == detail::CamKind::PRINCIPAL_COMPONENT)
        combined = firstComponent(spec.combine(a, g), a);  // sign: with the activations' sum
    else if (eigenSmooth)
    {
        // pytorch-grad-cam's eigen_smooth: the first principal component of the channel terms, its
        // sign chosen to agree with their plain sum (the unsmoothed map)
        Mat c = channelTerms(spec, a, g);
        combined = firstComponent(c, c);
    }
    else if (spec.kind == detail::CamKind::CHANNEL_WEIGHTS)
    {
        // sum_k w_k A_k with Eigen (cv::gemm goes to the reference BLAS here)
        Mat w = spec.combine(a, g);
        combined.create(1, a.cols, CV_32F);
        gemmAB(w.ptr<float>(), a.rows, a.ptr<float>(), a.cols, combined.ptr<float>(), a.cols, 1, a.cols, a.rows);
    }
    else
        reduce(spec.combine(a, g), combined, 0, REDUCE_SUM);
    return max(combined, 0.f);
}

} // namespace

/** The CAM methods with an OpenCL snippet (CamMethodSpec::oclName, see cam.cl) on the device for UMat
    data; maps come back as UMats when the output is a std::vector<UMat>, otherwise as Mats. The
    principal-component methods (an SVD per image) stay on the CPU. */
static bool ocl_computeCAM(const detail::CamMethodSpec& spec, InputArray _activations, InputArray _gradients,
                           OutputArrayOfArrays _maps)
{
    if (!useOpenCLFor(_activations) || !_gradients.isUMat())
        return false;
    UMat a = _activations.getUMat(), g = _gradients.getUMat(), maps;
    if (a.dims != 4 || a.depth() != CV_32F || dnn::shape(g) != dnn::shape(a) || g.depth() != CV_32F)
        return false;
    if (!ocl_camMaps(spec, a, g, maps))
        return false;
    const int n = a.size[0], h = a.size[2];
    _maps.create(n, 1, CV_32F, -1);
    if (_maps.kind() == _InputArray::STD_VECTOR_UMAT)
    {
        std::vector<UMat> out;
        for (int b = 0; b < n; b++)
            out.push_back(maps.row(b).reshape(1, h));
        _maps.assign(out);
    }
    else
    {
        std::vector<Mat> out;
        Mat host = maps.getMat(ACCESS_READ);
        for (int b = 0; b < n; b++)
            out.push_back(host.row(b).reshape(1, h).clone());
        _maps.assign(out);
        countHostRoundTrip();
    }
    return true;
}

void computeCAM(int method, InputArray _activations, InputArray _gradients, OutputArrayOfArrays _maps,
                bool eigenSmooth)
{
    const detail::CamMethodSpec& spec = detail::camMethod(method);
    if (spec.kind == detail::CamKind::FORWARD_PASSES)
        CV_Error(Error::StsBadArg, format("explain: CAM method %d cannot be computed from activations and "
                                          "gradients alone", method));
    if (!eigenSmooth && ocl_computeCAM(spec, _activations, _gradients, _maps))
        return;
    // device data on the CPU path goes down (and its maps back up): counted, so that tests see it
    const bool fromDevice = (_activations.isUMat() || _gradients.isUMat()) && openclInUse();
    if (fromDevice)
        countHostRoundTrip((_activations.isUMat() ? 1 : 0) + (_gradients.isUMat() ? 1 : 0) +
                           (_maps.kind() == _InputArray::STD_VECTOR_UMAT ? 1 : 0));
    Mat a = _activations.getMat(), g = _gradients.getMat();
    if (a.dims != 4 || a.depth() != CV_32F)
        CV_Error(Error::StsBadArg, "explain: computeCAM expects float32 N x K x H x W activations");
    if (spec.needsGradients && (g.depth() != CV_32F || dnn::shape(g) != dnn::shape(a)))
        CV_Error(Error::StsBadArg, "explain: computeCAM expects float32 gradients of the activations' shape");
    checkFinite(a, "the activations given to computeCAM");
    if (spec.needsGradients)
        checkFinite(g, "the gradients given to computeCAM");
    if (!a.isContinuous() || (spec.needsGradients && !g.isContinuous()))
    {
        a = a.clone();
        g = g.clone();
    }
    const int n = a.size[0], k = a.size[1], h = a.size[2], w = a.size[3];
    std::vector<Mat> maps(n);
    parallel_for_(Range(0, n), [&](const Range& r) {
        for (int b = r.start; b < r.end; b++)
        {
            Mat ab(k, h * w, CV_32F, (void*)a.ptr<float>(b));
            Mat gb = spec.needsGradients ? Mat(k, h * w, CV_32F, (void*)g.ptr<float>(b)) : Mat();
            maps[b] = camForImage(spec, ab, gb, eigenSmooth).reshape(1, h).clone();
        }
    });
    for (int b = 0; b < n; b++)  // finite inputs can still overflow float32 in the products and sums
        if (!allFinite(maps[b]))
        {
            std::vector<Range> image{Range(b, b + 1), Range::all(), Range::all(), Range::all()};
            const double amax = norm(a(image), NORM_INF), gmax = spec.needsGradients ? norm(g(image), NORM_INF) : 0.0;
            CV_Error(Error::StsOutOfRange, format("explain: the map of image %d overflows float32 (activations up to %g "
                                                  "in magnitude, gradients up to %g); scale the input or explain "
                                                  "another layer", b, amax, gmax));
        }
    _maps.create(n, 1, CV_32F, -1);
    _maps.assign(maps);
}

}} // namespace cv::explain
