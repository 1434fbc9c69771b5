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

/** The plan `current` widened by what gradients from the `seeds` layers to the `wanted` pins need:
    the layers on the path (per layer, a superset of the per-output path), the seeds and wanted layers,
    the producers of the layers on the path, and, because cv::dnn's fusion absorbs a layer into a
    producer with one consumer whatever is requested (e.g. conv -> BN -> ReLU), every producer reached
    through single-consumer links (all producers of a layer with several outputs).
    @param outputCounts the number of outputs of each layer.
    @param current the plan so far (1 = keep), of graph.size() entries. */
std::vector<char> widenKeepPlan(const NetGraph& graph, const std::vector<int>& outputCounts,
                                const std::vector<char>& current, const std::vector<int>& seeds,
                                const std::vector<Pin>& wanted);

}}} // namespace cv::explain::detail

#endif
