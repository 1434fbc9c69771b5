// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// Which producer output feeds each layer input. cv::dnn tells only which layer feeds which; for
// producers with several outputs the output is found after a forward pass from the consumer's input
// shapes, and where shapes tie, by replaying the consumer's own forward() on each candidate.
#ifndef OPENCV_EXPLAIN_INPUT_PINS_HPP
#define OPENCV_EXPLAIN_INPUT_PINS_HPP

#include "activation_store.hpp"

namespace cv {
namespace explain {
namespace detail {

class InputPinResolver
{
public:
    /** @param infos the layers' info with the shapes of the last forward pass, by layer id.
        @param inputIndex the net input that a pin of layer 0 without other information means. */
    InputPinResolver(const NetGraph& graph, const std::vector<LayerInfo>& infos, ActivationStore& store,
                     int inputIndex)
        : graph(graph), infos(infos), store(store), inputIndex(inputIndex) {}

    /** The input pins of every layer, by layer id. Slice and Split outputs are recomputed in the store
        on the way (see recomputeSliceOutputs). */
    std::vector<std::vector<Pin> > resolve();

private:
    Pin resolveInput(int id, size_t j, const std::vector<Pin>& resolved);

    /** The candidate output of input j's producer that reproduces the consumer's recorded output. */
    int replay(int id, size_t j, const std::vector<int>& candidates, const std::vector<Pin>& resolved);

    /** The distance of the layer's forward pass on output c for input j (the resolved inputs before it,
        output later[k] of each later input's producer) to its recorded output; DBL_MAX when the layer
        refuses those inputs, -1 when an input is not kept (not on a planned path). */
    double replayError(int id, size_t j, int c, const std::vector<int>& later, const std::vector<Pin>& resolved);

    /** For each later input fed by a multi-output producer, the outputs of it that fit (up to 64
        combinations in all, counted in `combinations`); {0} for the others. */
    std::vector<std::vector<int> > laterInputOptions(int id, size_t j, const std::vector<Pin>& resolved,
                                                     size_t& combinations) const;

    /** cv::dnn protects only output 0 of a layer from in-place consumers: recompute Slice and Split
        outputs from their input so that every recorded output is the layer's true output. In device
        mode this also gives the outputs after the first, which the UMat forward pass does not return. */
    void recomputeSliceOutputs(int id, const std::vector<Pin>& pins);

    /** The shape of a layer output (or net input) in the last forward pass. */
    MatShape outputShape(const Pin& p) const;

    const NetGraph& graph;
    const std::vector<LayerInfo>& infos;
    ActivationStore& store;
    int inputIndex;
};

}}} // namespace cv::explain::detail

#endif
