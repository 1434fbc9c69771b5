// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// Maps combined over several forward passes or layers: test-time augmentation and multi-layer maps.
#include "gradcam_impl.hpp"
#include "blob_utils.hpp"
#include <opencv2/imgproc.hpp>

namespace cv {
namespace explain {
namespace detail {

namespace {

/** The 6 variants of every image of an N x C x H x W blob as one 6N batch: image b's variant v is
    flipped horizontally for v >= 3 and scaled by 0.9, 1.0 or 1.1 (v % 3). */
Mat augmentedBatch(const Mat& input)
{
    const int n = input.size[0], ih = input.size[2], iw = input.size[3];
    const double factors[] = {0.9, 1.0, 1.1};
    Mat batch = repeatImage(imageOf(input, 0), 6 * n);
    for (int b = 0; b < n; b++)
        for (int v = 0; v < 6; v++)
        {
            Mat dst = imageOf(batch, 6 * b + v);
            Mat src = imageOf(input, b);
            for (int c = 0; c < input.size[1]; c++)
            {
                Mat s(ih, iw, CV_32F, (void*)src.ptr<float>(0, c)), d(ih, iw, CV_32F, dst.ptr<float>(0, c));
                if (v >= 3)
                    flip(s, d, 1);
                else
                    s.copyTo(d);
                d *= factors[v % 3];
            }
        }
    return batch;
}

} // namespace

void GradCAMImpl::computeAugSmooth(int classId, OutputArrayOfArrays out)
{
    auto guard = fwd->lock();
    fwd->requireForward();
    fwd->requireSingleInput("computeAugSmooth");
    requireGradientMethod("computeAugSmooth");
    requireSpatialOutput(layerName);
    const std::vector<int> classes = fwd->classesFor(classId);
    const Mat& input = fwd->input();
    const String& scoreLayerName = fwd->scoreLayer();
    const int n = input.size[0], ih = input.size[2], iw = input.size[3];
    const Mat batch = augmentedBatch(input);
    Ptr<Backprop> aux = fwd->auxiliary();
    aux->keepOnly({scoreLayerName}, {layerName});
    aux->forward(batch, fwd->inputName());
    requireFiniteActivation(*aux, layerName);
    const Mat out0 = aux->getActivation(scoreLayerName);
    Mat seed = Mat::zeros(6 * n, (int)(out0.total() / (6 * n)), CV_32F);
    for (int r = 0; r < 6 * n; r++)
        seed.at<float>(r, classes[r / 6]) = 1.f;
    std::vector<Mat> grads, maps;
    aux->backward({scoreLayerName}, {seed}, {layerName}, grads, RECTIFIER_EXACT);
    computeCAM(method, spatial(aux->getActivation(layerName)), spatial(grads[0]), maps, eigenSmooth);
    aux->keepAll();
    std::vector<Mat> result;
    for (int b = 0; b < n; b++)
    {
        Mat sum = Mat::zeros(ih, iw, CV_32F);
        for (int v = 0; v < 6; v++)
        {
            Mat m = scaleCam(scaleCam(maps[6 * b + v], Size(iw, ih)), Size());
            if (v >= 3)
                flip(m, m, 1);
            sum += m;
        }
        result.push_back(sum / 6.0);
    }
    assignMaps(out, result);
}

void GradCAMImpl::computeLayers(const std::vector<String>& layers, int classId, Size size, OutputArrayOfArrays out)
{
    auto guard = fwd->lock();
    fwd->requireForward();
    if (layers.empty())
        CV_Error(Error::StsBadArg, "explain: computeLayers needs at least one layer");
    requireGradientMethod("computeLayers");
    for (const String& l : layers)
        requireSpatialOutput(l);
    std::vector<Mat> grads;
    bp->backward({fwd->scoreLayer()}, {fwd->classSeed(classId)}, layers, grads, RECTIFIER_EXACT);  // one pass
    for (const String& l : layers)
        requireFiniteActivation(*bp, l);
    std::vector<Mat> sums;
    for (size_t i = 0; i < layers.size(); i++)
    {
        std::vector<Mat> maps;
        computeCAM(method, spatial(bp->getActivation(layers[i])), spatial(grads[i]), maps, eigenSmooth);
        for (size_t n = 0; n < maps.size(); n++)
        {
            if (sums.size() <= n)
                sums.push_back(Mat::zeros(size, CV_32F));
            sums[n] += scaleCam(maps[n], size);
        }
    }
    for (Mat& m : sums)
        m = scaleCam(m / (double)layers.size(), Size());
    assignMaps(out, sums);
}

Mat GradCAMImpl::scaleCam(const Mat& cam, Size size)
{
    double lo, hi;
    minMaxLoc(cam, &lo, &hi);
    Mat m = (cam - lo) / (1e-7 + (hi - lo));
    if (!size.empty() && size != m.size())
        resize(m, m, size, 0, 0, INTER_LINEAR);
    return m;
}

}}} // namespace cv::explain::detail
