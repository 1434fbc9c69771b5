// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// The registry of backward rules, keyed by Layer::type (like cv::dnn::LayerFactory).
#include "precomp.hpp"
#include <mutex>

namespace cv {
namespace explain {

BackwardRule::~BackwardRule() {}

bool BackwardRule::backwardOCL(const std::vector<UMat>&, const std::vector<UMat>&, const std::vector<UMat>&,
                               const std::vector<bool>&, RectifierMode, std::vector<UMat>&)
{
    return false;
}

bool BackwardRule::computesInPlace() const
{
    return false;
}

void BackwardRule::verifyForward(const std::vector<Mat>&, const std::vector<Mat>&) const {}

int BackwardRule::activationsRead() const
{
    return READS_INPUTS | READS_OUTPUTS;
}

namespace {

std::mutex& registryMutex()
{
    static std::mutex m;
    return m;
}

// Built-in families fill the map on first use; later registrations by the user replace them.
RuleMap& registry()
{
    static RuleMap rules = [] {
        RuleMap r;
        registerActivationRules(r);
        registerConvolutionRules(r);
        registerPoolingRules(r);
        registerFullyConnectedRules(r);
        registerElementwiseRules(r);
        registerShapeRules(r);
        registerNormalizationRules(r);
        registerResamplingRules(r);
        registerRecurrentRules(r);
        registerAttentionRules(r);
        return r;
    }();
    return rules;
}

} // namespace

void registerBackwardRule(const String& layerType, BackwardRuleFactory factory)
{
    if (layerType.empty())
        CV_Error(Error::StsBadArg, "explain: registerBackwardRule needs a non-empty layer type");
    if (!factory)
        CV_Error(Error::StsNullPtr, "explain: registerBackwardRule(\"" + layerType + "\") got a null factory");
    std::lock_guard<std::mutex> lock(registryMutex());
    registry()[layerType] = factory;
}

bool hasBackwardRule(const String& layerType)
{
    std::lock_guard<std::mutex> lock(registryMutex());
    return registry().count(layerType) > 0;
}

std::vector<String> getBackwardRuleTypes()
{
    std::lock_guard<std::mutex> lock(registryMutex());
    std::vector<String> types;
    for (const auto& kv : registry())
        types.push_back(kv.first);
    return types;
}

std::string describeLayer(const LayerInfo& info)
{
    return "layer '" + info.name + "' (" + info.type + ")";
}

/** Layers whose outputs do not depend differentiably on their inputs: post-processing that picks,
    sorts or counts (ArgMax, NMS in DetectionOutput, region decoding). Layers whose output depends only
    on their inputs' shapes (PriorBox) are constants instead: see shape_layers.cpp. */
bool isNonDifferentiable(const std::string& type)
{
    static const char* types[] = {"Arg", "DetectionOutput", "Region", "Proposal", "Compare", "Ceil", "Floor",
                                  "Round", "Sign", "Not"};
    for (const char* t : types)
        if (type == t)
            return true;
    return false;
}

Ptr<BackwardRule> createBackwardRule(const LayerInfo& info)
{
    if (isNonDifferentiable(info.type))
        CV_Error(Error::StsNotImplemented,
                 "explain: " + describeLayer(info) + " is not differentiable (post-processing or a constant); "
                 "use the output of a layer before it as the target, e.g. the raw scores or box regressions it reads");
    BackwardRuleFactory factory = nullptr;
    {
        std::lock_guard<std::mutex> lock(registryMutex());
        auto it = registry().find(info.type);
        if (it != registry().end())
            factory = it->second;
    }
    if (!factory)
        CV_Error(Error::StsNotImplemented,
                 "explain: no backward rule for " + describeLayer(info) +
                 " on the gradient path; register one with cv::explain::registerBackwardRule(\"" +
                 info.type + "\", factory), or choose a target layer after it");
    Ptr<BackwardRule> rule = factory(info);
    if (!rule)
        CV_Error(Error::StsNullPtr, "explain: the backward rule factory for " + describeLayer(info) +
                                        " returned null");
    return rule;
}

}} // namespace cv::explain
