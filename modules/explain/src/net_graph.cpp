// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// Reading the layer graph of a loaded Net (see net_graph.hpp).
#include "net_graph.hpp"
#include <algorithm>

namespace cv {
namespace explain {
namespace detail {

namespace {

/** The net input of a program (the new engine has no input layer): answers Layer::outputNameToIndex. */
class ProgramInputLayer CV_FINAL : public dnn::Layer
{
public:
    explicit ProgramInputLayer(const std::vector<String>& names) : inputNames(names)
    {
        name = "_input";
        type = "Input";
    }
    int outputNameToIndex(const String& inputName) CV_OVERRIDE
    {
        for (size_t i = 0; i < inputNames.size(); i++)
            if (inputNames[i] == inputName)
                return (int)i;
        return -1;
    }

private:
    std::vector<String> inputNames;
};

} // namespace

NetGraph::NetGraph(const dnn::Net& net)
{
    if (compat::runsOnNewEngine(net))
        readProgram(net);
    else
        readLayers(net);
    sortTopologically();
    int valid = 0;
    for (size_t id = 1; id < layers.size(); id++)
        valid += layers[id].valid;
    if ((int)topo.size() != valid)
        CV_Error(Error::StsError, "explain: the Net's layer graph has a cycle");
    consumers.assign(layers.size(), 0);
    for (int id : topo)
        for (int p : layers[id].producers)
            consumers[p]++;
}

void NetGraph::readLayers(const dnn::Net& net)
{
    const std::vector<String> names = net.getLayerNames();
    if (names.empty())
        CV_Error(Error::StsBadArg, "explain: the Net has no layers; read a model first");
    int maxId = 0;
    for (const String& n : names)
        maxId = std::max(maxId, net.getLayerId(n));
    layers.assign(maxId + 1, GraphLayer());
    std::map<const dnn::Layer*, int> idOf;

    GraphLayer& input = layers[0];
    input.valid = true;
    input.name = "_input";
    input.type = "Input";
    input.layer = net.getLayer(0);
    idOf[input.layer.get()] = 0;
    for (const String& n : names)
    {
        const int id = net.getLayerId(n);
        GraphLayer& l = layers[id];
        l.valid = true;
        l.name = n;
        l.layer = net.getLayer(id);
        l.type = l.layer->type;
        idOf[l.layer.get()] = id;
        idByName[n] = id;
    }
    for (const String& n : names)
    {
        const int id = net.getLayerId(n);
        for (const Ptr<dnn::Layer>& p : net.getLayerInputs(id))
        {
            auto it = idOf.find(p.get());
            if (it == idOf.end())
                CV_Error(Error::StsInternal, "explain: cannot find a producer of layer '" + n + "'");
            layers[id].producers.push_back(it->second);
        }
    }
    outputIds = net.getUnconnectedOutLayers();
}

void NetGraph::readProgram(const dnn::Net& net)
{
    program_ = compat::readProgram(net);
    const std::vector<compat::ProgramOp>& ops = program_.ops;
    layers.assign(ops.size() + 1, GraphLayer());
    layers[0].valid = true;
    layers[0].name = "_input";
    layers[0].type = "Input";
    layers[0].layer = makePtr<ProgramInputLayer>(program_.inputNames);
    for (size_t k = 0; k < ops.size(); k++)
    {
        GraphLayer& l = layers[k + 1];
        l.valid = true;
        l.name = ops[k].name;
        l.type = ops[k].type;
        l.layer = ops[k].layer;
        l.pins = ops[k].inputs;
        for (const Pin& p : l.pins)
            l.producers.push_back(p.first);
        idByName.emplace(l.name, (int)k + 1);
    }
    // a layer is also found by the name of its output tensor (the name of a layer fused into it, say)
    for (size_t k = 0; k < ops.size(); k++)
        for (const String& tensor : ops[k].outputNames)
            idByName.emplace(tensor, (int)k + 1);
    for (const Pin& p : program_.outputs)
        if (p.first > 0)
            outputIds.push_back(p.first);
}

// Kahn's algorithm, smallest id first: cv::dnn ids are usually already ordered but need not be.
void NetGraph::sortTopologically()
{
    std::vector<int> pending(layers.size(), 0);
    std::vector<std::vector<int> > next(layers.size());
    for (size_t id = 1; id < layers.size(); id++)
        if (layers[id].valid)
            for (int p : layers[id].producers)
                if (p != 0)
                {
                    pending[id]++;
                    next[p].push_back((int)id);
                }
    std::vector<int> ready;
    for (size_t id = 1; id < layers.size(); id++)
        if (layers[id].valid && pending[id] == 0)
            ready.push_back((int)id);
    while (!ready.empty())
    {
        std::sort(ready.begin(), ready.end(), std::greater<int>());
        const int id = ready.back();
        ready.pop_back();
        topo.push_back(id);
        for (int c : next[id])
            if (--pending[c] == 0)
                ready.push_back(c);
    }
}

int NetGraph::find(const String& name) const
{
    auto it = idByName.find(name);
    if (it == idByName.end())
        CV_Error(Error::StsObjectNotFound, "explain: the Net has no layer named '" + name + "'");
    return it->second;
}

std::vector<std::vector<Pin> > NetGraph::producerPins() const
{
    std::vector<std::vector<Pin> > pins(layers.size());
    for (int id : topo)
    {
        if (isProgram())
        {
            pins[id] = layers[id].pins;
            continue;
        }
        for (int p : layers[id].producers)
            pins[id].push_back(Pin(p, ANY_OUTPUT));
    }
    return pins;
}

std::vector<char> NetGraph::layersBetween(const std::vector<std::vector<Pin> >& inputPins,
                                          const std::vector<Pin>& sources, const std::vector<int>& sinks,
                                          const std::function<bool(const Pin&)>& carries) const
{
    auto isSource = [&](const Pin& p) {
        for (const Pin& s : sources)
            if (s.first == p.first && (s.second == p.second || s.second == ANY_OUTPUT || p.second == ANY_OUTPUT))
                return true;
        return false;
    };
    std::vector<char> down(layers.size(), sources.empty() ? 1 : 0), up(layers.size(), 0);
    if (!sources.empty())
        for (int id : topo)
            for (const Pin& p : inputPins.at(id))
                down[id] = down[id] || ((isSource(p) || (p.first != 0 && down[p.first])) && (!carries || carries(p)));
    for (int s : sinks)
        up.at(s) = 1;
    for (auto it = topo.rbegin(); it != topo.rend(); ++it)
        if (up[*it])
            for (const Pin& p : inputPins.at(*it))
                up[p.first] = 1;
    std::vector<char> between(layers.size(), 0);
    for (int id : topo)
        between[id] = down[id] && up[id];
    return between;
}

}}} // namespace cv::explain::detail
