// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// The implementation class of cv::explain::Backprop: the public API over the engine's stages, each in
// a file of its own: the layer graph (net_graph), the keep plan (keep_plan), the forward pass's
// activations (activation_store), which producer output feeds each input (input_pins), and the
// backward pass (backward_pass).
#ifndef OPENCV_EXPLAIN_BACKPROP_IMPL_HPP
#define OPENCV_EXPLAIN_BACKPROP_IMPL_HPP

#include "activation_store.hpp"
#include "backward_pass.hpp"
#include "keep_plan.hpp"

namespace cv {
namespace explain {
namespace detail {

class BackpropImpl CV_FINAL : public Backprop
{
public:
    explicit BackpropImpl(const dnn::Net& net_);

    void forward(InputArray blob, const String& inputName) CV_OVERRIDE;
    void forwardInputs(InputArrayOfArrays blobs, const std::vector<String>& names) CV_OVERRIDE;
    /** Infers every layer's shapes for these inputs without running the Net; false where that does not
        give them all (a program's shapes come from its run; dynamic axes may be learned only by running). */
    bool inferShapes(InputArrayOfArrays blobs, const std::vector<String>& names);
    void keepOnly(const std::vector<String>& seedLayers, const std::vector<String>& wrtLayers) CV_OVERRIDE;
    /** Adds the outputs of these layers to the plan (running the forward pass again if it did not keep
        them): for methods that read activations no backward rule reads (Ablation-CAM's rebuilt part). */
    void keepAlso(const std::vector<String>& layers);
    void keepAll() CV_OVERRIDE
    {
        keep.clear();
        planRequests.clear();
    }
    Mat getActivation(const String& layerName, int outputIndex) CV_OVERRIDE;
    const LayerInfo& getLayerInfo(const String& layerName) const CV_OVERRIDE { return infos[graph.find(layerName)]; }
    std::vector<String> getLayerNames() const CV_OVERRIDE;
    std::vector<std::pair<int, int> > getLayerInputPins(const String& layerName) CV_OVERRIDE;
    void backward(const std::vector<String>& seedLayers, const std::vector<Mat>& seedGrads,
                  const std::vector<String>& wrtLayers, std::vector<Mat>& grads, RectifierMode mode) CV_OVERRIDE;
    void backward(const std::vector<String>& seedLayers, const std::vector<Mat>& seedGrads,
                  const std::vector<String>& wrtLayers, std::vector<UMat>& grads, RectifierMode mode) CV_OVERRIDE;
    bool isOnDevice() const CV_OVERRIDE { return store.onDevice(); }
    UMat getDeviceActivation(const String& layerName) CV_OVERRIDE;

    const NetGraph& getGraph() const { return graph; }

    /** This explainer's copy of the first blob of the last forwardInputs() (empty before one): callers
        share it instead of copying the input again. Nothing writes into it. */
    Mat firstInput() const { return store.empty() ? Mat() : store.inputs().at(inputIndex); }

    /** The layers that depend on the output of `from` and feed `to` (to included), in topological
        order, from the input pins of the last forward pass. */
    std::vector<String> layersBetween(const String& from, const String& to);

    /** Throws naming the first layer (in topological order) whose output holds NaN or Inf, running
        the forward pass again keeping every layer when the plan kept fewer; returns when there is none. */
    void reportNonFiniteActivations();

    /** The implementation behind a Backprop made by Backprop::create(). */
    static BackpropImpl& of(Backprop& bp);

private:
    std::vector<Blob> backwardBlobs(const std::vector<String>& seedLayers, const std::vector<Mat>& seedGrads,
                                    const std::vector<String>& wrtLayers, RectifierMode mode);

    std::vector<Seed> makeSeeds(const std::vector<String>& seedLayers, const std::vector<Mat>& seedGrads) const;


    /** Host mode: the seeds' activations (the outputs the target is computed from) and the results
        must be finite; otherwise the error names where NaN or Inf first appeared. */
    void checkFiniteSeeds(const std::vector<Seed>& seeds);
    void checkFiniteResults(const std::vector<Seed>& seeds, const std::vector<Pin>& wanted, RectifierMode mode,
                            std::vector<Blob>& results);

    /** Runs the Net, requesting the outputs of the planned layers (cv::dnn then keeps each in a buffer
        of its own until the next forward pass with the same request). */
    void run(std::vector<Mat> inputs);  // a copy: the store it may come from is replaced

    /** The same on OpenCV 5's new engine: its program run layer by layer (no fusion to guard; the shapes
        are those of the outputs), the planned layers' outputs kept. */
    void runProgram(const std::vector<Mat>& inputs);

    /** Whether the activations should stay on the OpenCL device: the Net runs on OpenCL and every kept
        layer with several outputs is a Slice or Split (the UMat forward returns first outputs only;
        those are recomputed from their input). */
    bool wantsDevice(const std::vector<int>& ids) const;

    /** Widens the plan by what gradients from seeds to wanted layers need; re-runs the forward pass on
        the last input when that changed the plan. */
    void plan(const std::vector<String>& seedLayers, const std::vector<String>& wrtLayers, bool rerun);
    /** The plan for every request so far, with what the rules read now. */
    std::vector<char> planFromRequests();

    /** Makes sure the activations are those of this explainer's last forward pass (another forward
        pass with the same request overwrites cv::dnn's buffers): runs it again otherwise. */
    void requireForward();

    /** Shapes of every layer for this input shape (from cv::dnn's shape inference, so also for
        layers whose activations are not kept); rules are recreated when shapes change. Before the Net's
        first forward pass at new input shapes, a Net with dynamic axes infers some shapes wrongly (its
        layers learn the shapes in that pass): `settled` false marks them to be inferred again after it. */
    void updateShapes(const std::vector<MatShape>& inputShapes, bool settled = false);

    /** A wanted gradient: "" is the explained net input, a layer name its output 0, and an input
        name of a multi-input Net that input. */
    Pin wrtPin(const String& name) const;

    std::vector<int> outputCounts() const;
    /** What the rules of the layers read (keep_plan.hpp), or null where everything is kept: on targets
        other than the CPU and OpenCL. Makes the rules it can. */
    std::unique_ptr<ActivationNeeds> activationNeeds();
    /** Whether a requested output of the layer is its own whatever cv::dnn fuses (ActivationNeeds). */
    bool fusionSafe(int id, const std::vector<std::vector<int> >& consumers) const;

    /** Lets the rule of each kept layer check that cv::dnn computed the layer as the rule assumes
        (BackwardRule::verifyForward); on an error gives fusion back to the Net (compat::restoreFusion). */
    void verifyForward(const std::vector<int>& ids);

    dnn::Net net;
    NetGraph graph;
    std::shared_ptr<NetRecord> record;
    std::vector<LayerInfo> infos;           // by layer id, with the shapes of the last forward pass
    std::vector<Ptr<BackwardRule> > rules;  // by layer id, created on first use
    std::vector<char> unverifiable;         // by layer id: no rule to check its forward pass with (for these shapes)
    ActivationStore store;
    std::vector<std::vector<Pin> > inputPins;  // resolved after each forward pass
    std::vector<char> keep;                 // layers whose activations forward() keeps; empty: all
    // the (seeds, wanted) gradients the plan is for, so that it is made again when the rules can say what
    // they read (after the shapes are known)
    std::vector<std::pair<std::vector<int>, std::vector<Pin> > > planRequests;
    compat::ProgramBuffers programBuffers;  // the new engine: the outputs and scratch space its runs reuse
    std::vector<MatShape> lastInputShapes;
    bool shapesSettled = false;             // lastInputShapes' shapes were inferred after a forward pass at them
    std::vector<String> inputNames;         // the names the inputs were set with, by input index
    int inputIndex = 0;
};

}}} // namespace cv::explain::detail

#endif
