// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// One backward pass over the kept activations (see backward_pass.hpp).
#include "backward_pass.hpp"
#include "ocl_ops.hpp"
#include "layers/layer_utils.hpp"
#include <algorithm>

namespace cv {
namespace explain {
namespace detail {

std::vector<Blob> BackwardPass::run(const std::vector<Seed>& seeds, const std::vector<Pin>& wanted, RectifierMode mode,
                                    bool checkEachStep)
{
    std::vector<int> seedLayers;
    for (const Seed& s : seeds)
    {
        Blob seed;
        seed.host = s.grad;
        if (store.onDevice())
            seed.umat();  // the seed goes to the device once
        accumulate(Pin(s.layer, 0), seed);
        seedLayers.push_back(s.layer);
    }
    // integer tensors (shapes, indices, masks computed from them) carry no gradient
    auto carries = [&](const Pin& p) { return store.depthOf(p) == CV_32F; };
    const std::vector<char> onPath = graph.layersBetween(inputPins, wanted, seedLayers, carries);
    auto isWanted = [&](const Pin& p) { return std::find(wanted.begin(), wanted.end(), p) != wanted.end(); };
    for (auto it = graph.order().rbegin(); it != graph.order().rend(); ++it)
    {
        const int id = *it;
        if (!onPath[id])
            continue;
        std::vector<Blob> outGrads = takeOutputGrads(id, wanted);
        if (outGrads.empty())
            continue;
        std::vector<bool> need;
        for (const Pin& p : inputPins[id])
            need.push_back((isWanted(p) || (p.first != 0 && onPath[p.first])) && carries(p));
        if (std::find(need.begin(), need.end(), true) == need.end())
            continue;
        if (!rules[id])
            rules[id] = createBackwardRule(infos[id]);
        std::vector<Blob> inGrads = runRule(id, outGrads, need, mode);
        for (size_t j = 0; j < inputPins[id].size(); j++)
        {
            if (!need[j])
                continue;
            const MatShape& inShape = infos[id].inputShapes.at(j);
            if (inGrads[j].empty() || inGrads[j].total() != (size_t)dnn::total(inShape) || inGrads[j].type() != CV_32F)
                CV_Error(Error::StsInternal, "explain: the backward rule of " + describeLayer(infos[id]) +
                                                 format(" returned no float32 gradient of the input %d shape", (int)j));
            if (checkEachStep && !allFinite(inGrads[j].mat()))
                CV_Error(Error::StsOutOfRange, "explain: the gradient became NaN or Inf in the backward step of " +
                                                   describeLayer(infos[id]) + format(" (input %d)", (int)j));
            accumulate(inputPins[id][j], inGrads[j].reshaped(inShape));
        }
    }
    std::vector<Blob> results;
    for (const Pin& w : wanted)
    {
        auto g = gradAt.find(w);
        Blob r;
        if (g != gradAt.end())
            r = g->second;
        else
        {
            const MatShape shape = w.first == 0 ? dnn::shape(store.inputs().at(w.second)) : infos[w.first].outputShapes.at(w.second);
            r.host = Mat::zeros((int)shape.size(), shape.data(), CV_32F);
        }
        results.push_back(r);
    }
    return results;
}

std::vector<Blob> BackwardPass::takeOutputGrads(int id, const std::vector<Pin>& wanted)
{
    const size_t numOutputs = infos[id].outputShapes.size();  // kept or not
    std::vector<Blob> outGrads(numOutputs);
    bool any = false;
    for (size_t o = 0; o < numOutputs; o++)
    {
        auto g = gradAt.find(Pin(id, (int)o));
        if (g != gradAt.end())
        {
            outGrads[o] = g->second;
            any = true;
            if (std::find(wanted.begin(), wanted.end(), g->first) == wanted.end())
                gradAt.erase(g);  // no longer needed: keeps memory to the live frontier
        }
        else
            outGrads[o].host = Mat::zeros((int)infos[id].outputShapes[o].size(), infos[id].outputShapes[o].data(), CV_32F);
    }
    if (!any)
        outGrads.clear();
    return outGrads;
}

void BackwardPass::accumulate(const Pin& pin, Blob g)
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

bool BackwardPass::runRuleOnDevice(int id, std::vector<Blob>& outGrads, const std::vector<bool>& need,
                                   RectifierMode mode, std::vector<Blob>& result)
{
    const size_t n = inputPins[id].size();
    // what the plan did not keep (the rule does not read it: activationsRead) comes empty
    const int reads = rules[id]->activationsRead();
    const bool readsInputs = (reads & BackwardRule::READS_INPUTS) != 0;
    const bool readsOutputs = (reads & BackwardRule::READS_OUTPUTS) != 0;
    bool ready = true;
    std::vector<UMat> in, out, grads, inGrads(n);
    for (const Pin& p : inputPins[id])
    {
        in.push_back(store.deviceAct(p));
        ready = ready && (!readsInputs || !in.back().empty());
    }
    for (size_t o = 0; o < outGrads.size(); o++)
    {
        out.push_back(store.deviceAct(Pin(id, (int)o)));
        Blob& g = outGrads[o];
        if (!g.onDevice() && !g.host.empty() && countNonZero(g.host.reshape(1, 1)) == 0)
            g.device = UMat::zeros(g.host.dims, g.host.size.p, CV_32F);
        grads.push_back(g.device);
        ready = ready && (!readsOutputs || !out.back().empty()) && !grads.back().empty();
    }
    if (!ready || !rules[id]->backwardOCL(in, out, grads, need, mode, inGrads))
        return false;
    result.assign(n, Blob());
    for (size_t j = 0; j < n; j++)
        result[j].device = inGrads[j];
    return true;
}

bool outputGradientIsFree(const std::vector<Blob>& outGrads, size_t inputTotal)
{
    if (outGrads.size() != 1 || outGrads[0].onDevice())
        return false;
    const Mat& g = outGrads[0].host;  // a reference: a copy would hold the buffer too
    return g.u && g.u->refcount == 1 && g.isContinuous() && g.type() == CV_32F && g.total() == inputTotal;
}

std::vector<Blob> BackwardPass::runRule(int id, std::vector<Blob>& outGrads, const std::vector<bool>& need, RectifierMode mode)
{
    std::vector<Blob> result;
    if (store.onDevice() && runRuleOnDevice(id, outGrads, need, mode, result))
        return result;
    const size_t n = inputPins[id].size();
    std::vector<Mat> in, out, grads, inGrads(n);
    // what the plan did not keep (the rule does not read it: activationsRead) comes empty
    for (const Pin& p : inputPins[id])
        in.push_back(store.host(p));
    // When nothing else holds the output gradient, its buffer is offered as the input gradient: element-wise
    // rules then work in place (less memory traffic, no fresh pages).
    const bool offerBuffer = n == 1 && rules[id]->computesInPlace() &&
                             outputGradientIsFree(outGrads, (size_t)dnn::total(infos[id].inputShapes.at(0)));
    for (size_t o = 0; o < outGrads.size(); o++)
    {
        out.push_back(store.host(Pin(id, (int)o)));
        grads.push_back(outGrads[o].mat());
    }
    if (offerBuffer)
        inGrads[0] = grads[0].reshape(1, infos[id].inputShapes[0]);
    try
    {
        rules[id]->backward(in, out, grads, need, mode, inGrads);
    }
    catch (const cv::Exception& e)
    {
        if (e.err.rfind("explain: ", 0) == 0)
            throw;
        // an OpenCV function the rule called refused its data: say where
        CV_Error(e.code, "explain: the backward rule of " + describeLayer(infos[id]) + " failed: " + e.err);
    }
    result.assign(n, Blob());
    for (size_t j = 0; j < n; j++)
        result[j].host = inGrads[j];
    return result;
}

}}} // namespace cv::explain::detail
