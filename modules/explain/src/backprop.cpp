// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// cv::explain::Backprop: the public API over the engine's stages (see backprop_impl.hpp), the input
// checks, and the forward pass (host or OpenCL device mode).
#include "backprop_impl.hpp"
#include "input_pins.hpp"
#include "keep_plan.hpp"
#include "ocl_ops.hpp"
#include "opencv_compat.hpp"
#include <algorithm>
#include <set>

namespace cv {
namespace explain {

Backprop::~Backprop() {}

namespace detail {

typedef std::lock_guard<std::recursive_mutex> NetLock;

static dnn::Net checkedNet(const dnn::Net& net)
{
    if (net.empty())
        CV_Error(Error::StsBadArg, "explain: the Net is empty; read a model (e.g. cv::dnn::readNet) first");
    return net;
}

BackpropImpl::BackpropImpl(const dnn::Net& net_)
    : net(checkedNet(net_)), graph(net), record(NetRecord::of(net)), infos(graph.size()),
      rules(graph.size()), unverifiable(graph.size(), 0), store(graph.size())
{
    for (int id = 0; id < graph.size(); id++)
    {
        const GraphLayer& l = graph.layer(id);
        if (!l.valid)
            continue;
        infos[id].id = id;
        infos[id].name = l.name;
        infos[id].type = l.type;
        infos[id].layer = l.layer;
    }
}

void BackpropImpl::forward(InputArray blob, const String& inputName)
{
    forwardInputs(std::vector<Mat>{blob.getMat()}, std::vector<String>{inputName});
}

/** The blobs by net input index, checked (the caller's own Mats: forwardInputs copies them). */
static std::vector<Mat> inputsByIndex(const std::vector<Mat>& blobs, const std::vector<String>& names,
                                      dnn::Layer& netInput, std::vector<String>& nameByIndex, int& firstIndex)
{
    if (blobs.empty() || (blobs.size() > 1 && blobs.size() != names.size()))
        CV_Error(Error::StsBadArg, "explain: forwardInputs needs one name per blob");
    std::vector<Mat> byIndex;
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
        const int index = name.empty() ? 0 : netInput.outputNameToIndex(name);
        if (index < 0)
            CV_Error(Error::StsBadArg, "explain: the Net has no input named '" + name + "'");
        if ((int)byIndex.size() <= index)
        {
            byIndex.resize(index + 1);
            nameByIndex.resize(index + 1);
        }
        if (!byIndex[index].empty())
            CV_Error(Error::StsBadArg, format("explain: the Net input %d ('%s') is given twice", index, name.c_str()));
        byIndex[index] = blobs[i];
        nameByIndex[index] = name;
        if (i == 0)
            firstIndex = index;
    }
    for (size_t i = 0; i < byIndex.size(); i++)
        if (byIndex[i].empty())
            CV_Error(Error::StsBadArg, format("explain: the Net input %d was not given; pass every input "
                                              "of a multi-input Net with its name", (int)i));
    return byIndex;
}

void BackpropImpl::forwardInputs(InputArrayOfArrays blobs_, const std::vector<String>& names)
{
    std::vector<Mat> blobs;
    blobs_.getMatVector(blobs);
    std::vector<String> nameByIndex;
    int first = 0;
    std::vector<Mat> byIndex = inputsByIndex(blobs, names, *infos[0].layer, nameByIndex, first);
    NetLock lock(record->mutex());
    // The last pass's input copies go before this pass makes its own (at 896 px, 10 MB each); a pass
    // that fails from here on leaves no forward pass behind.
    store.clear();
    for (Mat& m : byIndex)
        m = m.clone();  // the caller's blobs are never touched; a stale store runs the pass again from these
    inputNames = nameByIndex;
    inputIndex = first;
    std::vector<MatShape> shapes;
    for (const Mat& m : byIndex)
        shapes.push_back(dnn::shape(m));
    updateShapes(shapes);
    if (!keep.empty())
        keep = planFromRequests();  // the rules made for these shapes say what they read
    run(byIndex);
}

bool BackpropImpl::inferShapes(InputArrayOfArrays blobs_, const std::vector<String>& names)
{
    if (graph.isProgram())
        return false;
    std::vector<Mat> blobs;
    blobs_.getMatVector(blobs);
    std::vector<String> nameByIndex;
    int first = 0;
    std::vector<MatShape> shapes;
    for (const Mat& m : inputsByIndex(blobs, names, *infos[0].layer, nameByIndex, first))
        shapes.push_back(dnn::shape(m));
    NetLock lock(record->mutex());
    try
    {
        updateShapes(shapes);
    }
    catch (const cv::Exception&)
    {
        return false;  // the forward pass reports it
    }
    for (int id : graph.order())
    {
        if (infos[id].outputShapes.empty())
            return false;
        for (const MatShape& s : infos[id].outputShapes)
            for (int d : s)
                if (d <= 0)
                    return false;
    }
    return true;
}

void BackpropImpl::keepOnly(const std::vector<String>& seedLayers, const std::vector<String>& wrtLayers)
{
    keep.assign(graph.size(), 0);
    planRequests.clear();
    plan(seedLayers, wrtLayers, false);
}

void BackpropImpl::keepAlso(const std::vector<String>& layers)
{
    NetLock lock(record->mutex());
    requireForward();
    plan({}, layers, true);
}

Mat BackpropImpl::getActivation(const String& layerName, int outputIndex)
{
    const int id = graph.find(layerName);
    NetLock lock(record->mutex());
    requireForward();
    if (!keep.empty() && !keep[id])
        CV_Error(Error::StsError, "explain: the activations of " + describeLayer(infos[id]) +
                                      " were not kept by the last forward(); call keepAll() or keepOnly() first");
    if (store.host(Pin(id, outputIndex)).empty())
        CV_Error(Error::StsOutOfRange, format("explain: %s has no output %d", describeLayer(infos[id]).c_str(), outputIndex));
    return store.host(Pin(id, outputIndex));
}

std::vector<String> BackpropImpl::layersBetween(const String& from, const String& to)
{
    const int source = graph.find(from), sink = graph.find(to);
    NetLock lock(record->mutex());
    requireForward();
    const std::vector<char> marks = graph.layersBetween(inputPins, {Pin(source, ANY_OUTPUT)}, {sink});
    std::vector<String> names;
    for (int id : graph.order())
        if (marks[id])
            names.push_back(infos[id].name);
    return names;
}

BackpropImpl& BackpropImpl::of(Backprop& bp)
{
    BackpropImpl* impl = dynamic_cast<BackpropImpl*>(&bp);
    CV_Assert(impl && "a Backprop made by Backprop::create()");
    return *impl;
}

std::vector<String> BackpropImpl::getLayerNames() const
{
    std::vector<String> names;
    for (int id : graph.order())
        names.push_back(infos[id].name);
    return names;
}

std::vector<std::pair<int, int> > BackpropImpl::getLayerInputPins(const String& layerName)
{
    const int id = graph.find(layerName);
    NetLock lock(record->mutex());
    requireForward();
    return inputPins[id];
}

void BackpropImpl::backward(const std::vector<String>& seedLayers, const std::vector<Mat>& seedGrads,
                            const std::vector<String>& wrtLayers, std::vector<Mat>& grads, RectifierMode mode)
{
    std::vector<Blob> results = backwardBlobs(seedLayers, seedGrads, wrtLayers, mode);
    grads.clear();
    for (Blob& r : results)
        grads.push_back(r.mat());
}

void BackpropImpl::backward(const std::vector<String>& seedLayers, const std::vector<Mat>& seedGrads,
                            const std::vector<String>& wrtLayers, std::vector<UMat>& grads, RectifierMode mode)
{
    std::vector<Blob> results = backwardBlobs(seedLayers, seedGrads, wrtLayers, mode);
    grads.clear();
    for (Blob& r : results)
        grads.push_back(r.umat());
}

std::vector<Blob> BackpropImpl::backwardBlobs(const std::vector<String>& seedLayers, const std::vector<Mat>& seedGrads,
                                              const std::vector<String>& wrtLayers, RectifierMode mode)
{
    NetLock lock(record->mutex());
    requireForward();
    if (seedLayers.empty() || seedLayers.size() != seedGrads.size())
        CV_Error(Error::StsBadArg, "explain: backward needs one gradient per seed layer");
    if (mode != RECTIFIER_EXACT && mode != RECTIFIER_GUIDED && mode != RECTIFIER_DECONVNET)
        CV_Error(Error::StsBadArg, format("explain: unknown rectifier mode %d", (int)mode));
    const std::vector<Seed> seeds = makeSeeds(seedLayers, seedGrads);
    plan(seedLayers, wrtLayers, true);
    std::vector<Pin> wanted;
    for (const String& name : wrtLayers)
        wanted.push_back(wrtPin(name));
    checkFiniteSeeds(seeds);
    std::vector<Blob> results = BackwardPass(graph, infos, inputPins, store, rules).run(seeds, wanted, mode);
    checkFiniteResults(seeds, wanted, mode, results);
    return results;
}

void BackpropImpl::checkFiniteSeeds(const std::vector<Seed>& seeds)
{
    if (store.onDevice())
        return;  // the device path makes no host copies to check
    for (const Seed& s : seeds)
        if (!allFinite(store.host(Pin(s.layer, 0))))
            reportNonFiniteActivations();
}

void BackpropImpl::checkFiniteResults(const std::vector<Seed>& seeds, const std::vector<Pin>& wanted,
                                      RectifierMode mode, std::vector<Blob>& results)
{
    for (Blob& r : results)
        if (!r.onDevice() && !allFinite(r.host))
        {
            reportNonFiniteActivations();
            BackwardPass(graph, infos, inputPins, store, rules).run(seeds, wanted, mode, true);
            CV_Error(Error::StsOutOfRange, "explain: the gradient holds NaN or Inf values");  // not located
        }
}

void BackpropImpl::reportNonFiniteActivations()
{
    NetLock lock(record->mutex());
    const bool keptAll = keep.empty();
    if (!keptAll)
    {
        keep.clear();
        run(store.inputs());
    }
    for (int id : graph.order())
        for (size_t o = 0; o < store.outputCount(id); o++)
        {
            const Mat& m = store.host(Pin(id, (int)o));
            if (!m.empty() && m.depth() == CV_32F && !allFinite(m))
                CV_Error(Error::StsOutOfRange, "explain: the forward pass gives NaN or Inf values, first at the output "
                                               "of " + describeLayer(infos[id]) + "; check the input blob's scale and "
                                               "the model's weights");
        }
}

std::vector<Seed> BackpropImpl::makeSeeds(const std::vector<String>& seedLayers, const std::vector<Mat>& seedGrads) const
{
    std::vector<Seed> seeds;
    for (size_t i = 0; i < seedLayers.size(); i++)
    {
        const int id = graph.find(seedLayers[i]);
        const MatShape outShape = infos[id].outputShapes.at(0);
        const Mat& g = seedGrads[i];
        // the elements count, channels included: cv2 hands a 3-D numpy array N x T x C over as an N x T Mat
        // of C channels (the same floats in the same order)
        if (g.depth() != CV_32F || g.total() * g.channels() != (size_t)dnn::total(outShape))
            CV_Error(Error::StsBadArg, "explain: the gradient for " + describeLayer(infos[id]) + " has shape " +
                                           shapeToString(dnn::shape(g)) +
                                           (g.channels() > 1 ? format(" of %d channels", g.channels()) : String()) +
                                           " but its output has shape " + shapeToString(outShape) + " (float32 expected)");
        checkFinite(g, "the gradient for " + describeLayer(infos[id]));
        const Mat out = store.onDevice() ? Mat() : store.host(Pin(id, 0));
        if (!out.empty() && out.depth() != CV_32F)
        {
            if (hasBackwardRule(infos[id].type) || isNonDifferentiable(infos[id].type))
                createBackwardRule(infos[id]);  // the refusal of the layer (e.g. Arg) says best why
            CV_Error(Error::StsBadArg, "explain: " + describeLayer(infos[id]) + " outputs " + typeToString(out.type()) +
                                           " values, not float32: there is no gradient to take from it");
        }
        seeds.push_back(Seed{id, g.clone().reshape(1, outShape)});
    }
    return seeds;
}

UMat BackpropImpl::getDeviceActivation(const String& layerName)
{
    const int id = graph.find(layerName);
    NetLock lock(record->mutex());
    requireForward();
    UMat u = store.onDevice() ? store.deviceAct(Pin(id, 0)) : UMat();
    if (!u.empty())
        return u;
    getActivation(layerName, 0).copyTo(u);
    countHostRoundTrip();
    return u;
}

bool BackpropImpl::wantsDevice(const std::vector<int>& ids) const
{
    bool openclTarget = false, outputsKnown = true;
    for (int id : ids)
    {
        const LayerInfo& info = infos[id];
        openclTarget = openclTarget || info.layer->preferableTarget == dnn::DNN_TARGET_OPENCL;
        outputsKnown = outputsKnown && (info.outputShapes.size() <= 1 ||
                                        (graph.layer(id).producers.size() == 1 &&
                                         (info.type == "Slice" || info.type == "Split")));
    }
    // asking whether OpenCL is in use loads its runtime (~60 MB): ask only for Nets on an OpenCL target
    return openclTarget && outputsKnown && openclInUse();
}

void BackpropImpl::run(std::vector<Mat> inputs)
{
    if (graph.isProgram())
    {
        runProgram(inputs);
        return;
    }
    std::vector<String> names;
    std::vector<int> ids;
    const bool verifyAll = compat::fusionCanGoStale() && !record->everyLayerVerified();
    compat::keepWeightsUnfolded(net);
    for (int id : graph.order())
        if (keep.empty() || keep[id] || verifyAll)
        {
            names.push_back(infos[id].name);
            ids.push_back(id);
        }
    // Layers learn the Net's target when it is set up, i.e. in the first forward pass: if that
    // one ran on the host but the Net turns out to run on OpenCL, it runs again on the device.
    const bool onDevice = wantsDevice(ids);
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
    const uint64 pass = record->countPass(names);
    std::vector<MatShape> inputShapes;
    for (const Mat& m : inputs)
        inputShapes.push_back(dnn::shape(m));
    updateShapes(inputShapes, true);  // dynamic axes: what the layers learned in this pass
    if (!onDevice && wantsDevice(ids))
    {
        run(inputs);
        return;
    }
    if (onDevice)
        store.setDevice(ids, deviceOuts, inputs, outputCounts());
    else
        store.setHost(ids, outs, inputs);
    inputPins = InputPinResolver(graph, infos, store, inputIndex).resolve();
    store.setOrigin(names, pass);
    if (!onDevice)
        verifyForward(ids);
    if (verifyAll)
        record->setEveryLayerVerified();
}

void BackpropImpl::runProgram(const std::vector<Mat>& inputs)
{
    try
    {
        compat::runProgram(graph.program(), inputs, programBuffers);
    }
    catch (const cv::Exception& e)
    {
        CV_Error(Error::StsBadArg, "explain: the forward pass failed for an input blob of shape " +
                                       shapeToString(dnn::shape(inputs[inputIndex])) + ": " + e.err);
    }
    const std::vector<std::vector<Mat> >& raw = programBuffers.outputs;
    inputPins = graph.producerPins();
    std::vector<int> ids;
    std::vector<std::vector<Mat> > kept;  // the planned layers' outputs, blocked layouts made plain
    for (size_t k = 0; k < raw.size(); k++)
    {
        const int id = (int)k + 1;
        std::vector<MatShape> in, out;
        for (const Pin& p : inputPins[id])  // producers come first in the program: their shapes are set
            in.push_back(p.first == 0 ? dnn::shape(inputs.at(p.second)) : infos[p.first].outputShapes.at(p.second));
        for (const Mat& m : raw[k])
            out.push_back(compat::plainShape(m));
        if (in != infos[id].inputShapes || out != infos[id].outputShapes)
        {
            infos[id].inputShapes = in;
            infos[id].outputShapes = out;
            rules[id].release();  // rules may depend on shapes
            unverifiable[id] = 0;
        }
        if (!keep.empty() && !keep[id])
            continue;
        ids.push_back(id);
        kept.emplace_back();
        for (const Mat& m : raw[k])
            kept.back().push_back(compat::plainBlob(m));
    }
    store.setHost(ids, kept, inputs);
    // the outputs are this explainer's own buffers, which no other forward pass writes
    const std::vector<String> request = {format("explain: program run of %p", (const void*)this)};
    store.setOrigin(request, record->countPass(request));
    verifyForward(ids);
}

void BackpropImpl::verifyForward(const std::vector<int>& ids)
{
    try
    {
        for (int id : ids)
        {
            if (!rules[id] && !unverifiable[id])
            {
                try
                {
                    if (hasBackwardRule(infos[id].type))
                        rules[id] = createBackwardRule(infos[id]);
                }
                catch (const cv::Exception&)
                {
                    // refused with this error if a gradient ever has to pass the layer
                }
                unverifiable[id] = !rules[id];  // not tried again until the shapes change
            }
            if (!rules[id])
                continue;
            std::vector<Mat> ins, outs;
            for (const Pin& p : inputPins[id])  // an input whose producer is not kept stays empty
                ins.push_back(store.host(p));
            for (size_t o = 0; o < store.outputCount(id); o++)
                outs.push_back(store.host(Pin(id, (int)o)));
            rules[id]->verifyForward(ins, outs);
        }
    }
    catch (const cv::Exception&)
    {
        if (!graph.isProgram())
            compat::restoreFusion(net);  // the packed weights hold what fusion folded: the user's passes need it
        throw;
    }
}

std::vector<int> BackpropImpl::outputCounts() const
{
    std::vector<int> counts(infos.size(), 0);
    for (size_t id = 0; id < infos.size(); id++)
        counts[id] = (int)infos[id].outputShapes.size();
    return counts;
}

std::unique_ptr<ActivationNeeds> BackpropImpl::activationNeeds()
{
    // cv::dnn's OpenCL target fuses a subset of what its CPU target fuses, plus a convolution with the
    // residual sum and rectifier after it, which it skips when either of those is requested: the same plan
    // holds there. Other targets keep everything.
    for (int id : graph.order())  // (a program's constants have no layer object)
        if (infos[id].layer && infos[id].layer->preferableTarget != dnn::DNN_TARGET_CPU &&
            infos[id].layer->preferableTarget != dnn::DNN_TARGET_OPENCL)
            return nullptr;
    std::unique_ptr<ActivationNeeds> needs(new ActivationNeeds);
    needs->reads.assign(graph.size(), BackwardRule::READS_INPUTS | BackwardRule::READS_OUTPUTS);
    needs->fusionSafe.assign(graph.size(), 0);
    std::vector<std::vector<int> > consumers(graph.size());
    for (int id : graph.order())
        for (int p : graph.layer(id).producers)
            consumers[p].push_back(id);
    for (int id : graph.order())
    {
        needs->fusionSafe[id] = fusionSafe(id, consumers);
        if (!rules[id] && !infos[id].inputShapes.empty() && hasBackwardRule(infos[id].type))
        {
            try
            {
                rules[id] = createBackwardRule(infos[id]);
            }
            catch (const cv::Exception&)
            {
                // refused when a gradient has to pass the layer; until then it reads everything
            }
        }
        if (rules[id])
            needs->reads[id] = rules[id]->activationsRead();
    }
    return needs;
}

bool BackpropImpl::fusionSafe(int id, const std::vector<std::vector<int> >& consumers) const
{
    // the new engine's program runs every layer as it is; where fusion can go stale this module turns
    // it off for its passes (compat::keepWeightsUnfolded)
    if (graph.isProgram() || compat::fusionCanGoStale())
        return true;
    // cv::dnn 4.6 fuses a chain (a convolution with the BatchNorm, Scale, activation or Concat after it)
    // from a layer whose output is not requested and which has one consumer: a requested output is its own
    // unless the chain can go on past it, i.e. unless it has one consumer, of a type a chain can take in
    if (consumers[id].size() != 1)
        return true;
    static const std::set<String> neverFused = {"Convolution", "Deconvolution", "Pooling", "InnerProduct",
                                                "Softmax", "LRN", "Flatten", "Reshape", "Permute"};
    return neverFused.count(infos[consumers[id][0]].type) > 0;
}

void BackpropImpl::plan(const std::vector<String>& seedLayers, const std::vector<String>& wrtLayers, bool rerun)
{
    if (keep.empty())
        return;  // everything is kept already
    std::vector<int> seeds;
    std::vector<Pin> wanted;
    for (const String& n : seedLayers)
        seeds.push_back(graph.find(n));
    for (const String& n : wrtLayers)
        wanted.push_back(Pin(wrtPin(n).first, ANY_OUTPUT));
    const auto request = std::make_pair(seeds, wanted);
    if (std::find(planRequests.begin(), planRequests.end(), request) != planRequests.end())
        return;  // the plan covers it already (every backward call of an explainer asks again)
    planRequests.push_back(request);
    const std::unique_ptr<ActivationNeeds> needs = activationNeeds();
    std::vector<char> widened = widenKeepPlan(graph, outputCounts(), keep, seeds, wanted, needs.get());
    if (widened == keep)
        return;
    keep.swap(widened);
    if (!rerun)
        return;
    try
    {
        run(store.inputs());
    }
    catch (...)
    {
        // the activations are still those of the narrower plan (or, when the pins failed, not current):
        // keep that plan, so that the next call widens it again instead of reading what was never kept
        keep.swap(widened);
        planRequests.pop_back();
        throw;
    }
}

std::vector<char> BackpropImpl::planFromRequests()
{
    const std::unique_ptr<ActivationNeeds> needs = activationNeeds();
    std::vector<char> plan(graph.size(), 0);
    for (const auto& request : planRequests)
        plan = widenKeepPlan(graph, outputCounts(), plan, request.first, request.second, needs.get());
    return plan;
}

void BackpropImpl::requireForward()
{
    if (store.empty())
        CV_Error(Error::StsError, "explain: call forward() with an input blob first");
    if (!store.isCurrent(*record))
        run(store.inputs());
}

void BackpropImpl::updateShapes(const std::vector<MatShape>& inputShapes, bool settled)
{
    if (graph.isProgram() || (inputShapes == lastInputShapes && (shapesSettled || !settled)))
        return;  // a program's shapes are those of its outputs (runProgram)
    std::vector<int> ids;
    std::vector<std::vector<MatShape> > in, out;
    try
    {
        compat::getLayersShapes(net, inputShapes, ids, in, out);
    }
    catch (const cv::Exception& e)
    {
        CV_Error(Error::StsBadArg, "explain: the forward pass failed for an input blob of shape " +
                                       shapeToString(inputShapes[inputIndex]) + ": " + e.err);
    }
    for (size_t i = 0; i < ids.size(); i++)
    {
        if (ids[i] <= 0 || ids[i] >= graph.size() || !graph.layer(ids[i]).valid)
            continue;
        infos[ids[i]].inputShapes = in[i];
        infos[ids[i]].outputShapes = out[i];
        rules[ids[i]].release();  // rules may depend on shapes
        unverifiable[ids[i]] = 0;
    }
    lastInputShapes = inputShapes;
    shapesSettled = settled;
}

Pin BackpropImpl::wrtPin(const String& name) const
{
    if (name.empty())
        return Pin(0, inputIndex);
    if (graph.has(name))
        return Pin(graph.find(name), 0);
    const int index = infos[0].layer->outputNameToIndex(name);
    if (index >= 0 && index < (int)store.inputs().size())
        return Pin(0, index);
    return Pin(graph.find(name), 0);  // throws, naming the layer
}

} // namespace detail

Ptr<Backprop> Backprop::create(const dnn::Net& net)
{
    return makePtr<detail::BackpropImpl>(net);
}

}} // namespace cv::explain
