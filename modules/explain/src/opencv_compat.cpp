// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// What differs between OpenCV versions (see opencv_compat.hpp).
#include "opencv_compat.hpp"
#include "layers/layer_utils.hpp"
#include <algorithm>
#include <map>

namespace cv {
namespace explain {

dnn::Net readNet(const String& model, const String& config, const String& framework)
{
#if CV_VERSION_MAJOR >= 5
    return dnn::readNet(model, config, framework, dnn::ENGINE_CLASSIC);
#else
    return dnn::readNet(model, config, framework);
#endif
}

namespace compat {

#if CV_VERSION_MAJOR == 4 && CV_VERSION_MINOR < 8
Reduction reductionOf(const LayerInfo& info, const MatShape& inShape)
{
    Ptr<dnn::ReduceLayer> l = layerAs<dnn::ReduceLayer>(info);
    if (l->reduceType < Reduction::MAX || l->reduceType > Reduction::LOG_SUM_EXP)
        CV_Error(Error::StsNotImplemented, format("explain: reduce type %d of %s has no backward rule", l->reduceType,
                                                  describeLayer(info).c_str()));
    Reduction r;
    r.op = (Reduction::Op)l->reduceType;  // 4.6's private enum has this order
    // the last reduceDims.size() axes, when their sizes are those of reduceDims: 4.6 reduces blocks of the
    // sizes the importer saw, so at another input size its output is not the model's (measured: 0.03 off)
    const int first = (int)inShape.size() - (int)l->reduceDims.size();
    for (size_t k = 0; k < l->reduceDims.size(); k++)
        if (first < 0 || inShape[first + k] != (int)l->reduceDims[k])
        {
            MatShape fixed;
            for (size_t d : l->reduceDims)
                fixed.push_back((int)d);
            CV_Error(Error::StsBadArg, "explain: " + describeLayer(info) + " reduces blocks of " + shapeToString(fixed) +
                                           ", the sizes the model was imported with, but its input is " +
                                           shapeToString(inShape) + ": cv::dnn 4.6 does not compute this Reduce at "
                                           "another input size; feed the input size the model was exported with");
        }
    for (int a = std::max(first, 0); a < (int)inShape.size(); a++)
        r.axes.push_back(a);
    return r;
}
#else
/** All axes when none are given; sorted, unique, checked. */
static Reduction normalizedReduction(const LayerInfo& info, int dims, Reduction r)
{
    if (r.axes.empty())
        for (int a = 0; a < dims; a++)
            r.axes.push_back(a);
    std::sort(r.axes.begin(), r.axes.end());
    r.axes.erase(std::unique(r.axes.begin(), r.axes.end()), r.axes.end());
    for (int a : r.axes)
        if (a < 0 || a >= dims)
            CV_Error(Error::StsBadArg, format("explain: %s reduces axis %d of a %d-D input", describeLayer(info).c_str(), a, dims));
    return r;
}

#if CV_VERSION_MAJOR >= 5
/** The new engine's Reduce2: its operation (in Reduction's order) and axes are public. */
static bool reduce2Of(const LayerInfo& info, int dims, Reduction& r)
{
    Ptr<dnn::Reduce2Layer> l = info.layer.dynamicCast<dnn::Reduce2Layer>();
    if (!l)
        return false;
    if (info.inputShapes.size() > 1)
        CV_Error(Error::StsNotImplemented, "explain: " + describeLayer(info) + " takes its axes as an input of the "
                                               "Net; only constant axes are supported");
    r.op = (Reduction::Op)(int)l->reduce_type;
    for (int a : l->axes)
        r.axes.push_back(a < 0 ? a + dims : a);
    if (r.axes.empty() && l->noop_with_empty_axes)
        CV_Error(Error::StsNotImplemented, "explain: " + describeLayer(info) + " reduces no axis (noop_with_empty_axes)");
    return true;
}
#endif

Reduction reductionOf(const LayerInfo& info, const MatShape& inShape)
{
    const int dims = (int)inShape.size();
    Reduction r;
#if CV_VERSION_MAJOR >= 5
    if (reduce2Of(info, dims, r))
        return normalizedReduction(info, dims, r);
#endif
    const CapturedParams captured = requireCapturedParams(info);
    static const char* names[] = {"max", "min", "mean", "sum", "l1", "l2", "prod", "sum_square", "log_sum",
                                  "log_sum_exp"};
    const String op = toLowerCase(captured.params.get<String>("reduce", ""));
    const auto found = std::find(std::begin(names), std::end(names), op);
    if (found == std::end(names))
        CV_Error(Error::StsNotImplemented, "explain: reduce operation '" + op + "' of " + describeLayer(info) +
                                               " has no backward rule");
    r.op = (Reduction::Op)(found - std::begin(names));
    if (captured.params.has("axes"))
    {
        const DictValue axes = captured.params.get("axes");
        for (int i = 0; i < axes.size(); i++)
            r.axes.push_back(axes.get<int>(i) < 0 ? axes.get<int>(i) + dims : axes.get<int>(i));
    }
    if (r.axes.empty() && captured.params.get<bool>("noop_with_empty_axes", false))
        CV_Error(Error::StsNotImplemented, "explain: " + describeLayer(info) + " reduces no axis (noop_with_empty_axes)");
    return normalizedReduction(info, dims, r);
}

#endif

#if CV_VERSION_MAJOR >= 5
String naryOperationOf(const LayerInfo& info)
{
    Ptr<dnn::NaryEltwiseLayer> l = layerAs<dnn::NaryEltwiseLayer>(info);
    typedef dnn::NaryEltwiseLayer::OPERATION Op;
    static const std::map<Op, const char*> names = {
        {Op::ADD, "add"}, {Op::SUM, "sum"}, {Op::SUB, "sub"}, {Op::PROD, "mul"}, {Op::DIV, "div"}, {Op::MAX, "max"},
        {Op::MIN, "min"}, {Op::MEAN, "mean"}, {Op::POW, "pow"}, {Op::EQUAL, "equal"}, {Op::GREATER, "greater"},
        {Op::LESS, "less"}, {Op::WHERE, "where"}, {Op::MOD, "mod"}, {Op::FMOD, "fmod"}};
    const auto it = names.find(l->op);
    return it == names.end() ? String(format("operation %d", (int)l->op)) : String(it->second);
}
#else
String naryOperationOf(const LayerInfo& info)
{
    const CapturedParams captured(info);
    if (!captured.known)
        CV_Error(Error::StsNotImplemented, "explain: the operation of " + describeLayer(info) +
                                               " was not captured (Net read before the explain library was loaded)");
    return toLowerCase(captured.params.get<String>("operation", "sum"));
}
#endif

#if CV_VERSION_MAJOR > 4 || CV_VERSION_MINOR >= 9
GemmSettings gemmOf(const LayerInfo& info)
{
    Ptr<dnn::GemmLayer> l = layerAs<dnn::GemmLayer>(info);
    GemmSettings g;
    g.transA = l->trans_a;
    g.transB = l->trans_b;
    g.alpha = l->alpha;
    g.beta = l->beta;
#if CV_VERSION_MAJOR >= 5
    g.flattenA = l->flatten_a;
#endif
    return g;
}

GemmSettings matMulOf(const LayerInfo& info)
{
    Ptr<dnn::MatMulLayer> l = layerAs<dnn::MatMulLayer>(info);
    GemmSettings g;
#if CV_VERSION_MAJOR >= 5
    g.transA = l->trans_a;
    g.transB = l->trans_b;
    g.alpha = l->alpha;
    g.beta = l->beta;
#else  // 4.9 to 4.x: the settings are private, read from the captured parameters
    const CapturedParams captured = requireCapturedParams(info);
    g.transA = captured.params.get<bool>("transA", false);
    g.transB = captured.params.get<bool>("transB", false);
    g.alpha = captured.params.get<float>("alpha", 1.f);
    g.beta = captured.params.get<float>("beta", 1.f);
#endif
    return g;
}

float instanceNormEpsilonOf(const LayerInfo& info)
{
    Ptr<dnn::InstanceNormLayer> l = layerAs<dnn::InstanceNormLayer>(info);
    return l->epsilon;
}

LayerNormSettings layerNormOf(const LayerInfo& info)
{
    LayerNormSettings s;
#if CV_VERSION_MAJOR >= 5
    if (Ptr<dnn::LayerNorm2Layer> l2 = info.layer.dynamicCast<dnn::LayerNorm2Layer>())  // the new engine's
    {
        s.axis = l2->axis;
        s.epsilon = l2->epsilon;
        return s;
    }
#endif
    Ptr<dnn::LayerNormLayer> l = layerAs<dnn::LayerNormLayer>(info);
    s.axis = l->axis;
    s.epsilon = l->epsilon;
    return s;
}
#else
[[noreturn]] static void needOpenCV49(const LayerInfo& info)
{
    CV_Error(Error::StsNotImplemented, "explain: " + describeLayer(info) + " needs OpenCV 4.9 or newer");
}

LayerNormSettings layerNormOf(const LayerInfo& info) { needOpenCV49(info); }
GemmSettings gemmOf(const LayerInfo& info) { needOpenCV49(info); }
float instanceNormEpsilonOf(const LayerInfo& info) { needOpenCV49(info); }
GemmSettings matMulOf(const LayerInfo& info) { needOpenCV49(info); }
#endif

}}} // namespace cv::explain::compat
