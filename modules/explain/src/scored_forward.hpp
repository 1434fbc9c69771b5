// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// The forward pass that GradCAM and InputAttribution explain: the engine, the score layer, and the
// scores and explained input of the last forward pass. A GradCAM shares one with its input attribution,
// so that one GradCAM::forward() serves the CAM maps and the input attributions alike.
#ifndef OPENCV_EXPLAIN_SCORED_FORWARD_HPP
#define OPENCV_EXPLAIN_SCORED_FORWARD_HPP

#include "precomp.hpp"
#include "activation_store.hpp"

namespace cv {
namespace explain {
namespace detail {

class ScoredForward
{
public:
    /** @param net the user's Net; @param bp its engine; @param scoreLayerName empty for the default
        (see defaultScoreLayer); @param owner the public class, for messages ("GradCAM"). Throws for an
        unknown score layer. */
    ScoredForward(const dnn::Net& net, const Ptr<Backprop>& bp, const String& scoreLayerName, const char* owner);

    /** The lock of the Net, held by every public call of GradCAM and InputAttribution from start to
        end: explainers sharing the Net (in other threads too) never see each other's passes. */
    std::unique_lock<std::recursive_mutex> lock() const { return std::unique_lock<std::recursive_mutex>(record_->mutex()); }

    /** Runs the forward pass, keeps the scores and (shared with the engine) a copy of the explained
        (first) input blob; scores with NaN or Inf are an error naming the first layer that produced one. */
    void forwardInputs(const std::vector<Mat>& blobs, const std::vector<String>& names, OutputArray scores);

    void requireForward() const;

    /** Throws "<method> needs a single-input Net" after a forward pass with several inputs. */
    void requireSingleInput(const char* method) const;

    /** One-hot seed on the score layer: class `classId` of every image, or each image's top class for -1;
        throws for an index out of range. */
    Mat classSeed(int classId) const;

    /** The class of each image: classId, or each image's top class for -1. */
    std::vector<int> classesFor(int classId) const;

    /** A second engine on the same Net for batches of variants of the input (created on first use), so
        that the activations of the last forward pass stay as they are. */
    Ptr<Backprop> auxiliary();

    const dnn::Net& net() const { return net_; }
    const Ptr<Backprop>& backprop() const { return bp_; }
    const String& scoreLayer() const { return scoreLayer_; }
    const Mat& scores() const { return scores_; }
    const Mat& input() const { return input_; }
    const String& inputName() const { return inputName_; }
    bool singleInput() const { return singleInput_; }

private:
    /** The last layer, or its input when it is a Softmax/LogSoftmax. */
    String defaultScoreLayer() const;

    dnn::Net net_;
    std::shared_ptr<NetRecord> record_;
    Ptr<Backprop> bp_, aux_;
    String scoreLayer_;
    const char* owner_;
    Mat scores_;
    Mat input_;  // the explained blob: the engine's copy of it, shared
    String inputName_;
    bool singleInput_ = true;
};

}}} // namespace cv::explain::detail

#endif
