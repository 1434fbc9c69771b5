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

/** The input ranges that Slice output `o` copies. The public ranges may hold open ends (INT_MAX, -1):
    the start and the output's shape fix them. Without public ranges (split into `num_split` parts),
    the outputs are consecutive along `axis`. Steps other than 1 are not supported. */
inline std::vector<Range> sliceRangesOf(const dnn::SliceLayer& l, const MatShape& in,
                                        const std::vector<MatShape>& outs, size_t o)
{
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
    for (size_t d = 0; d < l.sliceRanges[o].size() && d < in.size(); d++)
    {
        const Range& sr = l.sliceRanges[o][d];
        int start = sr == Range::all() ? 0 : sr.start;
        start = std::min(std::max(start < 0 ? start + in[d] : start, 0), in[d]);
        ranges[d] = Range(start, start + out[d]);
    }
    if (o < l.sliceSteps.size())
        for (int s : l.sliceSteps[o])
            if (s != 1)
                CV_Error(Error::StsNotImplemented, "explain: Slice layer '" + l.name + "' slices with steps; not supported yet");
    return ranges;
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
