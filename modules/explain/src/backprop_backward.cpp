// The backward pass of Backprop: walks the layers between the seeds and the wanted gradients in
// reverse topological order, runs each layer's BackwardRule (its OpenCL version when everything is
// on the device, else the CPU one), and sums the gradients reaching each producer output.
#include "backprop_impl.hpp"
#include "layers/layer_utils.hpp"
#include <algorithm>

namespace cv {
namespace explain {
namespace detail {

void BackpropImpl::backwardBlobs(const std::vector<String>& seedLayers, const std::vector<Mat>& seedGrads,
                                 const std::vector<String>& wrtLayers, std::vector<Blob>& results, RectifierMode mode)
{
    requireForward();
    if (seedLayers.empty() || seedLayers.size() != seedGrads.size())
        CV_Error(Error::StsBadArg, "explain: backward needs one gradient per seed layer");
    if (mode != RECTIFIER_EXACT && mode != RECTIFIER_GUIDED && mode != RECTIFIER_DECONVNET)
        CV_Error(Error::StsBadArg, format("explain: unknown rectifier mode %d", (int)mode));

    ensureKept(seedLayers, wrtLayers);
    std::map<Pin, Blob> gradAt;
    std::vector<char> isSeed(nodes.size(), 0);
    for (size_t i = 0; i < seedLayers.size(); i++)
    {
        int id = findLayer(seedLayers[i]);
        const MatShape outShape = nodes[id].info.outputShapes.at(0);
        const Mat& g = seedGrads[i];
        if (g.depth() != CV_32F || g.total() != (size_t)dnn::total(outShape))
            CV_Error(Error::StsBadArg, "explain: the gradient for " + describeLayer(nodes[id].info) +
                                           " has shape " + shapeToString(dnn::shape(g)) +
                                           " but its output has shape " + shapeToString(outShape) +
                                           " (float32 expected)");
        checkFinite(g, "the gradient for " + describeLayer(nodes[id].info));
        Blob seed;
        seed.host = g.clone().reshape(1, outShape);
        if (onDevice)
            seed.umat();  // the seed goes to the device once
        accumulate(gradAt, Pin(id, 0), seed);
        isSeed[id] = 1;
    }

    std::vector<Pin> wrtPins;
    for (const String& name : wrtLayers)
        wrtPins.push_back(wrtPin(name));

    // Layers whose inputs depend on a wanted pin, and layers that feed a seed: only their
    // intersection is on the gradient path.
    std::vector<char> downstream(nodes.size(), 0), upstream(nodes.size(), 0);
    auto isWanted = [&](const Pin& p) {
        return std::find(wrtPins.begin(), wrtPins.end(), p) != wrtPins.end();
    };
    for (int id : topo)
        for (const Pin& p : nodes[id].inputPins)
            if (isWanted(p) || (p.first != 0 && downstream[p.first]))
                downstream[id] = 1;
    for (auto it = topo.rbegin(); it != topo.rend(); ++it)
    {
        int id = *it;
        upstream[id] = isSeed[id];
        for (const auto& outConsumers : nodes[id].consumers)
            for (const Pin& c : outConsumers)
                upstream[id] = upstream[id] || upstream[c.first];
    }

    for (auto it = topo.rbegin(); it != topo.rend(); ++it)
    {
        int id = *it;
        if (!downstream[id] || !upstream[id])
            continue;
        Node& node = nodes[id];
        const size_t numOutputs = acts[id].size();
        std::vector<Blob> outGrads(numOutputs);
        bool any = false;
        for (size_t o = 0; o < numOutputs; o++)
        {
            auto g = gradAt.find(Pin(id, (int)o));
            if (g != gradAt.end())
            {
                outGrads[o] = g->second;
                any = true;
                if (!isWanted(g->first))
                    gradAt.erase(g);  // no longer needed: keeps memory to the live frontier
            }
            else
                outGrads[o].host = Mat::zeros((int)node.info.outputShapes[o].size(), node.info.outputShapes[o].data(), CV_32F);
        }
        if (!any)
            continue;
        std::vector<bool> need;
        for (const Pin& p : node.inputPins)
            need.push_back(isWanted(p) || (p.first != 0 && downstream[p.first]));
        if (!node.rule)
            node.rule = createBackwardRule(node.info);
        std::vector<Blob> inGrads = runRule(node, outGrads, need, mode);
        for (size_t j = 0; j < node.inputPins.size(); j++)
        {
            if (!need[j])
                continue;
            const MatShape& inShape = node.info.inputShapes.at(j);
            if (inGrads[j].empty() || inGrads[j].total() != (size_t)dnn::total(inShape) || inGrads[j].type() != CV_32F)
                CV_Error(Error::StsInternal, "explain: the backward rule of " + describeLayer(node.info) +
                                                 format(" returned no float32 gradient of the input %d shape",
                                                        (int)j));
            accumulate(gradAt, node.inputPins[j], inGrads[j].reshaped(inShape));
        }
    }

    results.clear();
    for (const Pin& w : wrtPins)
    {
        auto g = gradAt.find(w);
        Blob r;
        if (g != gradAt.end())
            r = g->second;
        else
        {
            const MatShape shape = w.first == 0 ? dnn::shape(acts[0].at(w.second)) : nodes[w.first].info.outputShapes.at(w.second);
            r.host = Mat::zeros((int)shape.size(), shape.data(), CV_32F);
        }
        results.push_back(r);
    }
}

void BackpropImpl::accumulate(std::map<Pin, Blob>& gradAt, const Pin& pin, Blob g)
{
    auto it = gradAt.find(pin);
    if (it == gradAt.end())
    {
        gradAt[pin] = g;
        return;
    }
    Blob& acc = it->second;
    Blob sum;  // a new buffer: g or the old one may be shared
    if (acc.onDevice() && g.onDevice())
    {
        // 2D views: cv::add takes its OpenCL path for 2D arrays
        UMat a = as2D(acc.device, 1), b = as2D(g.device, 1), c;
        add(a, b, c);
        sum.device = c.reshape(1, acc.device.dims, acc.device.size.p);
    }
    else
        sum.host = acc.mat() + g.mat();
    acc = sum;
}

const Mat& BackpropImpl::hostAct(const Pin& p) const
{
    Mat& m = acts[p.first].at(p.second);
    if (m.empty() && p.first < (int)deviceActs.size() && (int)deviceActs[p.first].size() > p.second)
    {
        m = deviceActs[p.first][p.second].getMat(ACCESS_READ).clone();
        countHostRoundTrip();
    }
    return m;
}

UMat BackpropImpl::deviceAct(const Pin& p) const
{
    if (p.first == 0)
        return p.second < (int)deviceInputs.size() ? deviceInputs[p.second] : UMat();
    return (int)deviceActs[p.first].size() > p.second ? deviceActs[p.first][p.second] : UMat();
}

std::vector<Blob> BackpropImpl::runRule(Node& node, std::vector<Blob>& outGrads, const std::vector<bool>& need, RectifierMode mode)
{
    const int id = node.info.id;
    const size_t n = node.inputPins.size();
    std::vector<Blob> result(n);
    if (onDevice)
    {
        bool ready = true;
        std::vector<UMat> in, out, grads, inGrads(n);
        for (const Pin& p : node.inputPins)
        {
            in.push_back(deviceAct(p));
            ready = ready && !in.back().empty();
        }
        for (size_t o = 0; o < outGrads.size(); o++)
        {
            out.push_back(deviceAct(Pin(id, (int)o)));
            if (!outGrads[o].onDevice() && outGrads[o].host.empty() == false && countNonZero(outGrads[o].host.reshape(1, 1)) == 0)
                outGrads[o].device = UMat::zeros(outGrads[o].host.dims, outGrads[o].host.size.p, CV_32F);
            grads.push_back(outGrads[o].device);
            ready = ready && !out.back().empty() && !grads.back().empty();
        }
        if (ready && node.rule->backwardOCL(in, out, grads, need, mode, inGrads))
        {
            for (size_t j = 0; j < n; j++)
                result[j].device = inGrads[j];
            return result;
        }
    }
    std::vector<Mat> in, out, grads, inGrads(n);
    for (const Pin& p : node.inputPins)
        in.push_back(hostAct(p));
    // When nothing else holds the output gradient (not a wanted result, not shared), its buffer is
    // offered as the input gradient: element-wise rules then work in place (less memory traffic).
    const Mat& g0 = outGrads.empty() ? Mat() : outGrads[0].host;
    const bool offerBuffer = n == 1 && outGrads.size() == 1 && dynamic_cast<InPlaceCapable*>(node.rule.get()) &&
                             !outGrads[0].onDevice() && g0.u &&
                             g0.u->refcount == 1 && g0.isContinuous() && g0.type() == CV_32F &&
                             g0.total() == (size_t)dnn::total(node.info.inputShapes.at(0));
    for (size_t o = 0; o < outGrads.size(); o++)
    {
        out.push_back(hostAct(Pin(id, (int)o)));
        grads.push_back(outGrads[o].mat());
    }
    if (offerBuffer)
        inGrads[0] = grads[0].reshape(1, node.info.inputShapes[0]);
    node.rule->backward(in, out, grads, need, mode, inGrads);
    for (size_t j = 0; j < n; j++)
        result[j].host = inGrads[j];
    return result;
}

}}} // namespace cv::explain::detail
