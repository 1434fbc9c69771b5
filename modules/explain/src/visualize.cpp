// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// Helpers that turn maps and gradients into images.
#include "precomp.hpp"
#include "ocl_ops.hpp"
#include <opencv2/imgproc.hpp>

namespace cv {
namespace explain {

void resizeMap(InputArray _map, Size size, OutputArray dst, bool normalize)
{
    if (_map.empty() || _map.dims() != 2 || _map.channels() != 1)
        CV_Error(Error::StsBadArg, "explain: resizeMap expects a non-empty single-channel 2D map");
    if (size.width <= 0 || size.height <= 0)
        CV_Error(Error::StsBadArg, format("explain: resizeMap got an invalid size %dx%d", size.width, size.height));
    // Written once for Mat and UMat: with UMats (T-API) resize, minMaxLoc and convertTo run on the
    // OpenCL device and the map stays there.
    auto run = [&](auto m) {
        m.convertTo(m, CV_32F);
        if (m.size() != size)
            resize(m, m, size, 0, 0, INTER_LINEAR);
        if (normalize)
        {
            double lo, hi;
            minMaxLoc(m, &lo, &hi);
            if (hi > lo)
                m.convertTo(m, CV_32F, 1.0 / (hi - lo), -lo / (hi - lo));
            else
                m.setTo(Scalar::all(0));
        }
        m.copyTo(dst);
    };
    if (_map.isUMat())
        run(_map.getUMat().clone());
    else
    {
        checkFinite(_map.getMat(), "the map given to resizeMap");
        run(_map.getMat().clone());
    }
}

void applyMapOverlay(InputArray _image, InputArray _map, OutputArray dst, int colormap, double alpha)
{
    Mat image = _image.getMat(), map = _map.getMat();
    if (image.empty() || image.depth() != CV_8U || (image.channels() != 1 && image.channels() != 3))
        CV_Error(Error::StsBadArg, "explain: applyMapOverlay expects an 8-bit 1- or 3-channel image");
    if (alpha < 0 || alpha > 1)
        CV_Error(Error::StsBadArg, "explain: applyMapOverlay needs alpha in [0, 1]");
    Mat m;
    resizeMap(map, image.size(), m, false);
    Mat m8, color, bgr;
    m.convertTo(m8, CV_8U, 255.0);
    applyColorMap(m8, color, colormap);
    if (image.channels() == 1)
        cvtColor(image, bgr, COLOR_GRAY2BGR);
    else
        bgr = image;
    addWeighted(bgr, 1.0 - alpha, color, alpha, 0.0, dst);
}

void gradientToImage(InputArray _blob, OutputArray dst, int index, bool swapRB)
{
    Mat blob = _blob.getMat();
    if (blob.dims != 4 || blob.depth() != CV_32F || (blob.size[1] != 1 && blob.size[1] != 3))
        CV_Error(Error::StsBadArg, "explain: gradientToImage expects a float32 N x C x H x W blob with C = 1 or 3");
    if (index < 0 || index >= blob.size[0])
        CV_Error(Error::StsOutOfRange, format("explain: image %d is out of the batch of %d", index, blob.size[0]));
    checkFinite(blob, "the gradient given to gradientToImage");
    const int channels = blob.size[1], h = blob.size[2], w = blob.size[3];
    std::vector<Mat> planes;
    for (int c = 0; c < channels; c++)
        planes.push_back(Mat(h, w, CV_32F, (void*)blob.ptr<float>(index, c)).clone());
    if (swapRB && channels == 3)
        std::swap(planes[0], planes[2]);
    Mat img;
    merge(planes, img);
    Scalar mu, sigma;
    meanStdDev(img.reshape(1), mu, sigma);
    img = (img - Scalar::all(mu[0])) / (sigma[0] + 1e-5) * 0.1 + Scalar::all(0.5);
    img.convertTo(dst, CV_8U, 255.0);  // saturates outside [0, 1]
}

void gradientToSaliency(InputArray _blob, OutputArray dst, int index)
{
    Mat blob = _blob.getMat();
    if (blob.dims != 4 || blob.depth() != CV_32F)
        CV_Error(Error::StsBadArg, "explain: gradientToSaliency expects a float32 N x C x H x W blob");
    if (index < 0 || index >= blob.size[0])
        CV_Error(Error::StsOutOfRange, format("explain: image %d is out of the batch of %d", index, blob.size[0]));
    checkFinite(blob, "the gradient given to gradientToSaliency");
    const int h = blob.size[2], w = blob.size[3];
    Mat sal = Mat::zeros(h, w, CV_32F);
    for (int c = 0; c < blob.size[1]; c++)
        sal = max(sal, abs(Mat(h, w, CV_32F, (void*)blob.ptr<float>(index, c))));
    sal.copyTo(dst);
}

/** out = each image's map, upsampled, times every channel of its guided gradient, on (N C) x (H W)
    row views: row n * C + c is channel c of image n. With UMats (T-API) it runs on the OpenCL device. */
template <typename M>
static void multiplyByUpsampledMaps(const std::vector<M>& maps, const M& guidedRows, int channels, Size size,
                                    M& outRows)
{
    for (size_t n = 0; n < maps.size(); n++)
    {
        M up;
        resizeMap(maps[n], size, up, false);
        up = up.reshape(1, 1);
        for (int c = 0; c < channels; c++)
        {
            M dst = outRows.row((int)n * channels + c);
            multiply(up, guidedRows.row((int)n * channels + c), dst);
        }
    }
}

void combineGuidedGradCAM(InputArrayOfArrays _maps, InputArray _guided, OutputArray dst)
{
    int shape[4];
    if (_guided.dims() != 4 || _guided.depth() != CV_32F)
        CV_Error(Error::StsBadArg, "explain: combineGuidedGradCAM expects a float32 N x C x H x W guided gradient");
    _guided.sizend(shape);
    const int count = (int)_maps.total();
    if (count != shape[0])
        CV_Error(Error::StsBadArg, format("explain: combineGuidedGradCAM got %d maps for a batch of %d",
                                          count, shape[0]));
    const int rows = shape[0] * shape[1];
    const Size size(shape[3], shape[2]);
    if (_guided.isUMat() && _maps.isUMatVector())
    {
        std::vector<UMat> maps;
        _maps.getUMatVector(maps);
        UMat out(rows, size.area(), CV_32F);
        UMat guided = _guided.getUMat();
        multiplyByUpsampledMaps(maps, as2D(guided.isContinuous() ? guided : guided.clone(), rows), shape[1], size, out);
        out.reshape(1, 4, shape).copyTo(dst);
        return;
    }
    std::vector<Mat> maps;
    _maps.getMatVector(maps);
    Mat out(rows, size.area(), CV_32F);
    Mat guided = _guided.getMat();
    checkFinite(guided, "the guided gradient given to combineGuidedGradCAM");
    multiplyByUpsampledMaps(maps, Mat(guided.isContinuous() ? guided : guided.clone()).reshape(1, rows), shape[1], size,
                            out);
    // finite maps times a finite gradient can still overflow float32 (a model with huge weights): an error,
    // never Inf in the result
    if (!allFinite(out))
        CV_Error(Error::StsOutOfRange, "explain: the Guided Grad-CAM product (map times guided gradient) overflows "
                                       "float32; check the model's weights and the input blob's scale");
    out.reshape(1, 4, shape).copyTo(dst);
}

}} // namespace cv::explain
