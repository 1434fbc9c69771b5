// The implementation class of cv::explain::Backprop, shared by its source files: backprop.cpp
// (the public API, the keep plan and the forward pass), backprop_backward.cpp (the backward pass)
// and backprop_graph.cpp (reading the Net's graph and resolving which producer output feeds each
// layer input).
#ifndef OPENCV_EXPLAIN_BACKPROP_IMPL_HPP
#define OPENCV_EXPLAIN_BACKPROP_IMPL_HPP

#include "precomp.hpp"
#include "ocl_ops.hpp"

namespace cv {
namespace explain {
namespace detail {

typedef std::pair<int, int> Pin;  // (layer id, output index)

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
    explicit BackpropImpl(const dnn::Net& net_);

    void forward(InputArray blob, const String& inputName) CV_OVERRIDE;

    void forwardInputs(InputArrayOfArrays blobs_, const std::vector<String>& names) CV_OVERRIDE;

    void keepOnly(const std::vector<String>& seedLayers, const std::vector<String>& wrtLayers) CV_OVERRIDE;

    void keepAll() CV_OVERRIDE
    {
        keep.clear();
    }

    Mat getActivation(const String& layerName, int outputIndex) const CV_OVERRIDE;

    const LayerInfo& getLayerInfo(const String& layerName) const CV_OVERRIDE
    {
        return nodes[findLayer(layerName)].info;
    }

    std::vector<String> getLayerNames() const CV_OVERRIDE;

    std::vector<std::pair<int, int> > getLayerInputPins(const String& layerName) const CV_OVERRIDE;

    void backwardBlobs(const std::vector<String>& seedLayers, const std::vector<Mat>& seedGrads,
                       const std::vector<String>& wrtLayers, std::vector<Blob>& results, RectifierMode mode);

    void backward(const std::vector<String>& seedLayers, const std::vector<Mat>& seedGrads,
                  const std::vector<String>& wrtLayers, std::vector<Mat>& grads,
                  RectifierMode mode) CV_OVERRIDE;

    void backward(const std::vector<String>& seedLayers, const std::vector<Mat>& seedGrads,
                  const std::vector<String>& wrtLayers, std::vector<UMat>& grads,
                  RectifierMode mode) CV_OVERRIDE;

    bool isOnDevice() const CV_OVERRIDE
    {
        return onDevice;
    }

    UMat getDeviceActivation(const String& layerName) CV_OVERRIDE;

private:
    /** Runs the Net, requesting the outputs of the planned layers (cv::dnn then keeps each in a buffer
        of its own until the next forward pass with the same request). */
    void run(const std::vector<Mat>& inputs);

    /** Adds to the plan every layer whose activations the gradient from `seeds` to `wrt` needs:
        the layers on the path (found per layer, a superset of the per-output path), their producers,
        and, because cv::dnn's fusion absorbs a layer into a producer with one consumer whatever is
        requested (e.g. conv -> BN -> ReLU), every producer reached through single-consumer links. */
    void addToPlan(const std::vector<int>& seeds, const std::vector<int>& wrt);

    /** Re-runs the forward pass with a wider plan when a backward pass needs more than was kept. */
    void ensureKept(const std::vector<String>& seedLayers, const std::vector<String>& wrtLayers);

    static void accumulate(std::map<Pin, Blob>& gradAt, const Pin& pin, Blob g);

    /** A layer's activation on the host; in device mode copied from the device once. */
    const Mat& hostAct(const Pin& p) const;

    /** A layer's activation on the device, or an empty UMat. */
    UMat deviceAct(const Pin& p) const;

    /** Runs a layer's rule: its OpenCL version when everything is on the device and it has one,
        otherwise the CPU version (copying what is on the device to the host, counted). */
    std::vector<Blob> runRule(Node& node, std::vector<Blob>& outGrads, const std::vector<bool>& need, RectifierMode mode);

    int findLayer(const String& name) const;

    void requireForward() const;

    /** A few values of every kept activation, spread over each blob. The activations share the Net's
        buffers, which a later forward pass requesting the same outputs (another Backprop on this Net,
        say) writes again; then the values differ and requireForward() re-runs this pass. */
    std::vector<float> sampleActivations() const;

    bool isLatestForward() const;

    void readGraph();

    // cv::dnn tells only which layer feeds which; for producers with several outputs the output
    // index is found from the consumer's input shapes, and where shapes tie, by replaying the
    // consumer's own forward() on each candidate and comparing with its recorded output.
    void resolvePins();

    /** The candidate output of input j's producer that reproduces the consumer's recorded output. */
    int replay(int id, size_t j, const std::vector<int>& candidates);

    /** The shape of a layer output (or net input) in the last forward pass. */
    MatShape outputShape(const Pin& p) const;

    /** cv::dnn protects only output 0 of a layer from in-place consumers: recompute Slice and Split
        outputs from their input so that every recorded output is the layer's true output. In device
        mode this also gives the outputs after the first, which the UMat forward pass does not return. */
    void recomputeSliceOutputs(const Node& node);

    /** Shapes of every layer for this input shape (from cv::dnn's shape inference, so also for
        layers whose activations are not kept); rules are recreated when shapes change. */
    void updateShapes(const std::vector<MatShape>& inputShapes);

    /** A wanted gradient: "" is the explained net input, a layer name its output 0, and an input
        name of a multi-input Net that input. */
    Pin wrtPin(const String& name) const;

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

}}} // namespace cv::explain::detail

#endif
