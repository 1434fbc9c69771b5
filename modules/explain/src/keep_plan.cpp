// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// The keep plan of a forward pass (see keep_plan.hpp).
#include "keep_plan.hpp"
#include <algorithm>

namespace cv {
namespace explain {
namespace detail {

std::vector<char> widenKeepPlan(const NetGraph& graph, const std::vector<int>& outputCounts,
                                const std::vector<char>& current, const std::vector<int>& seeds,
                                const std::vector<Pin>& wanted, const ActivationNeeds* needs)
{
    const std::vector<std::vector<Pin> > pins = graph.producerPins();
    std::vector<char> onPath = graph.layersBetween(pins, wanted, seeds);
    const std::vector<char> feedsSeeds = graph.layersBetween(pins, {}, seeds);
    for (const Pin& w : wanted)
        onPath[w.first] = onPath[w.first] || (w.first > 0 && feedsSeeds[w.first]);

    const int both = BackwardRule::READS_INPUTS | BackwardRule::READS_OUTPUTS;
    auto multiOutput = [&](int id) { return id > 0 && outputCounts[id] > 1; };
    std::vector<char> keep = current;
    std::vector<int> stack;
    auto add = [&](int id) {
        if (id > 0 && !keep[id])
        {
            keep[id] = 1;
            stack.push_back(id);
        }
    };
    for (int s : seeds)
        add(s);
    for (const Pin& w : wanted)
        add(w.first);
    for (int id : graph.order())
    {
        if (!onPath[id])
            continue;
        const std::vector<int>& producers = graph.layer(id).producers;
        int reads = needs ? needs->reads[id] : both;
        if (multiOutput(id) || std::any_of(producers.begin(), producers.end(), multiOutput))
            reads = both;
        if (reads & BackwardRule::READS_OUTPUTS)
            add(id);
        if (reads & BackwardRule::READS_INPUTS)
            for (int p : producers)
                add(p);
    }
    // the fusion closure
    while (!stack.empty())
    {
        const int id = stack.back();
        stack.pop_back();
        if (needs && needs->fusionSafe[id])
            continue;
        for (int p : graph.layer(id).producers)
            if (p > 0 && (multiOutput(id) || graph.consumerCount(p) == 1))
                add(p);
    }
    return keep;
}

}}} // namespace cv::explain::detail
