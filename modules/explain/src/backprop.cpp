// The backward engine: reads the graph of a loaded cv::dnn::Net, runs its forward pass keeping the
// per-layer outputs, then walks only the layers between the target and the wanted gradients in
// reverse topological order, calling one BackwardRule per layer.
#include "precomp.hpp"
#include "layers/layer_utils.hpp"
#include "ocl_ops.hpp"
#include <opencv2/core/ocl.hpp>
#include <algorithm>
#include <cstring>
#include <sstream>

namespace cv {
namespace explain {

Backprop::~Backprop() {}

namespace {

typedef std::pair<int, int> Pin;  // (layer id, output index)

std::string shapeToString(const MatShape& shape)
{
    std::ostringstream s;
    s << "[";
    for (size_t i = 0; i < shape.size(); i++)
        s << (i ? " x " : "") << shape[i];
    s << "]";
    return s.str();
}

void checkFinite(const Mat& m, const std::string& what)
{
    if (!checkRange(m, true, nullptr, -FLT_MAX, FLT_MAX))
        CV_Error(Error::StsOutOfRange, "explain: " + what + " contains NaN or Inf values");
}

/** An activation or gradient, on the host (Mat) or on the OpenCL device (UMat); copies between the
    two are counted (ocl_ops.hpp), so that tests can check the device path makes none it should not. */
struct Blob
{
    Mat host;
    UMat device;
    bool onDevice() const { return !device.empty(); }
    bool empty() const { return host.empty() && device.empty(); }
    size_t total() const { return onDevice() ? device.total() : host.total(); }
    int type() const { return onDevice() ? device.type() : host.type(); }
    Mat& mat()
    {
        if (host.empty() && !device.empty())
        {
            host = device.getMat(ACCESS_READ).clone();
            countHostRoundTrip();
        }
        return host;
    }
    UMat& umat()
    {
        if (device.empty() && !host.empty())
        {
            host.copyTo(device);
            countHostRoundTrip();
        }
        return device;
    }
    Blob reshaped(const MatShape& s) const
    {
        Blob b;
        if (onDevice())
            b.device = device.reshape(1, (int)s.size(), s.data());
        else
            b.host = host.reshape(1, s);
        return b;
    }
};

struct Node
{
    LayerInfo info;
    std::vector<int> producers;     // producer layer ids, in input order
    std::vector<Pin> inputPins;     // producer outputs, resolved after the first forward pass
    std::vector<std::vector<Pin> > consumers;  // per output: (consumer id, input index)
    Ptr<BackwardRule> rule;         // created on first use
    bool valid = false;
};

class BackpropImpl CV_FINAL : public Backprop
{
public:
    explicit BackpropImpl(const dnn::Net& net_) : net(net_)
    {
        if (net.empty())
            CV_Error(Error::StsBadArg, "explain: the Net is empty; read a model (e.g. cv::dnn::readNet) first");
        readGraph();
    }

    void forward(InputArray blob, const String& inputName) CV_OVERRIDE
    {
        forwardInputs(std::vector<Mat>{blob.getMat()}, std::vector<String>{inputName});
    }

    void forwardInputs(InputArrayOfArrays blobs_, const std::vector<String>& names) CV_OVERRIDE
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

    void keepOnly(const std::vector<String>& seedLayers, const std::vector<String>& wrtLayers) CV_OVERRIDE
    {
        std::vector<int> seeds, wrt;
        for (const String& n : seedLayers)
            seeds.push_back(findLayer(n));
        for (const String& n : wrtLayers)
            wrt.push_back(wrtPin(n).first);
        keep.assign(nodes.size(), 0);
        addToPlan(seeds, wrt);
    }

    void keepAll() CV_OVERRIDE
    {
        keep.clear();
    }

    Mat getActivation(const String& layerName, int outputIndex) const CV_OVERRIDE
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

    const LayerInfo& getLayerInfo(const String& layerName) const CV_OVERRIDE
    {
        return nodes[findLayer(layerName)].info;
    }

    std::vector<String> getLayerNames() const CV_OVERRIDE
    {
        std::vector<String> names;
        for (int id : topo)
            names.push_back(nodes[id].info.name);
        return names;
    }

    std::vector<std::pair<int, int> > getLayerInputPins(const String& layerName) const CV_OVERRIDE
    {
        int id = findLayer(layerName);
        requireForward();
        return nodes[id].inputPins;
    }

    void backwardBlobs(const std::vector<String>& seedLayers, const std::vector<Mat>& seedGrads,
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

    void backward(const std::vector<String>& seedLayers, const std::vector<Mat>& seedGrads,
                  const std::vector<String>& wrtLayers, std::vector<Mat>& grads,
                  RectifierMode mode) CV_OVERRIDE
    {
        std::vector<Blob> results;
        backwardBlobs(seedLayers, seedGrads, wrtLayers, results, mode);
        grads.clear();
        for (Blob& r : results)
            grads.push_back(r.mat());
    }

    void backward(const std::vector<String>& seedLayers, const std::vector<Mat>& seedGrads,
                  const std::vector<String>& wrtLayers, std::vector<UMat>& grads,
                  RectifierMode mode) CV_OVERRIDE
    {
        std::vector<Blob> results;
        backwardBlobs(seedLayers, seedGrads, wrtLayers, results, mode);
        grads.clear();
        for (Blob& r : results)
            grads.push_back(r.umat());
    }

    bool isOnDevice() const CV_OVERRIDE
    {
        return onDevice;
    }

    UMat getDeviceActivation(const String& layerName) CV_OVERRIDE
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

private:
    /** Runs the Net, requesting the outputs of the planned layers (cv::dnn then keeps each in a buffer
        of its own until the next forward pass with the same request). */
    void run(const std::vector<Mat>& inputs)
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

    /** Adds to the plan every layer whose activations the gradient from `seeds` to `wrt` needs:
        the layers on the path (found per layer, a superset of the per-output path), their producers,
        and, because cv::dnn's fusion absorbs a layer into a producer with one consumer whatever is
        requested (e.g. conv -> BN -> ReLU), every producer reached through single-consumer links. */
    void addToPlan(const std::vector<int>& seeds, const std::vector<int>& wrt)
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

    /** Re-runs the forward pass with a wider plan when a backward pass needs more than was kept. */
    void ensureKept(const std::vector<String>& seedLayers, const std::vector<String>& wrtLayers)
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

    static void accumulate(std::map<Pin, Blob>& gradAt, const Pin& pin, Blob g)
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

    /** A layer's activation on the host; in device mode copied from the device once. */
    const Mat& hostAct(const Pin& p) const
    {
        Mat& m = acts[p.first].at(p.second);
        if (m.empty() && p.first < (int)deviceActs.size() && (int)deviceActs[p.first].size() > p.second)
        {
            m = deviceActs[p.first][p.second].getMat(ACCESS_READ).clone();
            countHostRoundTrip();
        }
        return m;
    }

    /** A layer's activation on the device, or an empty UMat. */
    UMat deviceAct(const Pin& p) const
    {
        if (p.first == 0)
            return p.second < (int)deviceInputs.size() ? deviceInputs[p.second] : UMat();
        return (int)deviceActs[p.first].size() > p.second ? deviceActs[p.first][p.second] : UMat();
    }

    /** Runs a layer's rule: its OpenCL version when everything is on the device and it has one,
        otherwise the CPU version (copying what is on the device to the host, counted). */
    std::vector<Blob> runRule(Node& node, std::vector<Blob>& outGrads, const std::vector<bool>& need, RectifierMode mode)
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

    int findLayer(const String& name) const
    {
        auto it = idByName.find(name);
        if (it == idByName.end())
            CV_Error(Error::StsObjectNotFound, "explain: the Net has no layer named '" + name + "'");
        return it->second;
    }

    void requireForward() const
    {
        if (acts.empty())
            CV_Error(Error::StsError, "explain: call forward() with an input blob first");
        if (!isLatestForward())
        {
            std::vector<Mat> inputs = acts[0];  // references of its own: run() replaces acts
            const_cast<BackpropImpl*>(this)->run(inputs);
        }
    }

    /** A few values of every kept activation, spread over each blob. The activations share the Net's
        buffers, which a later forward pass requesting the same outputs (another Backprop on this Net,
        say) writes again; then the values differ and requireForward() re-runs this pass. */
    std::vector<float> sampleActivations() const
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
    bool isLatestForward() const
    {
        const std::vector<float> now = sampleActivations();
        return now.size() == forwardSamples.size() &&
               (now.empty() || std::memcmp(now.data(), forwardSamples.data(), now.size() * sizeof(float)) == 0);
    }

    void readGraph()
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

    // cv::dnn tells only which layer feeds which; for producers with several outputs the output
    // index is found from the consumer's input shapes, and where shapes tie, by replaying the
    // consumer's own forward() on each candidate and comparing with its recorded output.
    void resolvePins()
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

    /** The candidate output of input j's producer that reproduces the consumer's recorded output. */
    int replay(int id, size_t j, const std::vector<int>& candidates)
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

    /** The shape of a layer output (or net input) in the last forward pass. */
    MatShape outputShape(const Pin& p) const
    {
        return p.first == 0 ? dnn::shape(acts[0].at(p.second)) : nodes[p.first].info.outputShapes.at(p.second);
    }

    /** cv::dnn protects only output 0 of a layer from in-place consumers: recompute Slice and Split
        outputs from their input so that every recorded output is the layer's true output. In device
        mode this also gives the outputs after the first, which the UMat forward pass does not return. */
    void recomputeSliceOutputs(const Node& node)
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
                std::vector<int> strides(inShape.size(), 1);
                for (int d = (int)inShape.size() - 2; d >= 0; d--)
                    strides[d] = strides[d + 1] * inShape[d + 1];
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

    /** Shapes of every layer for this input shape (from cv::dnn's shape inference, so also for
        layers whose activations are not kept); rules are recreated when shapes change. */
    void updateShapes(const std::vector<MatShape>& inputShapes)
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

    /** A wanted gradient: "" is the explained net input, a layer name its output 0, and an input
        name of a multi-input Net that input. */
    Pin wrtPin(const String& name) const
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

    dnn::Net net;
    std::vector<Node> nodes;
    std::map<String, int> idByName;
    std::vector<int> topo;
    std::vector<int> orderedIds;
    std::vector<String> orderedNames;
    mutable std::vector<std::vector<Mat> > acts;  // host copies (in device mode made on demand)
    std::vector<std::vector<UMat> > deviceActs;    // device mode: activations on the OpenCL device
    std::vector<UMat> deviceInputs;
    bool onDevice = false;
    std::vector<float> forwardSamples;  // sampleActivations() after the last forward pass
    std::vector<int> consumerCount;  // consumers per layer (any output)
    std::vector<char> keep;          // layers whose activations forward() keeps; empty: all
    std::vector<MatShape> lastInputShapes;
    std::vector<String> inputNames;  // the names the inputs were set with, by input index
    int inputIndex = 0;
};

} // namespace

Ptr<Backprop> Backprop::create(const dnn::Net& net)
{
    return makePtr<BackpropImpl>(net);
}

}} // namespace cv::explain
