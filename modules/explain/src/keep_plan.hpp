// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// Which layers' outputs a forward pass must keep for a set of backward passes: a pure function of
// the graph, so that it can be tested alone.
#ifndef OPENCV_EXPLAIN_KEEP_PLAN_HPP
#define OPENCV_EXPLAIN_KEEP_PLAN_HPP

#include "net_graph.hpp"

namespace cv {
namespace explain {
namespace detail {

/** What the backward rules read, for a plan that keeps only that (see widenKeepPlan). */
struct ActivationNeeds
{
    /** Per layer id: BackwardRule::activationsRead() of its rule (READS_INPUTS | READS_OUTPUTS for layers
        without one). */
    std::vector<int> reads;
    /** Per layer id: whether a requested output of the layer is its own whatever cv::dnn fuses (fusion off,
        or no consumer it could be fused with); if not, its producers are kept through single-consumer
        links, so that no fusion chain passes through it. */
    std::vector<char> fusionSafe;
};

/** The plan `current` widened by what gradients from the `seeds` layers to the `wanted` pins need: the
    seeds and wanted layers, and for each layer on the path (per layer, a superset of the per-output path)
    the activations its rule reads: its own outputs, its producers' outputs. Without `needs` every rule
    reads both. A layer with several outputs, or fed by one, keeps itself and its producers (their input
    pins are resolved from the data). Because cv::dnn's fusion absorbs a layer into a producer with one
    consumer whatever is requested (e.g. conv -> BN -> ReLU), every kept layer that is not fusion-safe
    also keeps every producer reached through single-consumer links (all producers of a layer with
    several outputs).
    @param outputCounts the number of outputs of each layer.
    @param current the plan so far (1 = keep), of graph.size() entries. */
std::vector<char> widenKeepPlan(const NetGraph& graph, const std::vector<int>& outputCounts,
                                const std::vector<char>& current, const std::vector<int>& seeds,
                                const std::vector<Pin>& wanted, const ActivationNeeds* needs = nullptr);

}}} // namespace cv::explain::detail

#endif
