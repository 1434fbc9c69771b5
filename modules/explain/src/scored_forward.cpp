// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// The forward pass shared by GradCAM and InputAttribution: scores, class seeds and the explained input.
#include "scored_forward.hpp"
#include "backprop_impl.hpp"

namespace cv {
namespace explain {
namespace detail {

ScoredForward::ScoredForward(const dnn::Net& net, const Ptr<Backprop>& bp, const String& scoreLayerName,
                             const char* owner)
    : net_(net), record_(NetRecord::of(net)), bp_(bp), scoreLayer_(scoreLayerName), owner_(owner)
{
    if (scoreLayer_.empty())
        scoreLayer_ = defaultScoreLayer();
    else
        bp_->getLayerInfo(scoreLayer_);  // throws on an unknown name
}

void ScoredForward::forwardInputs(const std::vector<Mat>& blobs, const std::vector<String>& names,
                                  OutputArray scoresOut)
{
    auto guard = lock();
    scores_.release();
    input_.release();  // before the pass, which replaces the copy it shares
    bp_->forwardInputs(blobs, names);
    Mat s = bp_->getActivation(scoreLayer_);
    if (!allFinite(s))
    {
        BackpropImpl::of(*bp_).reportNonFiniteActivations();
        checkFinite(s, "the scores of layer '" + scoreLayer_ + "'");
    }
    input_ = BackpropImpl::of(*bp_).firstInput();
    inputName_ = names.empty() ? String() : names[0];
    singleInput_ = blobs.size() == 1;
    // one row of scores per image: a Net whose output does not follow the batch (a fixed-batch reshape,
    // say) would otherwise give one map for several images
    const int n = blobs[0].dims > 0 ? blobs[0].size[0] : 1;
    if (n > 1 && (s.dims == 0 || s.size[0] != n))
        CV_Error(Error::StsBadArg, format("explain: the scores of layer '%s' have shape %s for a batch of %d images; "
                                          "the output must have one row per image (or explain one image at a time)",
                                          scoreLayer_.c_str(), shapeToString(dnn::shape(s)).c_str(), n));
    scores_ = s.reshape(1, n).clone();  // s shares the Net's buffer
    if (scoresOut.needed())
        scores_.copyTo(scoresOut);
}

void ScoredForward::requireForward() const
{
    if (scores_.empty())
        CV_Error(Error::StsError, format("explain: call %s::forward() with an input blob first", owner_));
}

void ScoredForward::requireSingleInput(const char* method) const
{
    if (!singleInput_)
        CV_Error(Error::StsNotImplemented, std::string("explain: ") + method + " needs a single-input Net");
}

Mat ScoredForward::classSeed(int classId) const
{
    requireForward();
    const int classes = scores_.cols;
    if (classId < -1 || classId >= classes)
        CV_Error(Error::StsOutOfRange,
                 format("explain: class index %d is out of range [0, %d) of the scores of layer '%s' "
                        "(-1 picks the top class)", classId, classes, scoreLayer_.c_str()));
    Mat seed = Mat::zeros(scores_.size(), CV_32F);
    for (int n = 0; n < scores_.rows; n++)
    {
        Point top(classId, 0);
        if (classId < 0)
            minMaxLoc(scores_.row(n), nullptr, nullptr, nullptr, &top);
        seed.at<float>(n, top.x) = 1.f;
    }
    return seed;
}

std::vector<int> ScoredForward::classesFor(int classId) const
{
    Mat seed = classSeed(classId);  // validates the index
    std::vector<int> classes;
    for (int n = 0; n < seed.rows; n++)
    {
        Point p;
        minMaxLoc(seed.row(n), nullptr, nullptr, nullptr, &p);
        classes.push_back(p.x);
    }
    return classes;
}

Ptr<Backprop> ScoredForward::auxiliary()
{
    if (!aux_)
        aux_ = Backprop::create(net_);
    return aux_;
}

String ScoredForward::defaultScoreLayer() const
{
    const NetGraph& graph = BackpropImpl::of(*bp_).getGraph();
    if (graph.outputs().empty())
        CV_Error(Error::StsError, "explain: the Net has no output layer");
    const GraphLayer& l = graph.layer(graph.outputs().back());
    if (isSoftmaxLayer(*l.layer) && l.producers.size() == 1 && l.producers[0] > 0)
        return graph.layer(l.producers[0]).name;
    return l.name;
}

}}} // namespace cv::explain::detail
