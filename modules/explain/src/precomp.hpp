// Internal header shared by the implementation files of the explain module.
#ifndef OPENCV_EXPLAIN_PRECOMP_HPP
#define OPENCV_EXPLAIN_PRECOMP_HPP

#include <opencv2/core.hpp>
#include <opencv2/core/utility.hpp>
#include <opencv2/dnn.hpp>
#include <opencv2/dnn/all_layers.hpp>
#include <opencv2/dnn/shape_utils.hpp>
#include "opencv2/explain.hpp"

#include <map>
#include <string>
#include <vector>

namespace cv {
namespace explain {
using dnn::MatShape;
using dnn::DictValue;

/** Hyperparameters the importer passed when a layer instance was created, if this module saw it
    (see param_capture.cpp). Returns false when the layer was created before the module was loaded. */
bool getCapturedParams(const Ptr<dnn::Layer>& layer, dnn::LayerParams& params);

/** Creates the registered rule for a layer, or throws naming the layer, its type and the remedy. */
Ptr<BackwardRule> createBackwardRule(const LayerInfo& info);

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

/** "layer 'conv1' (Convolution)" for error messages. */
std::string describeLayer(const LayerInfo& info);

}} // namespace cv::explain

#endif
