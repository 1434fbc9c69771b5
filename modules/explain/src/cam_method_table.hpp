// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// The CAM methods as one table: everything that differs between them (how the map is combined, whether
// it needs gradients or forward passes, its counterfactual, its OpenCL variant) is one entry, so that
// adding a method is one entry plus its weight or term function (and its OpenCL snippet in cam.cl).
#ifndef OPENCV_EXPLAIN_CAM_METHOD_TABLE_HPP
#define OPENCV_EXPLAIN_CAM_METHOD_TABLE_HPP

#include "precomp.hpp"
#include "cam_perturbation.hpp"

namespace cv {
namespace explain {
namespace detail {

/** How a method turns a target layer's activations into a map. */
enum class CamKind
{
    CHANNEL_WEIGHTS,      //!< map = ReLU(sum_k w_k A_k), w from `combine` (K x 1)
    ELEMENTWISE,          //!< map = ReLU(sum_k T_k), the K x HW terms T from `combine`
    PRINCIPAL_COMPONENT,  //!< map = ReLU(first principal component of the K x HW matrix from `combine`)
    FORWARD_PASSES        //!< weights from forward passes of perturbed data (`perturb`), no gradients
};

/** From one image's K x HW activations A and gradients g (empty when the method needs none): the K x 1
    channel weights (CHANNEL_WEIGHTS) or the K x HW per-channel terms (the other gradient kinds). */
typedef Mat (*CamCombineFn)(const Mat& a, const Mat& g);

/** One CAM method. */
struct CamMethodSpec
{
    int id;                        //!< its CAMMethod value
    const char* name;              //!< for messages, e.g. "Grad-CAM"
    CamKind kind;
    bool needsGradients;           //!< whether the map reads dy/dA
    const char* noCounterfactual;  //!< why the method has no counterfactual map; nullptr when it has one
    const char* oclName;           //!< its OpenCL snippet in cam.cl (cam_weight_<oclName> or
                                   //!< cam_term_<oclName>), nullptr for a CPU-only method
    CamCombineFn combine;          //!< the gradient kinds
    PerturbationCamFn perturb;     //!< FORWARD_PASSES

    bool hasCounterfactual() const { return noCounterfactual == nullptr; }
};

/** All CAM methods, one entry each. */
const std::vector<CamMethodSpec>& camMethodTable();

/** The entry of a CAMMethod value, or nullptr. */
const CamMethodSpec* findCamMethod(int id);

/** The entry of a CAMMethod value; throws "explain: unknown CAM method <id>" for any other value. */
const CamMethodSpec& camMethod(int id);

/** Throws, naming the method, when `wanted` and the method has no counterfactual map. */
void checkCounterfactual(const CamMethodSpec& spec, bool wanted);

/** The OpenCL build options that select the method's snippet in cam.cl, e.g. "-D CAM_WEIGHT=cam_weight_gradcam";
    empty for a method without one. */
String camKernelOptions(const CamMethodSpec& spec);

}}} // namespace cv::explain::detail

#endif
