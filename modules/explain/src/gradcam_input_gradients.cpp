// Input-gradient maps: guided backpropagation, deconvnet and exact gradients, Guided Grad-CAM,
// input x gradient, SmoothGrad and Integrated Gradients (batched through a second engine).
#include "gradcam_impl.hpp"

namespace cv {
namespace explain {
namespace detail {

void GradCAMImpl::inputGradient(int classId, OutputArray grad, int mode)
{
    inputGradientFromGradient(scoreLayerName, classSeed(classId), grad, mode);
}

void GradCAMImpl::inputGradientFromGradient(const String& outputLayer, InputArray outputGrad, OutputArray grad,
                               int mode)
{
    requireForward();
    // UMat results stay on the OpenCL device when the Net runs there
    auto run = [&](auto grads) {
        bp->backward({outputLayer}, {outputGrad.getMat()}, {String()}, grads, (RectifierMode)mode);
        grads[0].copyTo(grad);
    };
    if (grad.isUMat())
        run(std::vector<UMat>());
    else
        run(std::vector<Mat>());
}

void GradCAMImpl::inputTimesGradient(int classId, OutputArray dst)
{
    Mat g;
    inputGradient(classId, g, RECTIFIER_EXACT);
    Mat(g.mul(input)).copyTo(dst);
}

void GradCAMImpl::smoothGrad(int classId, OutputArray dst, int samples, double noiseLevel, int mode, uint64 seed,
                int batchSize)
{
    requireForward();
    requireSingleInput("SmoothGrad");
    if (samples < 1 || noiseLevel < 0 || batchSize < 1)
        CV_Error(Error::StsBadArg, format("explain: SmoothGrad needs samples >= 1 (got %d), noiseLevel >= 0 "
                                          "(got %g) and batchSize >= 1 (got %d)", samples, noiseLevel, batchSize));
    const std::vector<int> classes = classesFor(classId);
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
        Mat g = batchGradients(copies, classes[b], (RectifierMode)mode, batchSize);
        meanOverBatch(g).copyTo(imageOf(out, b));
    }
    out.copyTo(dst);
}

void GradCAMImpl::integratedGradients(int classId, OutputArray dst, int steps, InputArray _baseline, int batchSize)
{
    requireForward();
    requireSingleInput("Integrated Gradients");
    if (steps < 1 || batchSize < 1)
        CV_Error(Error::StsBadArg, format("explain: Integrated Gradients needs steps >= 1 (got %d) and "
                                          "batchSize >= 1 (got %d)", steps, batchSize));
    Mat baseline = _baseline.getMat();
    const size_t perImage = input.total() / input.size[0];
    if (!baseline.empty() && (baseline.depth() != CV_32F ||
                              (baseline.total() != input.total() && baseline.total() != perImage)))
        CV_Error(Error::StsBadArg, "explain: the Integrated Gradients baseline must be float32, of the input "
                                   "blob's shape " + shapeToString(dnn::shape(input)) + " or of one image");
    const std::vector<int> classes = classesFor(classId);
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

void GradCAMImpl::guidedGradCAM(int classId, OutputArray dst)
{
    Mat seed = classSeed(classId);
    // with UMats, maps, gradient and product stay on the OpenCL device when the Net runs there
    auto run = [&](auto maps, auto guided) {
        computeFromGradient(scoreLayerName, seed, maps, noArray());
        inputGradientFromGradient(scoreLayerName, seed, guided, RECTIFIER_GUIDED);
        combineGuidedGradCAM(maps, guided, dst);
    };
    if (dst.isUMat())
        run(std::vector<UMat>(), UMat());
    else
        run(std::vector<Mat>(), Mat());
}

Mat GradCAMImpl::batchGradients(const Mat& inputs, int cls, RectifierMode mode, int batchSize)
{
    if (!aux)
        aux = Backprop::create(net);
    const int m = inputs.size[0];
    Mat grads(inputs.dims, inputs.size.p, CV_32F);
    for (int i0 = 0; i0 < m; i0 += batchSize)
    {
        const int count = std::min(batchSize, m - i0);
        std::vector<Range> rows(inputs.dims, Range::all());
        rows[0] = Range(i0, i0 + count);
        aux->forward(inputs(rows), inputBlobName);
        Mat out = aux->getActivation(scoreLayerName);
        Mat seed = Mat::zeros(count, (int)(out.total() / count), CV_32F);
        seed.col(cls).setTo(1.f);
        std::vector<Mat> g;
        aux->backward({scoreLayerName}, {seed}, {String()}, g, mode);
        g[0].copyTo(grads(rows));
    }
    return grads;
}

}}} // namespace cv::explain::detail
