// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// Internal header shared by the implementation files of the explain module.
#ifndef OPENCV_EXPLAIN_PRECOMP_HPP
#define OPENCV_EXPLAIN_PRECOMP_HPP

#include <opencv2/core.hpp>
#include <opencv2/core/utility.hpp>
#include <opencv2/dnn.hpp>
#include <opencv2/dnn/all_layers.hpp>
#include <opencv2/dnn/shape_utils.hpp>
#include "opencv2/explain.hpp"

#include <algorithm>
#include <cfloat>
#include <cstdint>
#include <cstring>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace cv {
namespace explain {
using dnn::DictValue;

/** Hyperparameters the importer passed when a layer instance was created, if this module saw it
    (see param_capture.cpp). Returns false when the layer was created before the module was loaded. */
bool getCapturedParams(const Ptr<dnn::Layer>& layer, dnn::LayerParams& params);

/** The captured hyperparameters of a layer, if any (`known` false: the layer was created before the
    module was loaded, and rules fall back to what the layer's public members tell). */
struct CapturedParams
{
    explicit CapturedParams(const LayerInfo& info) { known = getCapturedParams(info.layer, params); }
    bool known = false;
    dnn::LayerParams params;
};

/** The captured hyperparameters of a layer whose rule needs them (`known` true); throws naming the layer and
    `what` of it was needed when they were not captured. */
CapturedParams requireCapturedParams(const LayerInfo& info, const std::string& what = "parameters");


/** Creates the registered rule for a layer, or throws naming the layer, its type and the remedy. */
Ptr<BackwardRule> createBackwardRule(const LayerInfo& info);
/** Layer types refused as not differentiable (post-processing, rounding, comparisons). */
bool isNonDifferentiable(const std::string& type);

// The built-in rule families, one function per file in src/layers/.
typedef std::map<std::string, BackwardRuleFactory> RuleMap;
void registerActivationRules(RuleMap& rules);
void registerConvolutionRules(RuleMap& rules);
void registerPoolingRules(RuleMap& rules);
void registerFullyConnectedRules(RuleMap& rules);
void registerElementwiseRules(RuleMap& rules);
void registerShapeRules(RuleMap& rules);
void registerNormalizationRules(RuleMap& rules);
void registerResamplingRules(RuleMap& rules);
void registerRecurrentRules(RuleMap& rules);
void registerAttentionRules(RuleMap& rules);

/** "layer 'conv1' (Convolution)" for error messages. */
std::string describeLayer(const LayerInfo& info);

/** "[1 x 3 x 224 x 224]" for error messages. */
inline std::string shapeToString(const MatShape& shape)
{
    std::ostringstream s;
    s << "[";
    for (size_t i = 0; i < shape.size(); i++)
        s << (i ? " x " : "") << shape[i];
    s << "]";
    return s.str();
}

/** Whether m holds no NaN and no infinity. The test of checkRange(m, true, nullptr, -FLT_MAX, FLT_MAX);
    on continuous float32 data as one branch-free loop the compiler vectorizes (checkRange tests element
    by element, a cost that showed in Grad-CAM's profile). */
inline bool allFinite(const Mat& m)
{
    if (m.depth() != CV_32F || !m.isContinuous())
        return checkRange(m, true, nullptr, -FLT_MAX, FLT_MAX);
    const uchar* data = m.ptr();
    const size_t n = m.total() * m.channels();
    uint32_t largest = 0;  // of the bits without the sign: exponent all ones means NaN or infinity
    for (size_t i = 0; i < n; i++)
    {
        uint32_t bits;
        std::memcpy(&bits, data + 4 * i, 4);
        largest = std::max(largest, bits & 0x7fffffffu);
    }
    return largest < 0x7f800000u;
}

/** Throws naming `what` when m holds a NaN or an infinity. */
inline void checkFinite(const Mat& m, const std::string& what)
{
    if (!allFinite(m))
        CV_Error(Error::StsOutOfRange, "explain: " + what + " contains NaN or Inf values");
}

/** Whether a layer turns scores into probabilities (the scores to explain are its input). */
inline bool isSoftmaxLayer(const dnn::Layer& l)
{
    return l.type == "Softmax" || l.type == "SoftMax" || l.type == "LogSoftmax";
}

}} // namespace cv::explain

#endif
