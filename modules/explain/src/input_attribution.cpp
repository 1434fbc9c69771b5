// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// Input attributions: exact, guided and deconvnet gradients, input x gradient, Integrated Gradients and
// SmoothGrad as a NoiseTunnel over the gradient (batched through an auxiliary engine).
#include "input_attribution.hpp"
#include "blob_utils.hpp"

namespace cv {
namespace explain {
namespace detail {

Mat noiseTunnel(const Mat& input, const std::vector<int>& classes, const BatchAttribution& attribute, int samples,
                double noiseLevel, uint64 seed)
{
    CV_Assert(samples >= 1 && noiseLevel >= 0 && input.dims >= 1 && (int)classes.size() == input.size[0]);
    RNG rng(seed);
    Mat out(input.dims, input.size.p, CV_32F);
    for (int b = 0; b < input.size[0]; b++)
    {
        Mat x = imageOf(input, b);
        double lo, hi;
        minMaxLoc(x.reshape(1, 1), &lo, &hi);
        Mat copies = repeatImage(x, samples);
        Mat noise(copies.dims, copies.size.p, CV_32F);
        rng.fill(noise, RNG::NORMAL, 0.0, noiseLevel * (hi - lo));
        copies += noise;
        meanOverBatch(attribute(copies, classes[b])).copyTo(imageOf(out, b));
    }
    return out;
}

void InputAttributionImpl::forward(InputArray blob, OutputArray scores, const String& inputName)
{
    fwd->forwardInputs(std::vector<Mat>{blob.getMat()}, std::vector<String>{inputName}, scores);
}

void InputAttributionImpl::forwardInputs(InputArrayOfArrays blobs_, const std::vector<String>& names,
                                         OutputArray scores)
{
    auto guard = fwd->lock();
    std::vector<Mat> blobs;
    blobs_.getMatVector(blobs);
    fwd->forwardInputs(blobs, names, scores);
}

void InputAttributionImpl::gradient(int classId, OutputArray dst, int mode)
{
    gradientFromGradient(fwd->scoreLayer(), fwd->classSeed(classId), dst, mode);
}

void InputAttributionImpl::gradientFromGradient(const String& outputLayer, InputArray outputGrad, OutputArray dst,
                                                int mode)
{
    auto guard = fwd->lock();
    fwd->requireForward();
    // UMat results stay on the OpenCL device when the Net runs there
    auto run = [&](auto grads) {
        fwd->backprop()->backward({outputLayer}, {outputGrad.getMat()}, {String()}, grads, (RectifierMode)mode);
        grads[0].copyTo(dst);
    };
    if (dst.isUMat())
        run(std::vector<UMat>());
    else
        run(std::vector<Mat>());
}

void InputAttributionImpl::inputTimesGradient(int classId, OutputArray dst)
{
    auto guard = fwd->lock();
    Mat g;
    gradient(classId, g, RECTIFIER_EXACT);
    Mat(g.mul(fwd->input())).copyTo(dst);
}

void InputAttributionImpl::smoothGrad(int classId, OutputArray dst, int samples, double noiseLevel, int mode,
                                      int64 seed, int batchSize)
{
    auto guard = fwd->lock();
    fwd->requireForward();
    fwd->requireSingleInput("SmoothGrad");
    if (samples < 1 || !(noiseLevel >= 0 && noiseLevel <= FLT_MAX) || batchSize < 1)
        CV_Error(Error::StsBadArg, format("explain: SmoothGrad needs samples >= 1 (got %d), noiseLevel >= 0 "
                                          "(got %g) and batchSize >= 1 (got %d)", samples, noiseLevel, batchSize));
    noiseTunnel(fwd->input(), fwd->classesFor(classId), gradientOf((RectifierMode)mode, batchSize), samples,
                noiseLevel, (uint64)seed)
        .copyTo(dst);
}

void InputAttributionImpl::integratedGradients(int classId, OutputArray dst, int steps, InputArray _baseline,
                                               int batchSize)
{
    auto guard = fwd->lock();
    fwd->requireForward();
    fwd->requireSingleInput("Integrated Gradients");
    if (steps < 1 || batchSize < 1)
        CV_Error(Error::StsBadArg, format("explain: Integrated Gradients needs steps >= 1 (got %d) and "
                                          "batchSize >= 1 (got %d)", steps, batchSize));
    const Mat& input = fwd->input();
    Mat baseline = _baseline.getMat();
    const size_t perImage = input.total() / input.size[0];
    if (!baseline.empty())
    {
        // the same layout as the input, not just as many values (an HWC image would be read as CHW)
        MatShape image = dnn::shape(input), got = dnn::shape(baseline);
        image[0] = 1;
        const MatShape imageNoBatch(image.begin() + 1, image.end());
        if (baseline.type() != CV_32FC1 || (got != dnn::shape(input) && got != image && got != imageNoBatch))
            CV_Error(Error::StsBadArg, "explain: the Integrated Gradients baseline must be a float32 blob of the input "
                                       "blob's shape " + shapeToString(dnn::shape(input)) + " or of one image " +
                                       shapeToString(image) + ", got " + shapeToString(got) +
                                       format(" with %d channel(s)", baseline.channels()));
        checkFinite(baseline, "the Integrated Gradients baseline");
        if (!baseline.isContinuous())
            baseline = baseline.clone();
    }
    const std::vector<int> classes = fwd->classesFor(classId);
    Mat out(input.dims, input.size.p, CV_32F);
    for (int b = 0; b < input.size[0]; b++)
    {
        Mat x = imageOf(input, b);
        Mat x0 = baseline.empty() ? Mat::zeros(x.dims, x.size.p, CV_32F)
                                  : Mat(x.dims, x.size.p, CV_32F,
                                        (void*)(baseline.ptr<float>() + (baseline.total() == perImage ? 0 : b * perImage)));
        Mat path = repeatImage(x0, steps);
        Mat diff = x - x0;
        for (int k = 0; k < steps; k++)
            scaleAdd(diff, (k + 0.5) / steps, imageOf(path, k), imageOf(path, k));
        Mat g = batchGradients(path, classes[b], RECTIFIER_EXACT, batchSize);
        Mat(meanOverBatch(g).mul(diff)).copyTo(imageOf(out, b));
    }
    out.copyTo(dst);
}

BatchAttribution InputAttributionImpl::gradientOf(RectifierMode mode, int batchSize)
{
    return [this, mode, batchSize](const Mat& inputs, int cls) { return batchGradients(inputs, cls, mode, batchSize); };
}

BatchAttribution InputAttributionImpl::inputTimesGradientOf(int batchSize)
{
    return [this, batchSize](const Mat& inputs, int cls) {
        return Mat(batchGradients(inputs, cls, RECTIFIER_EXACT, batchSize).mul(inputs));
    };
}

Mat InputAttributionImpl::batchGradients(const Mat& inputs, int cls, RectifierMode mode, int batchSize)
{
    Ptr<Backprop> aux = fwd->auxiliary();
    const String& scoreLayer = fwd->scoreLayer();
    const int m = inputs.size[0];
    Mat grads(inputs.dims, inputs.size.p, CV_32F);
    for (int i0 = 0; i0 < m; i0 += batchSize)
    {
        const int count = std::min(batchSize, m - i0);
        std::vector<Range> rows(inputs.dims, Range::all());
        rows[0] = Range(i0, i0 + count);
        aux->forward(inputs(rows), fwd->inputName());
        Mat out = aux->getActivation(scoreLayer);
        // one row of scores per image, with the class in it (a Net whose output does not follow the batch,
        // e.g. one with a fixed-batch reshape, cannot run the images together)
        if (out.dims == 0 || out.size[0] != count || (int)(out.total() / count) <= cls)
            CV_Error(Error::StsBadArg, format("explain: the scores of layer '%s' have shape %s for a batch of %d "
                                              "inputs, not one row per input with class %d in it; pass batchSize = 1",
                                              scoreLayer.c_str(), shapeToString(dnn::shape(out)).c_str(), count, cls));
        Mat seed = Mat::zeros(count, (int)(out.total() / count), CV_32F);
        seed.col(cls).setTo(1.f);
        std::vector<Mat> g;
        aux->backward({scoreLayer}, {seed}, {String()}, g, mode);
        g[0].copyTo(grads(rows));
    }
    return grads;
}

}}} // namespace cv::explain::detail

namespace cv {
namespace explain {

Ptr<InputAttribution> InputAttribution::create(const dnn::Net& net, const String& scoreLayerName)
{
    Ptr<Backprop> bp = Backprop::create(net);  // throws on an empty Net
    return makePtr<detail::InputAttributionImpl>(
        makePtr<detail::ScoredForward>(net, bp, scoreLayerName, "InputAttribution"));
}

}} // namespace cv::explain
