// Reading the Net's graph for Backprop: the layers, their producers and a topological order,
// the layer shapes for an input shape, which producer output feeds each layer input (by shape,
// or by replaying the consumer), the Slice/Split outputs recomputed from their input, and the
// lookups of layers and wanted gradients by name.
#include "backprop_impl.hpp"
#include "layers/layer_utils.hpp"
#include <algorithm>

namespace cv {
namespace explain {
namespace detail {

int BackpropImpl::findLayer(const String& name) const
{
    auto it = idByName.find(name);
    if (it == idByName.end())
        CV_Error(Error::StsObjectNotFound, "explain: the Net has no layer named '" + name + "'");
    return it->second;
}

void BackpropImpl::readGraph()
{
    std::vector<String> names = net.getLayerNames();
    if (names.empty())
        CV_Error(Error::StsBadArg, "explain: the Net has no layers; read a model first");
    int maxId = 0;
    for (const String& n : names)
        maxId = std::max(maxId, net.getLayerId(n));
    nodes.assign(maxId + 1, Node());
    std::map<const dnn::Layer*, int> idOf;

    Node& input = nodes[0];
    input.valid = true;
    input.info.id = 0;
    input.info.name = "_input";
    input.info.type = "Input";
    input.info.layer = net.getLayer(0);
    idOf[input.info.layer.get()] = 0;
    for (const String& n : names)
    {
        int id = net.getLayerId(n);
        Node& node = nodes[id];
        node.valid = true;
        node.info.id = id;
        node.info.name = n;
        node.info.layer = net.getLayer(id);
        node.info.type = node.info.layer->type;
        node.info.hasParams = getCapturedParams(node.info.layer, node.info.params);
        idOf[node.info.layer.get()] = id;
        idByName[n] = id;
    }
    for (const String& n : names)
    {
        int id = net.getLayerId(n);
        for (const Ptr<dnn::Layer>& p : net.getLayerInputs(id))
        {
            auto it = idOf.find(p.get());
            if (it == idOf.end())
                CV_Error(Error::StsInternal, "explain: cannot find a producer of layer '" + n + "'");
            nodes[id].producers.push_back(it->second);
        }
    }
    // Topological order (Kahn); cv::dnn ids are usually already ordered but need not be.
    std::vector<int> pending(nodes.size(), 0);
    std::vector<std::vector<int> > next(nodes.size());
    for (size_t id = 1; id < nodes.size(); id++)
        if (nodes[id].valid)
            for (int p : nodes[id].producers)
                if (p != 0)
                {
                    pending[id]++;
                    next[p].push_back((int)id);
                }
    std::vector<int> ready;
    for (size_t id = 1; id < nodes.size(); id++)
        if (nodes[id].valid && pending[id] == 0)
            ready.push_back((int)id);
    while (!ready.empty())
    {
        std::sort(ready.begin(), ready.end(), std::greater<int>());
        int id = ready.back();
        ready.pop_back();
        topo.push_back(id);
        for (int c : next[id])
            if (--pending[c] == 0)
                ready.push_back(c);
    }
    if (topo.size() != names.size())
        CV_Error(Error::StsError, "explain: the Net's layer graph has a cycle");
    consumerCount.assign(nodes.size(), 0);
    for (int id : topo)
        for (int p : nodes[id].producers)
            consumerCount[p]++;
    for (int id : topo)
    {
        orderedIds.push_back(id);
        orderedNames.push_back(nodes[id].info.name);
    }
}

void BackpropImpl::resolvePins()
{
    for (int id : topo)
    {
        Node& node = nodes[id];
        node.inputPins.clear();
        for (size_t j = 0; j < node.producers.size(); j++)
        {
            const int p = node.producers[j];
            const size_t outputs = p == 0 ? acts[0].size() : nodes[p].info.outputShapes.size();
            if (outputs <= 1 || acts[p].size() != outputs)
            {
                // single output, or not kept: then this layer is not on any planned path
                node.inputPins.push_back(Pin(p, p == 0 ? inputIndex : 0));
                continue;
            }
            std::vector<int> candidates;
            for (size_t o = 0; o < outputs; o++)
                if (j < node.info.inputShapes.size() && outputShape(Pin(p, (int)o)) == node.info.inputShapes[j])
                    candidates.push_back((int)o);
            if (candidates.empty())
                CV_Error(Error::StsInternal, "explain: no output of " + describeLayer(nodes[p].info) +
                                                 " fits input " + std::to_string(j) + " of " + describeLayer(node.info));
            node.inputPins.push_back(Pin(p, candidates.size() == 1 ? candidates[0] : replay(id, j, candidates)));
        }
        recomputeSliceOutputs(node);
    }
    for (Node& node : nodes)
        node.consumers.assign(node.valid ? std::max<size_t>(1, node.info.outputShapes.size()) : 0,
                              std::vector<Pin>());
    for (int id : topo)
        for (size_t j = 0; j < nodes[id].inputPins.size(); j++)
        {
            const Pin& p = nodes[id].inputPins[j];
            auto& cons = nodes[p.first].consumers;
            if ((int)cons.size() <= p.second)
                cons.resize(p.second + 1);
            cons[p.second].push_back(Pin(id, (int)j));
        }
}

int BackpropImpl::replay(int id, size_t j, const std::vector<int>& candidates)
{
    Node& node = nodes[id];
    const int p = node.producers[j];
    int best = -1;
    double bestErr = DBL_MAX, secondErr = DBL_MAX;
    for (int c : candidates)
    {
        if (c != candidates[0] && norm(hostAct(Pin(p, c)), hostAct(Pin(p, candidates[0])), NORM_INF) == 0)
            continue;  // equal values: either choice gives the same gradients
        std::vector<Mat> inputs;
        for (size_t k = 0; k < node.producers.size(); k++)
        {
            const int q = node.producers[k];
            if (k == j)
                inputs.push_back(hostAct(Pin(p, c)).clone());
            else if (k < node.inputPins.size() && !acts[node.inputPins[k].first].empty())
                inputs.push_back(hostAct(node.inputPins[k]).clone());
            else if (!acts[q].empty())  // a later input, still unresolved: its first output
                inputs.push_back(hostAct(Pin(q, 0)).clone());
            else
                return candidates[0];  // not on a planned path: any choice will do
        }
        std::vector<MatShape> inShapes, outShapes, internalShapes;
        for (const Mat& m : inputs)
            inShapes.push_back(dnn::shape(m));
        std::vector<Mat> outputs, internals;
        try
        {
            node.info.layer->getMemoryShapes(inShapes, (int)acts[id].size(), outShapes, internalShapes);
            for (const MatShape& s : outShapes)
                outputs.push_back(Mat(s, CV_32F));
            for (const MatShape& s : internalShapes)
                internals.push_back(Mat(s, CV_32F));
            node.info.layer->forward(inputs, outputs, internals);
        }
        catch (const cv::Exception&)
        {
            continue;
        }
        const double err = norm(outputs[0].reshape(1, 1), hostAct(Pin(id, 0)).reshape(1, 1), NORM_L2);
        if (err < bestErr)
        {
            secondErr = bestErr;
            bestErr = err;
            best = c;
        }
        else
            secondErr = std::min(secondErr, err);
    }
    if (best < 0 || (secondErr < DBL_MAX && !(bestErr < 0.5 * secondErr)))
        CV_Error(Error::StsNotImplemented,
                 "explain: cannot tell which output of " + describeLayer(nodes[node.producers[j]].info) +
                     format(" feeds input %d of ", (int)j) + describeLayer(node.info) +
                     " (its outputs have equal shapes)");
    return best;
}

MatShape BackpropImpl::outputShape(const Pin& p) const
{
    return p.first == 0 ? dnn::shape(acts[0].at(p.second)) : nodes[p.first].info.outputShapes.at(p.second);
}

void BackpropImpl::recomputeSliceOutputs(const Node& node)
{
    const int id = node.info.id;
    const Pin input = node.inputPins.empty() ? Pin(-1, 0) : node.inputPins[0];
    if (acts[id].size() < 2 || node.inputPins.size() != 1 || acts[input.first].empty())
        return;
    Ptr<dnn::SliceLayer> slice = node.info.layer.dynamicCast<dnn::SliceLayer>();
    if (!slice && node.info.type != "Split")
        return;
    const MatShape inShape = outputShape(input);
    const std::vector<MatShape>& outShapes = node.info.outputShapes;
    if (onDevice)
    {
        const UMat in = deviceAct(input);
        const std::vector<int> strides = stridesOf(inShape);
        deviceActs[id].assign(acts[id].size(), UMat());
        for (size_t o = 0; o < acts[id].size(); o++)
        {
            if (!slice)
            {
                deviceActs[id][o] = in;  // read-only from here on: one buffer serves every output
                continue;
            }
            // the slice as a strided gather from the continuous input
            const std::vector<Range> ranges = sliceRangesOf(*slice, inShape, outShapes, o);
            int base = 0;
            for (size_t d = 0; d < ranges.size(); d++)
                base += (ranges[d] == Range::all() ? 0 : ranges[d].start) * strides[d];
            if (!ocl_stridedGather(in, deviceActs[id][o], outShapes[o], strides, base))
            {
                hostAct(input)(ranges).copyTo(deviceActs[id][o]);  // more than 6 axes: via the host
                countHostRoundTrip();
            }
        }
        return;
    }
    const Mat& in = acts[input.first][input.second];
    for (size_t o = 0; o < acts[id].size(); o++)
        acts[id][o] = slice ? Mat(in(sliceRangesOf(*slice, inShape, outShapes, o)).clone()) : in.clone();
}

void BackpropImpl::updateShapes(const std::vector<MatShape>& inputShapes)
{
    if (inputShapes == lastInputShapes)
        return;
    std::vector<int> ids;
    std::vector<std::vector<MatShape> > in, out;
    try
    {
        net.getLayersShapes(inputShapes, ids, in, out);
    }
    catch (const cv::Exception& e)
    {
        CV_Error(Error::StsBadArg, "explain: the forward pass failed for an input blob of shape " +
                                       shapeToString(inputShapes[inputIndex]) + ": " + e.err);
    }
    for (size_t i = 0; i < ids.size(); i++)
    {
        if (ids[i] <= 0 || ids[i] >= (int)nodes.size() || !nodes[ids[i]].valid)
            continue;
        LayerInfo& info = nodes[ids[i]].info;
        info.inputShapes = in[i];
        info.outputShapes = out[i];
        nodes[ids[i]].rule.release();  // rules may depend on shapes
    }
    lastInputShapes = inputShapes;
}

Pin BackpropImpl::wrtPin(const String& name) const
{
    if (name.empty())
        return Pin(0, inputIndex);
    if (idByName.count(name))
        return Pin(idByName.at(name), 0);
    const int index = nodes[0].info.layer->outputNameToIndex(name);
    if (index >= 0 && !acts.empty() && index < (int)acts[0].size())
        return Pin(0, index);
    return Pin(findLayer(name), 0);  // throws, naming the layer
}

}}} // namespace cv::explain::detail
