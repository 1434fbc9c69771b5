// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// The layer graph of a loaded cv::dnn::Net, read once and never changed: layers, their producers in
// input order, a topological order, and the one reachability function every part of the module uses
// to find "the layers between A and B".
#ifndef OPENCV_EXPLAIN_NET_GRAPH_HPP
#define OPENCV_EXPLAIN_NET_GRAPH_HPP

#include "opencv_compat.hpp"
#include <functional>

namespace cv {
namespace explain {
namespace detail {

typedef std::pair<int, int> Pin;  // (layer id, output index); id 0 is the net input
const int ANY_OUTPUT = -1;        // a pin whose output index is not known (yet)

struct GraphLayer
{
    bool valid = false;          // cv::dnn ids may leave gaps
    String name, type;
    Ptr<dnn::Layer> layer;
    std::vector<int> producers;  // producer layer ids, in input order
    std::vector<std::pair<int, int> > pins;  // (producer id, output) per input, where the graph says (new engine)
};

class NetGraph
{
public:
    explicit NetGraph(const dnn::Net& net);

    /** Layer ids in topological order, the net input (id 0) excluded. */
    const std::vector<int>& order() const { return topo; }
    /** One past the largest layer id. */
    int size() const { return (int)layers.size(); }
    const GraphLayer& layer(int id) const { return layers.at(id); }
    /** The id of a layer by name, or an error naming it. */
    int find(const String& name) const;
    bool has(const String& name) const { return idByName.count(name) > 0; }
    /** Consumers of any output of a layer. */
    int consumerCount(int id) const { return consumers[id]; }

    /** Whether the Net runs on OpenCV 5's new engine: the layers are the operations of its program,
        run by compat::runProgram, and the graph gives every input's producer output exactly. */
    bool isProgram() const { return !program_.ops.empty(); }
    const compat::Program& program() const { return program_; }

    /** The layers whose outputs are the Net's outputs, in the Net's order. */
    const std::vector<int>& outputs() const { return outputIds; }

    /** The producer outputs feeding each layer's inputs as far as the graph alone tells: exact on the
        new engine; elsewhere the producer with ANY_OUTPUT (cv::dnn 4.x does not say which output of a
        multi-output producer is meant). */
    std::vector<std::vector<Pin> > producerPins() const;

    /** Marks the layers that lie on a path from a source to a sink: those with an input fed by a source
        pin (or by a layer so marked) that feed a sink (or are one). `inputPins[id]` are layer id's input
        pins (producerPins() or resolved ones); a pin with ANY_OUTPUT matches every output of its producer.
        An empty `sources` drops the first condition (every layer that feeds a sink). With `carries`, a pin
        for which it returns false passes nothing downstream (integer tensors: shapes, indices). */
    std::vector<char> layersBetween(const std::vector<std::vector<Pin> >& inputPins,
                                    const std::vector<Pin>& sources, const std::vector<int>& sinks,
                                    const std::function<bool(const Pin&)>& carries = nullptr) const;

private:
    void readLayers(const dnn::Net& net);
    void readProgram(const dnn::Net& net);
    void sortTopologically();

    std::vector<GraphLayer> layers;
    std::map<String, int> idByName;
    std::vector<int> topo;
    std::vector<int> consumers;
    std::vector<int> outputIds;
    compat::Program program_;
};

}}} // namespace cv::explain::detail

#endif
