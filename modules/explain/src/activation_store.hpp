// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// The activations of one forward pass, on the host (Mat) or the OpenCL device (UMat), and the
// bookkeeping that tells whether they are still the Net's current ones.
//
// On the host the store keeps cv::dnn's own output buffers without copying them. cv::dnn writes those
// buffers again only in a later forward pass that requests the very same outputs (a different request
// makes it allocate new buffers, and the old ones live on in the store). Every forward pass this module
// runs on a Net goes through a NetRecord, which counts the passes per request: a store whose request
// was run again since its own pass is stale, and its owner runs the pass again. A forward pass of the
// user's own with the same request is not counted; a check of sampled values catches it.
#ifndef OPENCV_EXPLAIN_ACTIVATION_STORE_HPP
#define OPENCV_EXPLAIN_ACTIVATION_STORE_HPP

#include "net_graph.hpp"
#include <memory>
#include <mutex>

namespace cv {
namespace explain {
namespace detail {

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
    /** The host data (copied from the device once, counted). */
    Mat& mat();
    /** The device data (copied from the host once, counted). */
    UMat& umat();
    Blob reshaped(const MatShape& s) const;
};

/** What every explainer on one cv::dnn::Net shares: a lock that serializes their use of the Net, and
    the number of forward passes run so far per requested output list. */
class NetRecord
{
public:
    /** The record of a Net (one per Net, however many explainers use it). */
    static std::shared_ptr<NetRecord> of(const dnn::Net& net);

    std::recursive_mutex& mutex() { return lock; }
    /** Counts a forward pass requesting `outputs`; returns its number for that request. */
    uint64 countPass(const std::vector<String>& outputs);
    /** The number of passes run so far requesting `outputs`. */
    uint64 passes(const std::vector<String>& outputs) const;
    /** Whether a pass of an explainer kept and verified every layer of this Net (see
        compat::fusionCanGoStale: once is enough, the packed weights do not change afterwards). */
    bool everyLayerVerified() const { return verifiedAll; }
    void setEveryLayerVerified() { verifiedAll = true; }

private:
    bool verifiedAll = false;
    std::recursive_mutex lock;
    std::map<std::vector<String>, uint64> passCount;
};

class ActivationStore
{
public:
    explicit ActivationStore(int layerCount) : acts(layerCount), deviceActs(layerCount) {}

    /** Takes the outputs of a host forward pass (`outs[i]` of layer `ids[i]`) and the net inputs. */
    void setHost(const std::vector<int>& ids, const std::vector<std::vector<Mat> >& outs,
                 const std::vector<Mat>& inputs);
    /** Takes the outputs of a device forward pass (output 0 of each layer). */
    void setDevice(const std::vector<int>& ids, const std::vector<UMat>& outs, const std::vector<Mat>& inputs,
                   const std::vector<int>& outputCounts);
    /** Drops every activation and input held (empty() afterwards). */
    void clear();
    /** Records which pass of which request the activations come from (see NetRecord). */
    void setOrigin(const std::vector<String>& request, uint64 pass);

    bool empty() const { return acts.empty() || acts[0].empty(); }
    bool onDevice() const { return device; }
    const std::vector<Mat>& inputs() const { return acts[0]; }
    /** The number of outputs kept for a layer (0: not kept). */
    size_t outputCount(int id) const { return acts[id].size(); }
    /** A layer's activation on the host; in device mode copied from the device once (counted). An empty
        Mat for an output the plan did not keep. */
    const Mat& host(const Pin& p) const;
    /** The depth of a layer's activation, without copying it (CV_32F when it is not kept). */
    int depthOf(const Pin& p) const;
    /** A layer's activation on the device, or an empty UMat. */
    UMat deviceAct(const Pin& p) const;
    /** Replaces the outputs of a layer (the Slice/Split outputs recomputed from their input). */
    void setOutputs(int id, const std::vector<Mat>& outs) { acts[id] = outs; }
    void setDeviceOutputs(int id, const std::vector<UMat>& outs) { deviceActs[id] = outs; }

    /** Whether the activations are those of the Net's latest pass with their request. */
    bool isCurrent(const NetRecord& record) const;

private:
    void reset(const std::vector<Mat>& inputs, bool onDevice);
    std::vector<float> sampleValues() const;

    mutable std::vector<std::vector<Mat> > acts;  // host; in device mode copies made on demand
    std::vector<std::vector<UMat> > deviceActs;
    std::vector<UMat> deviceInputs;
    bool device = false;
    std::vector<String> request;
    uint64 pass = 0;
    std::vector<float> samples;  // sampleValues() right after the pass
};

}}} // namespace cv::explain::detail

#endif
