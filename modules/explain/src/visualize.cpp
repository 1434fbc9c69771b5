// Helpers that turn maps and gradients into images.
#include "precomp.hpp"
#include <opencv2/imgproc.hpp>

namespace cv {
namespace explain {

void resizeMap(InputArray _map, Size size, OutputArray dst, bool normalize)
{
    Mat map = _map.getMat();
    if (map.empty() || map.dims != 2 || map.channels() != 1)
        CV_Error(Error::StsBadArg, "explain: resizeMap expects a non-empty single-channel 2D map");
    if (size.width <= 0 || size.height <= 0)
        CV_Error(Error::StsBadArg, format("explain: resizeMap got an invalid size %dx%d", size.width, size.height));
    Mat m;
    map.convertTo(m, CV_32F);
    if (m.size() != size)
        resize(m, m, size, 0, 0, INTER_LINEAR);
    if (normalize)
    {
        double lo, hi;
        minMaxLoc(m, &lo, &hi);
        if (hi > lo)
            m = (m - lo) / (hi - lo);
        else
            m = Mat::zeros(m.size(), CV_32F);
    }
    m.copyTo(dst);
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
    const int h = blob.size[2], w = blob.size[3];
    Mat sal = Mat::zeros(h, w, CV_32F);
    for (int c = 0; c < blob.size[1]; c++)
        sal = max(sal, abs(Mat(h, w, CV_32F, (void*)blob.ptr<float>(index, c))));
    sal.copyTo(dst);
}

void combineGuidedGradCAM(InputArrayOfArrays _maps, InputArray _guided, OutputArray dst)
{
    std::vector<Mat> maps;
    _maps.getMatVector(maps);
    Mat guided = _guided.getMat();
    if (guided.dims != 4 || guided.depth() != CV_32F)
        CV_Error(Error::StsBadArg, "explain: combineGuidedGradCAM expects a float32 N x C x H x W guided gradient");
    if ((int)maps.size() != guided.size[0])
        CV_Error(Error::StsBadArg, format("explain: combineGuidedGradCAM got %d maps for a batch of %d",
                                          (int)maps.size(), guided.size[0]));
    const int channels = guided.size[1], h = guided.size[2], w = guided.size[3];
    Mat out(guided.dims, guided.size.p, CV_32F);
    for (size_t n = 0; n < maps.size(); n++)
    {
        Mat up;
        resizeMap(maps[n], Size(w, h), up, false);
        for (int c = 0; c < channels; c++)
        {
            Mat src(h, w, CV_32F, guided.ptr<float>((int)n, c));
            Mat o(h, w, CV_32F, out.ptr<float>((int)n, c));
            multiply(up, src, o);
        }
    }
    out.copyTo(dst);
}

}} // namespace cv::explain
