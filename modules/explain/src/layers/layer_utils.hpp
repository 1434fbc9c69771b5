// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// Small helpers shared by the backward rules.
#ifndef OPENCV_EXPLAIN_LAYER_UTILS_HPP
#define OPENCV_EXPLAIN_LAYER_UTILS_HPP

#include "../precomp.hpp"

namespace cv {
namespace explain {

/** The layer instance as its public cv::dnn class, or an error naming the layer. */
template <typename T>
Ptr<T> layerAs(const LayerInfo& info)
{
    Ptr<T> l = info.layer.dynamicCast<T>();
    if (!l)
        CV_Error(Error::StsNotImplemented, "explain: " + describeLayer(info) +
                                               " is not the cv::dnn layer class its backward rule expects");
    return l;
}

/** Row-major strides of a shape, in elements. */
inline std::vector<int> stridesOf(const MatShape& shape)
{
    std::vector<int> strides(shape.size());
    int stride = 1;
    for (int d = (int)shape.size() - 1; d >= 0; d--)
    {
        strides[d] = stride;
        stride *= shape[d];
    }
    return strides;
}

inline Mat zerosLike(const Mat& m)
{
    return Mat::zeros(m.dims, m.size.p, CV_32F);
}

inline int normalizeAxis(int axis, int dims)
{
    return axis < 0 ? axis + dims : axis;
}

/** Product of the dimensions [begin, end) of a blob. */
inline size_t totalOf(const Mat& m, int begin, int end = -1)
{
    if (end < 0)
        end = m.dims;
    size_t t = 1;
    for (int i = begin; i < end; i++)
        t *= m.size[i];
    return t;
}

/** The steps of Slice output `o` along each of `dims` axes (1 where none is given). */
inline std::vector<int> sliceStepsOf(const dnn::SliceLayer& l, int dims, size_t o)
{
    std::vector<int> steps(dims, 1);
    if (o < l.sliceSteps.size())
        for (size_t d = 0; d < l.sliceSteps[o].size() && (int)d < dims; d++)
            steps[d] = l.sliceSteps[o][d];
    for (int s : steps)
        if (s < 1)
            CV_Error(Error::StsNotImplemented, format("explain: Slice layer '%s' (Slice) slices with step %d; "
                                                      "positive steps are supported", l.name.c_str(), s));
    return steps;
}

/** The input ranges that Slice output `o` copies. The public ranges may hold open ends (INT_MAX, -1):
    the start and the output's shape fix them. Without public ranges (split into `num_split` parts),
    the outputs are consecutive along `axis`. With `withSteps`, a stepped axis's range runs from its start
    over (out - 1) * step + 1 elements (sliceStepsOf gives the steps); without it, steps other than 1 are
    refused. */
inline std::vector<Range> sliceRangesOf(const Ptr<dnn::SliceLayer>& layer, const MatShape& in,
                                        const std::vector<MatShape>& outs, size_t o, bool withSteps = false)
{
    const dnn::SliceLayer& l = *layer;
    // A split at slice points along a negative axis (ONNX Split along -1): 4.6 keeps its one range per output
    // for that axis, but its shape inference (Net::getLayersShapes, before finalize()) applies it to axis 0 and
    // reports wrong output shapes, which the engine relies on.
    dnn::LayerParams captured;
    if (getCapturedParams(layer, captured) && captured.has("slice_point") && captured.get<int>("axis", 1) < 0)
        CV_Error(Error::StsNotImplemented, "explain: Slice layer '" + l.name + "' (Slice) splits along a negative "
                                               "axis, for which cv::dnn 4.6 reports wrong output shapes; export the "
                                               "split with a non-negative axis");
    std::vector<Range> ranges(in.size(), Range::all());
    const MatShape& out = outs.at(o);
    if (o >= l.sliceRanges.size())
    {
        const int axis = normalizeAxis(l.axis, (int)in.size());
        int start = 0;
        for (size_t i = 0; i < o; i++)
            start += outs[i][axis];
        ranges[axis] = Range(start, start + out[axis]);
        return ranges;
    }
    const std::vector<int> steps = sliceStepsOf(l, (int)in.size(), o);
    const std::vector<Range>& given = l.sliceRanges[o];
    // axes without a range are copied whole: if the shapes say otherwise, the ranges are not what they seem
    for (size_t d = given.size(); d < in.size() && d < out.size(); d++)
        if (out[d] != in[d])
            CV_Error(Error::StsNotImplemented, "explain: cannot tell the ranges of Slice layer '" + l.name +
                                                   "' (Slice): axis " + std::to_string(d) + " shrinks but has no range");
    for (size_t d = 0; d < given.size() && d < in.size(); d++)
    {
        const Range& sr = given[d];
        int start = sr == Range::all() ? 0 : sr.start;
        start = std::min(std::max(start < 0 ? start + in[d] : start, 0), in[d]);
        if (steps[d] != 1 && !withSteps)
            CV_Error(Error::StsNotImplemented, "explain: Slice layer '" + l.name + "' (Slice) slices with steps here");
        ranges[d] = Range(start, out[d] == 0 ? start : start + (out[d] - 1) * steps[d] + 1);
        if (ranges[d].end > in[d])
            CV_Error(Error::StsNotImplemented, "explain: the ranges of Slice layer '" + l.name +
                                                   "' (Slice) do not fit the shapes cv::dnn reports for it");
    }
    return ranges;
}

/** For each element of a blob of `outShape`, the flat index of the element of a blob of `inShape` that
    numpy-style broadcasting (shapes aligned on the right, axes of size 1 repeated) reads there. */
inline std::vector<size_t> broadcastIndex(const MatShape& inShape, const MatShape& outShape)
{
    const int dims = (int)outShape.size(), offset = dims - (int)inShape.size();
    std::vector<size_t> stride(dims, 0);  // the input's stride along each output axis (0: repeated)
    size_t s = 1;
    for (int d = dims - 1; d >= 0; d--)
    {
        const int size = d >= offset ? inShape[d - offset] : 1;
        if (size != 1 && size != outShape[d])
            CV_Error(Error::StsBadArg, "explain: shape " + shapeToString(inShape) + " does not broadcast to " +
                                           shapeToString(outShape));
        stride[d] = size == 1 ? 0 : s;
        s *= size;
    }
    std::vector<size_t> index((size_t)dnn::total(outShape));
    std::vector<int> pos(dims, 0);
    size_t at = 0;
    for (size_t i = 0; i < index.size(); i++)
    {
        index[i] = at;
        for (int d = dims - 1; d >= 0; d--)  // odometer step
        {
            at += stride[d];
            if (++pos[d] < outShape[d])
                break;
            at -= stride[d] * outShape[d];
            pos[d] = 0;
        }
    }
    return index;
}

/** The blob `in` of `inShape` broadcast to `outShape` (a view when the shapes hold as many elements). */
inline Mat broadcastTo(const Mat& in, const MatShape& inShape, const MatShape& outShape)
{
    if ((size_t)dnn::total(inShape) == (size_t)dnn::total(outShape))
        return in.reshape(1, outShape);
    const std::vector<size_t> index = broadcastIndex(inShape, outShape);
    Mat out(outShape, CV_32F);
    const float* src = in.ptr<float>();
    float* dst = out.ptr<float>();
    for (size_t i = 0; i < index.size(); i++)
        dst[i] = src[index[i]];
    return out;
}

/** The gradient of a broadcast: `grad` (of `outShape`) summed over the repeated axes into `inShape`. */
inline Mat sumToShape(const Mat& grad, const MatShape& inShape, const MatShape& outShape)
{
    if ((size_t)dnn::total(inShape) == (size_t)dnn::total(outShape))
        return grad.reshape(1, inShape);
    const std::vector<size_t> index = broadcastIndex(inShape, outShape);
    Mat sum(inShape, CV_32F, Scalar(0));
    const float* src = grad.ptr<float>();
    float* dst = sum.ptr<float>();
    for (size_t i = 0; i < index.size(); i++)
        dst[index[i]] += src[i];
    return sum;
}

/** The factory of a rule class constructed from the layer's LayerInfo. */
template <typename Rule>
Ptr<BackwardRule> createRule(const LayerInfo& info)
{
    return makePtr<Rule>(info);
}

/** Every built-in rule is one class (a CPU backward() and, where it has one, a backwardOCL()),
    constructed from the layer's LayerInfo, and registered in its family's register function with:
    EXPLAIN_REGISTER_RULE(rules, "LayerType", RuleClass); */
#define EXPLAIN_REGISTER_RULE(rules, type, ...) (rules)[type] = &::cv::explain::createRule<__VA_ARGS__>

}} // namespace cv::explain

#endif
