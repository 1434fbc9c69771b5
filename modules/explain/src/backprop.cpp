// The backward engine: reads the graph of a loaded cv::dnn::Net, runs its forward pass keeping the
// per-layer outputs, then walks only the layers between the target and the wanted gradients in
// reverse topological order, calling one BackwardRule per layer.
// This file holds the public API, the keep plan (which layers' activations a forward pass keeps)
// and the forward pass itself (host or OpenCL device mode, and the guard that notices when
// another forward pass on the same Net overwrote the kept activations); the backward pass is in
// backprop_backward.cpp and the graph reading in backprop_graph.cpp.
#include "backprop_impl.hpp"
#include <opencv2/core/ocl.hpp>
#include <algorithm>
#include <cstring>

namespace cv {
namespace explain {

Backprop::~Backprop() {}

namespace detail {

BackpropImpl::BackpropImpl(const dnn::Net& net_) : net(net_)
{
    if (net.empty())
        CV_Error(Error::StsBadArg, "explain: the Net is empty; read a model (e.g. cv::dnn::readNet) first");
    readGraph();
}

void BackpropImpl::forward(InputArray blob, const String& inputName)
{
    forwardInputs(std::vector<Mat>{blob.getMat()}, std::vector<String>{inputName});
}

void BackpropImpl::forwardInputs(InputArrayOfArrays blobs_, const std::vector<String>& names)
{
    std::vector<Mat> blobs;
    blobs_.getMatVector(blobs);
    if (blobs.empty() || (blobs.size() > 1 && blobs.size() != names.size()))
        CV_Error(Error::StsBadArg, "explain: forwardInputs needs one name per blob");
    std::vector<Mat> byIndex;
    std::vector<String> nameByIndex;
    for (size_t i = 0; i < blobs.size(); i++)
    {
        const String name = i < names.size() ? names[i] : String();
        const std::string what = blobs.size() == 1 ? "the input blob" : "the input blob '" + name + "'";
        if (blobs[i].empty())
            CV_Error(Error::StsBadArg, "explain: " + what + " is empty");
        if (blobs[i].depth() != CV_32F)
            CV_Error(Error::StsBadArg, format("explain: %s must be float32 (CV_32F), got depth %d; "
                                              "use cv::dnn::blobFromImage", what.c_str(), blobs[i].depth()));
        checkFinite(blobs[i], what);
        int index = 0;
        if (!name.empty())
        {
            index = nodes[0].info.layer->outputNameToIndex(name);
            if (index < 0)
                CV_Error(Error::StsBadArg, "explain: the Net has no input named '" + name + "'");
        }
        if ((int)byIndex.size() <= index)
        {
            byIndex.resize(index + 1);
            nameByIndex.resize(index + 1);
        }
        byIndex[index] = blobs[i].clone();  // the caller's blobs are never touched
        nameByIndex[index] = name;
        if (i == 0)
            inputIndex = index;
    }
    for (size_t i = 0; i < byIndex.size(); i++)
        if (byIndex[i].empty())
            CV_Error(Error::StsBadArg, format("explain: the Net input %d was not given; pass every input "
                                              "of a multi-input Net with its name", (int)i));
    inputNames = nameByIndex;
    std::vector<MatShape> shapes;
    for (const Mat& m : byIndex)
        shapes.push_back(dnn::shape(m));
    updateShapes(shapes);
    run(byIndex);
}

void BackpropImpl::keepOnly(const std::vector<String>& seedLayers, const std::vector<String>& wrtLayers)
{
    std::vector<int> seeds, wrt;
    for (const String& n : seedLayers)
        seeds.push_back(findLayer(n));
    for (const String& n : wrtLayers)
        wrt.push_back(wrtPin(n).first);
    keep.assign(nodes.size(), 0);
    addToPlan(seeds, wrt);
}

Mat BackpropImpl::getActivation(const String& layerName, int outputIndex) const
{
    int id = findLayer(layerName);
    requireForward();
    if (!keep.empty() && !keep[id])
        CV_Error(Error::StsError, "explain: the activations of " + describeLayer(nodes[id].info) +
                                      " were not kept by the last forward(); call keepAll() or keepOnly() first");
    if (outputIndex < 0 || outputIndex >= (int)acts[id].size() || hostAct(Pin(id, outputIndex)).empty())
        CV_Error(Error::StsOutOfRange, format("explain: %s has no output %d",
                                              describeLayer(nodes[id].info).c_str(), outputIndex));
    return acts[id][outputIndex];
}

std::vector<String> BackpropImpl::getLayerNames() const
{
    std::vector<String> names;
    for (int id : topo)
        names.push_back(nodes[id].info.name);
    return names;
}

std::vector<std::pair<int, int> > BackpropImpl::getLayerInputPins(const String& layerName) const
{
    int id = findLayer(layerName);
    requireForward();
    return nodes[id].inputPins;
}

void BackpropImpl::backward(const std::vector<String>& seedLayers, const std::vector<Mat>& seedGrads,
                            const std::vector<String>& wrtLayers, std::vector<Mat>& grads,
                            RectifierMode mode)
{
    std::vector<Blob> results;
    backwardBlobs(seedLayers, seedGrads, wrtLayers, results, mode);
    grads.clear();
    for (Blob& r : results)
        grads.push_back(r.mat());
}

void BackpropImpl::backward(const std::vector<String>& seedLayers, const std::vector<Mat>& seedGrads,
                            const std::vector<String>& wrtLayers, std::vector<UMat>& grads,
                            RectifierMode mode)
{
    std::vector<Blob> results;
    backwardBlobs(seedLayers, seedGrads, wrtLayers, results, mode);
    grads.clear();
    for (Blob& r : results)
        grads.push_back(r.umat());
}

UMat BackpropImpl::getDeviceActivation(const String& layerName)
{
    int id = findLayer(layerName);
    requireForward();
    if (onDevice && !deviceActs[id].empty())
        return deviceActs[id][0];
    UMat u;
    getActivation(layerName, 0).copyTo(u);
    countHostRoundTrip();
    return u;
}

void BackpropImpl::run(const std::vector<Mat>& inputs)
{
    std::vector<String> names;
    std::vector<int> ids;
    for (int id : topo)
        if (keep.empty() || keep[id])
        {
            names.push_back(nodes[id].info.name);
            ids.push_back(id);
        }
    // Device mode: the Net runs on OpenCL; activations then stay on the device. The UMat forward
    // returns first outputs only: the layers with several outputs must be Slice or Split, whose
    // outputs are recomputed from their input (recomputeSliceOutputs).
    // Layers learn the Net's target when it is set up, i.e. in the first forward pass: if that
    // one ran on the host but the Net turns out to run on OpenCL, it runs again on the device.
    auto wantsDevice = [&]() {
        bool openclTarget = false, outputsKnown = true;
        for (int id : ids)
        {
            const Node& node = nodes[id];
            openclTarget = openclTarget || node.info.layer->preferableTarget == dnn::DNN_TARGET_OPENCL;
            outputsKnown = outputsKnown && (node.info.outputShapes.size() <= 1 ||
                                            (node.producers.size() == 1 &&
                                             (node.info.type == "Slice" || node.info.type == "Split")));
        }
        // asking whether OpenCL is in use loads its runtime (~60 MB): ask only for Nets on an OpenCL target
        return openclTarget && outputsKnown && openclInUse();
    };
    onDevice = wantsDevice();
    std::vector<std::vector<Mat> > outs;
    std::vector<UMat> deviceOuts;
    try
    {
        for (size_t i = 0; i < inputs.size(); i++)
            net.setInput(inputs[i], inputNames[i]);
        if (onDevice)
            net.forward(deviceOuts, names);
        else
            net.forward(outs, names);
    }
    catch (const cv::Exception& e)
    {
        CV_Error(Error::StsBadArg, "explain: the forward pass failed for an input blob of shape " +
                                       shapeToString(dnn::shape(inputs[inputIndex])) + ": " + e.err);
    }
    if (!onDevice && wantsDevice())
    {
        run(inputs);
        return;
    }
    acts.assign(nodes.size(), std::vector<Mat>());
    acts[0] = inputs;
    deviceActs.assign(nodes.size(), std::vector<UMat>());
    deviceInputs.clear();
    if (onDevice)
    {
        CV_Assert(deviceOuts.size() == names.size());
        for (size_t i = 0; i < ids.size(); i++)
        {
            deviceActs[ids[i]].push_back(deviceOuts[i].clone());
            // host copies are made only if a CPU rule needs them
            acts[ids[i]].assign(std::max<size_t>(1, nodes[ids[i]].info.outputShapes.size()), Mat());
        }
        for (const Mat& m : inputs)
        {
            UMat u;
            m.copyTo(u);
            deviceInputs.push_back(u);
        }
        countHostRoundTrip(inputs.size());
    }
    else
    {
        // Kept as they are, without copies: the requested outputs are buffers cv::dnn reuses for no
        // other layer; only a later forward pass requesting the same outputs writes them again, and
        // requireForward() re-runs ours when that happened (see sampleActivations).
        CV_Assert(outs.size() == names.size());
        for (size_t i = 0; i < ids.size(); i++)
            acts[ids[i]] = outs[i];
    }
    resolvePins();
    forwardSamples = sampleActivations();
}

void BackpropImpl::addToPlan(const std::vector<int>& seeds, const std::vector<int>& wrt)
{
    if (keep.empty())
        return;  // everything is kept already
    std::vector<char> down(nodes.size(), 0), up(nodes.size(), 0);
    for (int w : wrt)
        down[w] = 1;
    for (int id : topo)
        for (int p : nodes[id].producers)
            down[id] = down[id] || down[p];
    for (int sd : seeds)
        up[sd] = 1;
    for (auto it = topo.rbegin(); it != topo.rend(); ++it)
        if (up[*it])
            for (int p : nodes[*it].producers)
                up[p] = 1;
    std::vector<int> stack;
    auto add = [&](int id) {
        if (id > 0 && !keep[id])
        {
            keep[id] = 1;
            stack.push_back(id);
        }
    };
    for (int id : topo)
        if ((down[id] && up[id]) || std::find(seeds.begin(), seeds.end(), id) != seeds.end() ||
            std::find(wrt.begin(), wrt.end(), id) != wrt.end())
        {
            add(id);
            if (down[id] && up[id])
                for (int p : nodes[id].producers)
                    add(p);
        }
    while (!stack.empty())
    {
        const int id = stack.back();
        stack.pop_back();
        const bool multiOutput = nodes[id].info.outputShapes.size() > 1;
        for (int p : nodes[id].producers)
            if (p > 0 && (multiOutput || consumerCount[p] == 1))
                add(p);
    }
}

void BackpropImpl::ensureKept(const std::vector<String>& seedLayers, const std::vector<String>& wrtLayers)
{
    if (keep.empty())
        return;
    std::vector<char> before = keep;
    std::vector<int> seeds, wrt;
    for (const String& n : seedLayers)
        seeds.push_back(findLayer(n));
    for (const String& n : wrtLayers)
        wrt.push_back(wrtPin(n).first);
    addToPlan(seeds, wrt);
    if (keep != before)
    {
        std::vector<Mat> inputs = acts[0];  // references of its own: run() replaces acts
        run(inputs);
    }
}

void BackpropImpl::requireForward() const
{
    if (acts.empty())
        CV_Error(Error::StsError, "explain: call forward() with an input blob first");
    if (!isLatestForward())
    {
        std::vector<Mat> inputs = acts[0];  // references of its own: run() replaces acts
        const_cast<BackpropImpl*>(this)->run(inputs);
    }
}

std::vector<float> BackpropImpl::sampleActivations() const
{
    std::vector<float> samples;
    if (onDevice)
        return samples;  // device mode keeps copies on the device
    for (size_t id = 1; id < acts.size(); id++)
        for (const Mat& m : acts[id])
            if (!m.empty() && m.isContinuous() && m.depth() == CV_32F)
            {
                const size_t total = m.total() * m.channels(), count = std::min<size_t>(total, 8);
                for (size_t k = 0; k < count; k++)
                    samples.push_back(m.ptr<float>()[(total - 1) * k / std::max<size_t>(1, count - 1)]);
            }
    return samples;
}

bool BackpropImpl::isLatestForward() const
{
    const std::vector<float> now = sampleActivations();
    return now.size() == forwardSamples.size() &&
           (now.empty() || std::memcmp(now.data(), forwardSamples.data(), now.size() * sizeof(float)) == 0);
}

} // namespace detail

Ptr<Backprop> Backprop::create(const dnn::Net& net)
{
    return makePtr<detail::BackpropImpl>(net);
}

}} // namespace cv::explain
