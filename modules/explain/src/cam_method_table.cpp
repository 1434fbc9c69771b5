// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// The CAM method table and the per-method functions it points at; the shared pipeline that reads it
// is in cam_methods.cpp, the OpenCL snippets in opencl/cam.cl, the forward-pass methods in
// cam_perturbation.cpp.
#include "cam_method_table.hpp"

namespace cv {
namespace explain {
namespace detail {

namespace {

// Channel weights (K x 1) from K x HW activations a and gradients g.

/** Grad-CAM: w_k = mean_ij g_kij. */
Mat gradcamWeights(const Mat&, const Mat& g)
{
    Mat w;
    reduce(g, w, 1, REDUCE_AVG);
    return w;
}

/** Grad-CAM++: w_k = sum_ij alpha_kij ReLU(g_kij), alpha = g^2 / (2 g^2 + sum_ab A_kab g^3 + eps), 0 where g = 0. */
Mat gradcamPlusPlusWeights(const Mat& a, const Mat& g)
{
    Mat sumA;
    reduce(a, sumA, 1, REDUCE_SUM);
    Mat g2 = g.mul(g), g3 = g2.mul(g);
    Mat w(a.rows, 1, CV_32F);
    for (int c = 0; c < a.rows; c++)
    {
        Mat denom = 2 * g2.row(c) + sumA.at<float>(c) * g3.row(c) + 1e-6f;  // eps as pytorch-grad-cam
        Mat alpha = g2.row(c) / denom;
        alpha.setTo(0, g.row(c) == 0);
        w.at<float>(c) = (float)alpha.dot(max(g.row(c), 0.f));
    }
    return w;
}

/** XGrad-CAM: w_k = sum_ij A_kij g_kij / sum_ab A_kab. */
Mat xgradcamWeights(const Mat& a, const Mat& g)
{
    Mat sumA;
    reduce(a, sumA, 1, REDUCE_SUM);
    Mat w(a.rows, 1, CV_32F);
    for (int c = 0; c < a.rows; c++)
        w.at<float>(c) = (float)(g.row(c).dot(a.row(c)) / (sumA.at<float>(c) + 1e-7));
    return w;
}

// Per-channel terms (K x HW).

/** g * A: HiResCAM's terms, and EigenGrad-CAM's matrix. */
Mat gradTimesActivation(const Mat& a, const Mat& g)
{
    return g.mul(a);
}

/** ReLU(g * A): Grad-CAM element-wise. */
Mat rectifiedProduct(const Mat& a, const Mat& g)
{
    return max(g.mul(a), 0.f);
}

/** ReLU(g) * A: LayerCAM. */
Mat rectifiedGradTimesActivation(const Mat& a, const Mat& g)
{
    return max(g, 0.f).mul(a);
}

/** A itself: Eigen-CAM's matrix. */
Mat activations(const Mat& a, const Mat&)
{
    return a;
}

const char* const kTargetFree = "Eigen-CAM does not depend on the target";
const char* const kAblationNoCounterfactual = "Ablation-CAM's weights do not change when the target is negated";

} // namespace

const std::vector<CamMethodSpec>& camMethodTable()
{
    typedef CamKind K;
    // id, name, kind, needs gradients, why no counterfactual, OpenCL snippet, combine, perturb
    static const std::vector<CamMethodSpec> table = {
        {CAM_GRADCAM, "Grad-CAM", K::CHANNEL_WEIGHTS, true, nullptr, "gradcam", gradcamWeights, nullptr},
        {CAM_GRADCAM_PLUS_PLUS, "Grad-CAM++", K::CHANNEL_WEIGHTS, true, nullptr, "gradcam_plus_plus",
         gradcamPlusPlusWeights, nullptr},
        {CAM_XGRADCAM, "XGrad-CAM", K::CHANNEL_WEIGHTS, true, nullptr, "xgradcam", xgradcamWeights, nullptr},
        {CAM_HIRESCAM, "HiResCAM", K::ELEMENTWISE, true, nullptr, "hirescam", gradTimesActivation, nullptr},
        {CAM_GRADCAM_ELEMENTWISE, "Grad-CAM element-wise", K::ELEMENTWISE, true, nullptr, "gradcam_elementwise",
         rectifiedProduct, nullptr},
        {CAM_LAYERCAM, "LayerCAM", K::ELEMENTWISE, true, nullptr, "layercam", rectifiedGradTimesActivation,
         nullptr},
        {CAM_EIGENCAM, "Eigen-CAM", K::PRINCIPAL_COMPONENT, false, kTargetFree, nullptr, activations, nullptr},
        {CAM_EIGENGRADCAM, "EigenGrad-CAM", K::PRINCIPAL_COMPONENT, true, nullptr, nullptr, gradTimesActivation,
         nullptr},
        {CAM_SCORECAM, "Score-CAM", K::FORWARD_PASSES, false, nullptr, nullptr, nullptr, scoreCAM},
        {CAM_ABLATIONCAM, "Ablation-CAM", K::FORWARD_PASSES, false, kAblationNoCounterfactual, nullptr, nullptr,
         ablationCAM},
    };
    return table;
}

const CamMethodSpec* findCamMethod(int id)
{
    for (const CamMethodSpec& spec : camMethodTable())
        if (spec.id == id)
            return &spec;
    return nullptr;
}

const CamMethodSpec& camMethod(int id)
{
    const CamMethodSpec* spec = findCamMethod(id);
    if (!spec)
        CV_Error(Error::StsBadArg, format("explain: unknown CAM method %d", id));
    return *spec;
}

void checkCounterfactual(const CamMethodSpec& spec, bool wanted)
{
    if (wanted && !spec.hasCounterfactual())
        CV_Error(Error::StsBadArg,
                 std::string("explain: ") + spec.noCounterfactual + ", so it has no counterfactual map");
}

String camKernelOptions(const CamMethodSpec& spec)
{
    if (!spec.oclName)
        return String();
    return spec.kind == CamKind::CHANNEL_WEIGHTS ? format("-D CAM_WEIGHT=cam_weight_%s", spec.oclName)
                                                 : format("-D CAM_TERM=cam_term_%s", spec.oclName);
}

}}} // namespace cv::explain::detail
