// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// One backward pass: walks the layers between the seeds and the wanted gradients in reverse
// topological order, runs each layer's BackwardRule (its OpenCL version when everything is on the
// device, else the CPU one), and sums the gradients reaching each producer output.
#ifndef OPENCV_EXPLAIN_BACKWARD_PASS_HPP
#define OPENCV_EXPLAIN_BACKWARD_PASS_HPP

#include "activation_store.hpp"

namespace cv {
namespace explain {
namespace detail {

/** The seed of a backward pass: d(target)/d(output 0 of a layer). */
struct Seed
{
    int layer;
    Mat grad;
};

/** Whether the gradient of a layer's one output can serve as its input gradient's buffer, for a rule that
    computes in place: nothing else holds it (a wanted result or a shared gradient would be overwritten), and it
    is on the host, continuous, float32, of `inputTotal` elements. */
bool outputGradientIsFree(const std::vector<Blob>& outGrads, size_t inputTotal);

class BackwardPass
{
public:
    /** @param infos the layers' info with the shapes of the forward pass, by layer id.
        @param inputPins the resolved input pins of every layer.
        @param rules one rule per layer id, created on first use (and then kept there). */
    BackwardPass(const NetGraph& graph, const std::vector<LayerInfo>& infos,
                 const std::vector<std::vector<Pin> >& inputPins, const ActivationStore& store,
                 std::vector<Ptr<BackwardRule> >& rules)
        : graph(graph), infos(infos), inputPins(inputPins), store(store), rules(rules) {}

    /** The gradients of the target at the wanted pins (zero where it does not depend on them).
        @param checkEachStep check every rule's input gradients for NaN and Inf and throw naming the
               first layer whose backward step produced one (a diagnosis: it reads every gradient). */
    std::vector<Blob> run(const std::vector<Seed>& seeds, const std::vector<Pin>& wanted, RectifierMode mode,
                          bool checkEachStep = false);

private:
    /** Runs a layer's rule: its OpenCL version when everything is on the device and it has one,
        otherwise the CPU version (copying what is on the device to the host, counted). */
    std::vector<Blob> runRule(int id, std::vector<Blob>& outGrads, const std::vector<bool>& need, RectifierMode mode);
    bool runRuleOnDevice(int id, std::vector<Blob>& outGrads, const std::vector<bool>& need, RectifierMode mode,
                         std::vector<Blob>& result);

    /** The gradients reaching a layer's outputs (zeros for outputs no gradient reached); empty when
        none reached it. */
    std::vector<Blob> takeOutputGrads(int id, const std::vector<Pin>& wanted);

    void accumulate(const Pin& pin, Blob g);

    const NetGraph& graph;
    const std::vector<LayerInfo>& infos;
    const std::vector<std::vector<Pin> >& inputPins;
    const ActivationStore& store;
    std::vector<Ptr<BackwardRule> >& rules;
    std::map<Pin, Blob> gradAt;
};

}}} // namespace cv::explain::detail

#endif
