// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// Resolving which producer output feeds each layer input (see input_pins.hpp).
#include "input_pins.hpp"
#include "ocl_ops.hpp"
#include "layers/layer_utils.hpp"

namespace cv {
namespace explain {
namespace detail {

std::vector<std::vector<Pin> > InputPinResolver::resolve()
{
    std::vector<std::vector<Pin> > pins(graph.size());
    for (int id : graph.order())
    {
        for (size_t j = 0; j < graph.layer(id).producers.size(); j++)
            pins[id].push_back(resolveInput(id, j, pins[id]));
        recomputeSliceOutputs(id, pins[id]);
    }
    return pins;
}

Pin InputPinResolver::resolveInput(int id, size_t j, const std::vector<Pin>& resolved)
{
    const int p = graph.layer(id).producers[j];
    const size_t outputs = p == 0 ? store.inputs().size() : infos[p].outputShapes.size();
    if (outputs <= 1 || store.outputCount(p) != outputs)
        return Pin(p, p == 0 ? inputIndex : 0);  // single output, or not kept: then not on any planned path
    std::vector<int> candidates;
    for (size_t o = 0; o < outputs; o++)
        if (j < infos[id].inputShapes.size() && outputShape(Pin(p, (int)o)) == infos[id].inputShapes[j])
            candidates.push_back((int)o);
    if (candidates.empty())
        CV_Error(Error::StsInternal, "explain: no output of " + describeLayer(infos[p]) + " fits input " +
                                         std::to_string(j) + " of " + describeLayer(infos[id]));
    return Pin(p, candidates.size() == 1 ? candidates[0] : replay(id, j, candidates, resolved));
}

double InputPinResolver::replayError(int id, size_t j, int c, const std::vector<int>& later,
                                     const std::vector<Pin>& resolved)
{
    const std::vector<int>& producers = graph.layer(id).producers;
    std::vector<Mat> inputs;
    for (size_t k = 0; k < producers.size(); k++)
    {
        if (k == j)
            inputs.push_back(store.host(Pin(producers[j], c)).clone());
        else if (k < resolved.size() && store.outputCount(resolved[k].first) > 0)
            inputs.push_back(store.host(resolved[k]).clone());
        else if (store.outputCount(producers[k]) > 0)  // a later input, still unresolved
            inputs.push_back(store.host(Pin(producers[k], later[k])).clone());
        else
            return -1;
    }
    std::vector<MatShape> inShapes, outShapes, internalShapes;
    for (const Mat& m : inputs)
        inShapes.push_back(dnn::shape(m));
    std::vector<Mat> outputs, internals;
    try
    {
        const Ptr<dnn::Layer>& layer = infos[id].layer;
        layer->getMemoryShapes(inShapes, (int)store.outputCount(id), outShapes, internalShapes);
        for (size_t o = 0; o < outShapes.size(); o++)  // of the recorded types (OpenCV 5's comparisons: boolean)
        {
            const Mat& recorded = store.host(Pin(id, (int)o));
            outputs.push_back(Mat(outShapes[o], recorded.empty() ? CV_32F : recorded.type()));
        }
        for (const MatShape& s : internalShapes)
            internals.push_back(Mat(s, CV_32F));
        layer->forward(inputs, outputs, internals);
    }
    catch (const cv::Exception&)
    {
        return DBL_MAX;
    }
    Mat replayed, recorded;  // as doubles: a comparison's output is boolean on OpenCV 5
    outputs[0].reshape(1, 1).convertTo(replayed, CV_64F);
    store.host(Pin(id, 0)).reshape(1, 1).convertTo(recorded, CV_64F);
    return replayed.size() == recorded.size() ? norm(replayed, recorded, NORM_L2) : DBL_MAX;
}

std::vector<std::vector<int> > InputPinResolver::laterInputOptions(int id, size_t j, const std::vector<Pin>& resolved,
                                                                   size_t& combinations) const
{
    const std::vector<int>& producers = graph.layer(id).producers;
    std::vector<std::vector<int> > options(producers.size(), std::vector<int>(1, 0));
    combinations = 1;
    for (size_t k = j + 1; k < producers.size() && k < infos[id].inputShapes.size(); k++)
    {
        const int q = producers[k];
        const size_t qOutputs = q == 0 ? store.inputs().size() : infos[q].outputShapes.size();
        if (k < resolved.size() || qOutputs <= 1 || store.outputCount(q) != qOutputs)
            continue;
        std::vector<int> fits;
        for (size_t o = 0; o < qOutputs; o++)
            if (outputShape(Pin(q, (int)o)) == infos[id].inputShapes[k])
                fits.push_back((int)o);
        if (fits.size() > 1 && combinations * fits.size() <= 64)
        {
            options[k] = fits;
            combinations *= fits.size();
        }
    }
    return options;
}

int InputPinResolver::replay(int id, size_t j, const std::vector<int>& candidates, const std::vector<Pin>& resolved)
{
    const int p = graph.layer(id).producers[j];
    if (store.outputCount(id) == 0)
        return candidates[0];  // this layer's output is not kept: it is on no planned path, any choice will do
    size_t combinations = 1;
    const std::vector<std::vector<int> > options = laterInputOptions(id, j, resolved, combinations);
    // First with the later inputs at their producers' first outputs; when that does not single out a
    // candidate, each candidate scores the best of the combinations of the later inputs (two net inputs of
    // one shape into x - y: with y taken as the first output, neither x - x nor y - x reproduces the output).
    for (int stage = 0; stage < (combinations > 1 ? 2 : 1); stage++)
    {
        int best = -1;
        double bestErr = DBL_MAX, secondErr = DBL_MAX;
        for (int c : candidates)
        {
            if (c != candidates[0] && norm(store.host(Pin(p, c)), store.host(Pin(p, candidates[0])), NORM_INF) == 0)
                continue;  // equal values: either choice gives the same gradients
            double err = DBL_MAX;
            for (size_t combo = 0; combo < (stage == 0 ? 1 : combinations); combo++)
            {
                std::vector<int> later(options.size(), 0);
                for (size_t k = 0, rest = combo; k < options.size(); rest /= options[k].size(), k++)
                    later[k] = options[k][rest % options[k].size()];
                const double e = replayError(id, j, c, later, resolved);
                if (e < 0)
                    return candidates[0];  // not on a planned path: any choice will do
                err = std::min(err, e);
            }
            if (err == DBL_MAX)
                continue;
            secondErr = err < bestErr ? bestErr : std::min(secondErr, err);
            if (err < bestErr)
            {
                bestErr = err;
                best = c;
            }
        }
        if (best >= 0 && (secondErr == DBL_MAX || bestErr < 0.5 * secondErr))
            return best;
    }
    CV_Error(Error::StsNotImplemented, "explain: cannot tell which output of " + describeLayer(infos[p]) +
                                           format(" feeds input %d of ", (int)j) + describeLayer(infos[id]) +
                                           " (its outputs have equal shapes)");
}

MatShape InputPinResolver::outputShape(const Pin& p) const
{
    return p.first == 0 ? dnn::shape(store.inputs().at(p.second)) : infos[p.first].outputShapes.at(p.second);
}

void InputPinResolver::recomputeSliceOutputs(int id, const std::vector<Pin>& pins)
{
    const size_t outputs = store.outputCount(id);
    if (outputs < 2 || pins.size() != 1 || store.outputCount(pins[0].first) == 0)
        return;
    const Pin input = pins[0];
    Ptr<dnn::SliceLayer> slice = infos[id].layer.dynamicCast<dnn::SliceLayer>();
    if (!slice && infos[id].type != "Split")
        return;
    const MatShape inShape = outputShape(input);
    const std::vector<MatShape>& outShapes = infos[id].outputShapes;
    if (store.onDevice())
    {
        const UMat in = store.deviceAct(input);
        const std::vector<int> strides = stridesOf(inShape);
        std::vector<UMat> outs(outputs);
        for (size_t o = 0; o < outputs; o++)
        {
            if (!slice)
            {
                outs[o] = in;  // read-only from here on: one buffer serves every output
                continue;
            }
            // the slice as a strided gather from the continuous input
            const std::vector<Range> ranges = sliceRangesOf(slice, inShape, outShapes, o);
            int base = 0;
            for (size_t d = 0; d < ranges.size(); d++)
                base += (ranges[d] == Range::all() ? 0 : ranges[d].start) * strides[d];
            if (!ocl_stridedGather(in, outs[o], outShapes[o], strides, base))
            {
                store.host(input)(ranges).copyTo(outs[o]);  // more than 6 axes: via the host
                countHostRoundTrip();
            }
        }
        store.setDeviceOutputs(id, outs);
        return;
    }
    const Mat& in = store.host(input);
    std::vector<Mat> outs(outputs);
    for (size_t o = 0; o < outputs; o++)
        outs[o] = slice ? Mat(in(sliceRangesOf(slice, inShape, outShapes, o)).clone()) : in.clone();
    store.setOutputs(id, outs);
}

}}} // namespace cv::explain::detail
