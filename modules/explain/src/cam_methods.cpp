// The CAM family on one pipeline: per image, the K x HW activations A and gradients g of the target
// layer are combined (channel weights, or element-wise), summed over channels and rectified.
#include "precomp.hpp"
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

/** Per-channel channel weights of the channel-weight methods (K x 1), or empty for the others. */
Mat channelWeights(int method, const Mat& a, const Mat& g)
{
    const int k = a.rows;
    Mat w;
    switch (method)
    {
    case CAM_GRADCAM:
        reduce(g, w, 1, REDUCE_AVG);
        break;
    case CAM_GRADCAM_PLUS_PLUS:
    {
        Mat sumA;
        reduce(a, sumA, 1, REDUCE_SUM);
        Mat g2 = g.mul(g), g3 = g2.mul(g);
        w.create(k, 1, CV_32F);
        for (int c = 0; c < k; c++)
        {
            Mat denom = 2 * g2.row(c) + sumA.at<float>(c) * g3.row(c) + 1e-6f;  // eps as pytorch-grad-cam
            Mat alpha = g2.row(c) / denom;
            alpha.setTo(0, g.row(c) == 0);
            w.at<float>(c) = (float)alpha.dot(max(g.row(c), 0.f));
        }
        break;
    }
    case CAM_XGRADCAM:
    {
        Mat sumA;
        reduce(a, sumA, 1, REDUCE_SUM);
        w.create(k, 1, CV_32F);
        for (int c = 0; c < k; c++)
            w.at<float>(c) = (float)(g.row(c).dot(a.row(c)) / (sumA.at<float>(c) + 1e-7));
        break;
    }
    }
    return w;
}

/** The K x HW per-channel terms whose sum over channels is the method's map before the ReLU. */
Mat contributions(int method, const Mat& a, const Mat& g)
{
    Mat w = channelWeights(method, a, g);
    if (!w.empty())
    {
        Mat c = a.clone();
        for (int k = 0; k < a.rows; k++)
            c.row(k) *= w.at<float>(k);
        return c;
    }
    switch (method)
    {
    case CAM_HIRESCAM: return g.mul(a);
    case CAM_GRADCAM_ELEMENTWISE: return max(g.mul(a), 0.f);
    case CAM_LAYERCAM: return max(g, 0.f).mul(a);
    case CAM_EIGENCAM: return a;
    case CAM_EIGENGRADCAM: return g.mul(a);
    }
    CV_Error(Error::StsBadArg, format("explain: CAM method %d cannot be computed from activations and "
                                      "gradients alone", method));
}

Mat camForImage(int method, const Mat& a, const Mat& g, bool eigenSmooth)
{
    Mat combined;  // 1 x HW before the ReLU
    if (method == CAM_EIGENCAM || method == CAM_EIGENGRADCAM)
        combined = firstComponent(contributions(method, a, g), a);  // sign: with the activations' sum
    else if (eigenSmooth)
    {
        // pytorch-grad-cam's eigen_smooth: the first principal component of the channel terms, its
        // sign chosen to agree with their plain sum (the unsmoothed map)
        Mat c = contributions(method, a, g);
        combined = firstComponent(c, c);
    }
    else
    {
        Mat w = channelWeights(method, a, g);
        if (!w.empty())
        {
            // sum_k w_k A_k with Eigen (cv::gemm goes to the reference BLAS here)
            combined.create(1, a.cols, CV_32F);
            gemmAB(w.ptr<float>(), a.rows, a.ptr<float>(), a.cols, combined.ptr<float>(), a.cols, 1, a.cols, a.rows);
        }
        else
            reduce(contributions(method, a, g), combined, 0, REDUCE_SUM);
    }
    return max(combined, 0.f);
}

} // namespace

/** The CAM methods with OpenCL kernels (channel weights or element-wise terms, see cam.cl) on the device
    for UMat data; maps come back as UMats when the output is a std::vector<UMat>, otherwise as Mats.
    Eigen-CAM and EigenGrad-CAM (an SVD per image) stay on the CPU. */
static bool ocl_computeCAM(int method, InputArray _activations, InputArray _gradients, OutputArrayOfArrays _maps)
{
    if (!useOpenCLFor(_activations) || !_gradients.isUMat())
        return false;
    UMat a = _activations.getUMat(), g = _gradients.getUMat(), maps;
    if (a.dims != 4 || a.depth() != CV_32F || dnn::shape(g) != dnn::shape(a) || g.depth() != CV_32F)
        return false;
    if (!ocl_camMaps(method, a, g, maps))
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
    if (!eigenSmooth && ocl_computeCAM(method, _activations, _gradients, _maps))
        return;
    // device data on the CPU path goes down (and its maps back up): counted, so that tests see it
    const bool fromDevice = (_activations.isUMat() || _gradients.isUMat()) && openclInUse();
    if (fromDevice)
        countHostRoundTrip((_activations.isUMat() ? 1 : 0) + (_gradients.isUMat() ? 1 : 0) +
                           (_maps.kind() == _InputArray::STD_VECTOR_UMAT ? 1 : 0));
    Mat a = _activations.getMat(), g = _gradients.getMat();
    if (a.dims != 4 || a.depth() != CV_32F)
        CV_Error(Error::StsBadArg, "explain: computeCAM expects float32 N x K x H x W activations");
    const bool needsGradients = method != CAM_EIGENCAM;
    if (needsGradients && (g.depth() != CV_32F || dnn::shape(g) != dnn::shape(a)))
        CV_Error(Error::StsBadArg, "explain: computeCAM expects float32 gradients of the activations' shape");
    const int n = a.size[0], k = a.size[1], h = a.size[2], w = a.size[3];
    std::vector<Mat> maps(n);
    parallel_for_(Range(0, n), [&](const Range& r) {
        for (int b = r.start; b < r.end; b++)
        {
            Mat ab(k, h * w, CV_32F, (void*)a.ptr<float>(b));
            Mat gb = needsGradients ? Mat(k, h * w, CV_32F, (void*)g.ptr<float>(b)) : Mat();
            maps[b] = camForImage(method, ab, gb, eigenSmooth).reshape(1, h).clone();
        }
    });
    _maps.create(n, 1, CV_32F, -1);
    _maps.assign(maps);
}

}} // namespace cv::explain
