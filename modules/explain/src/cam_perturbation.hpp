// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// Score-CAM and Ablation-CAM: CAM channel weights from forward passes of perturbed inputs or
// activations instead of gradients. Free functions over what they read (the engine, the Net, the layer
// names, the input), so that the CAM method table can point at them.
#ifndef OPENCV_EXPLAIN_CAM_PERTURBATION_HPP
#define OPENCV_EXPLAIN_CAM_PERTURBATION_HPP

#include "precomp.hpp"

namespace cv {
namespace explain {
namespace detail {

/** What a perturbation method reads, after a forward pass of the explained input. */
struct PerturbationInputs
{
    Ptr<Backprop> bp;      // after forward(): the activations and the graph
    dnn::Net net;          // the user's Net, re-run by Score-CAM
    String targetLayer;    // the layer A whose channels are weighted
    String outputLayer;    // the target is seed . (output 0 of this layer)
    Mat seed;              // float32, of that output's size
    Mat input;             // the explained input blob
    String inputName;
    bool singleInput = true;
};

/** The layers between a target layer and an output layer, rebuilt from their captured parameters and
    weights as a Net whose input 0 is the target's activation; inputs 1.. are the recorded outputs of
    layers outside that part that feed it (e.g. skip connections). */
struct SubNet
{
    dnn::Net net;
    std::vector<std::pair<int, int> > externals;  // (layer id, output) fed as inputs "external1"..
    String target, output;
};

/** What the methods keep between calls on the same forward graph. */
struct PerturbationCache
{
    Ptr<SubNet> ablation;  // Ablation-CAM's rebuilt layers
};

/** A perturbation method: one map (and counterfactual map, when asked) per image. */
typedef void (*PerturbationCamFn)(const PerturbationInputs& in, PerturbationCache& cache, bool wantMaps,
                                  bool wantCounter, std::vector<Mat>& maps, std::vector<Mat>& counter);

/** Score-CAM: channel k's activation, upsampled (bilinear, corners aligned as pytorch-grad-cam does)
    and min-max normalized, masks the input; the target's scores on the K masked inputs, through a
    softmax, weight the channels (the counterfactual: the softmax of the negated scores). Forward passes
    run in batches of 16 through the user's Net. */
void scoreCAM(const PerturbationInputs& in, PerturbationCache& cache, bool wantMaps, bool wantCounter,
              std::vector<Mat>& maps, std::vector<Mat>& counter);

/** Ablation-CAM: the target's score with each channel of the target layer zeroed, from re-runs of only
    the layers after it (batches of 32 channels), weights w_k = (y - y_k) / y. No counterfactual. */
void ablationCAM(const PerturbationInputs& in, PerturbationCache& cache, bool wantMaps, bool wantCounter,
                 std::vector<Mat>& maps, std::vector<Mat>& counter);

/** The layers between `target` and `output` as a SubNet (see there). */
SubNet buildSubNet(Backprop& bp, const String& target, const String& output);

}}} // namespace cv::explain::detail

#endif
