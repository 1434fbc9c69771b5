// Methods that run extra forward passes: Score-CAM (masked inputs), Ablation-CAM (the layers after
// the target, rebuilt and re-run), test-time augmentation and multi-layer maps.
#include "gradcam_impl.hpp"
#include <opencv2/imgproc.hpp>
#include <set>
#include <tuple>

namespace cv {
namespace explain {
namespace detail {

void GradCAMImpl::computeAugSmooth(int classId, OutputArrayOfArrays out)
{
    requireForward();
    requireSingleInput("computeAugSmooth");
    if (method == CAM_SCORECAM || method == CAM_ABLATIONCAM)
        CV_Error(Error::StsNotImplemented, "explain: computeAugSmooth supports the gradient-based methods and Eigen-CAM");
    const std::vector<int> classes = classesFor(classId);
    const int n = input.size[0], ih = input.size[2], iw = input.size[3];
    const double factors[] = {0.9, 1.0, 1.1};
    // the 6 variants of every image as one batch: (image, flip, factor)
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
    if (!aux)
        aux = Backprop::create(net);
    aux->keepOnly({scoreLayerName}, {layerName});
    aux->forward(batch, inputBlobName);
    const Mat out0 = aux->getActivation(scoreLayerName);
    Mat seed = Mat::zeros(6 * n, (int)(out0.total() / (6 * n)), CV_32F);
    for (int r = 0; r < 6 * n; r++)
        seed.at<float>(r, classes[r / 6]) = 1.f;
    std::vector<Mat> grads, maps;
    aux->backward({scoreLayerName}, {seed}, {layerName}, grads, RECTIFIER_EXACT);
    computeCAM(method, aux->getActivation(layerName), grads[0], maps, eigenSmooth);
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
    requireForward();
    if (layers.empty())
        CV_Error(Error::StsBadArg, "explain: computeLayers needs at least one layer");
    if (method == CAM_SCORECAM || method == CAM_ABLATIONCAM)
        CV_Error(Error::StsNotImplemented, "explain: computeLayers supports the gradient-based methods and Eigen-CAM");
    for (const String& l : layers)
    {
        const std::vector<MatShape>& shapes = bp->getLayerInfo(l).outputShapes;
        if (shapes.empty() || shapes[0].size() != 4)
            CV_Error(Error::StsBadArg, "explain: the layer '" + l + "' has no spatial N x K x H x W output");
    }
    std::vector<Mat> grads;
    bp->backward({scoreLayerName}, {classSeed(classId)}, layers, grads, RECTIFIER_EXACT);  // one pass
    std::vector<Mat> sums;
    for (size_t i = 0; i < layers.size(); i++)
    {
        std::vector<Mat> maps;
        computeCAM(method, bp->getActivation(layers[i]), grads[i], maps, eigenSmooth);
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

void GradCAMImpl::scoreCAM(const Mat& a, const String& outputLayer, const Mat& seed, bool wantMaps, bool wantCounter,
              std::vector<Mat>& maps, std::vector<Mat>& counter)
{
    requireSingleInput("Score-CAM");
    const Mat& out = bp->getActivation(outputLayer);
    if (seed.total() != out.total() || seed.depth() != CV_32F)
        CV_Error(Error::StsBadArg, "explain: the gradient for layer '" + outputLayer + "' does not fit its output");
    const int n = a.size[0], k = a.size[1], h = a.size[2], w = a.size[3];
    const int c = input.size[1], ih = input.size[2], iw = input.size[3];
    const size_t perImage = seed.total() / n;
    const int batch = 16;
    for (int b = 0; b < n; b++)
    {
        Mat scores(1, k, CV_32F);
        Mat seedRow(1, (int)perImage, CV_32F, (void*)(seed.ptr<float>() + b * perImage));
        for (int k0 = 0; k0 < k; k0 += batch)
        {
            const int m = std::min(batch, k - k0);
            Mat masked(std::vector<int>{m, c, ih, iw}, CV_32F);
            for (int j = 0; j < m; j++)
            {
                Mat mask = upsampleAlignCorners(Mat(h, w, CV_32F, (void*)a.ptr<float>(b, k0 + j)), ih, iw);
                double lo, hi;
                minMaxLoc(mask, &lo, &hi);
                mask = (mask - lo) / (hi - lo + 1e-8);
                for (int ch = 0; ch < c; ch++)
                {
                    Mat src(ih, iw, CV_32F, (void*)(input.ptr<float>(b, ch)));
                    Mat dst(ih, iw, CV_32F, masked.ptr<float>(j, ch));
                    multiply(src, mask, dst);
                }
            }
            net.setInput(masked, inputBlobName);
            Mat o = net.forward(outputLayer);
            for (int j = 0; j < m; j++)
                scores.at<float>(k0 + j) = (float)seedRow.dot(Mat(1, (int)perImage, CV_32F, o.ptr<float>() + j * perImage));
        }
        Mat ab(k, h * w, CV_32F, (void*)a.ptr<float>(b));
        auto mapFor = [&](const Mat& sc) {
            double mx;
            minMaxLoc(sc, nullptr, &mx);
            Mat e;
            exp(sc - mx, e);
            e /= sum(e)[0];
            return Mat(max(Mat(e * ab), 0.f)).reshape(1, h);
        };
        if (wantMaps)
            maps.push_back(mapFor(scores));
        if (wantCounter)
            counter.push_back(mapFor(-scores));
    }
}

GradCAMImpl::SubNet GradCAMImpl::buildSubNet(const String& outputLayer)
{
    std::map<int, String> nameOf;
    std::vector<String> order = bp->getLayerNames();
    for (const String& n : order)
        nameOf[bp->getLayerInfo(n).id] = n;
    const int target = bp->getLayerInfo(layerName).id, output = bp->getLayerInfo(outputLayer).id;
    std::set<int> down, up{output};
    for (const String& n : order)
        for (const auto& pin : bp->getLayerInputPins(n))
            if (pin.first == target || down.count(pin.first))
                down.insert(bp->getLayerInfo(n).id);
    for (auto it = order.rbegin(); it != order.rend(); ++it)
        if (up.count(bp->getLayerInfo(*it).id))
            for (const auto& pin : bp->getLayerInputPins(*it))
                up.insert(pin.first);
    if (!down.count(output))
        CV_Error(Error::StsBadArg, "explain: the layer '" + outputLayer + "' does not depend on the target layer '" +
                                       layerName + "'");
    SubNet sub;
    sub.output = outputLayer;
    std::vector<String> inputNames{"target"};
    std::map<int, int> subId;
    std::vector<std::tuple<int, int, int, int> > links;  // (sub producer id, output, consumer, input)
    for (const String& n : order)
    {
        const LayerInfo& info = bp->getLayerInfo(n);
        if (!down.count(info.id) || !up.count(info.id))
            continue;
        const CapturedParams captured(info);
        if (!captured.known)
            CV_Error(Error::StsNotImplemented, "explain: Ablation-CAM re-runs " + describeLayer(info) +
                                                   " but its parameters were not captured (its type is not captured, or the Net "
                                                   "was read before the explain library was loaded)");
        dnn::LayerParams lp = captured.params;
        for (const Mat& b : info.layer->blobs)
            lp.blobs.push_back(b.clone());
        const int id = sub.net.addLayer(n, info.type, lp);
        subId[info.id] = id;
        const auto pins = bp->getLayerInputPins(n);
        for (size_t j = 0; j < pins.size(); j++)
        {
            const auto& pin = pins[j];
            if (pin.first == target)
                links.emplace_back(0, 0, id, (int)j);
            else if (subId.count(pin.first))
                links.emplace_back(subId[pin.first], pin.second, id, (int)j);
            else
            {
                auto e = std::find(sub.externals.begin(), sub.externals.end(), pin);
                if (e == sub.externals.end())
                {
                    sub.externals.push_back(pin);
                    inputNames.push_back("external" + std::to_string(sub.externals.size()));
                    e = sub.externals.end() - 1;
                }
                links.emplace_back(0, 1 + (int)(e - sub.externals.begin()), id, (int)j);
            }
        }
    }
    sub.net.setInputsNames(inputNames);
    for (const auto& l : links)
        sub.net.connect(std::get<0>(l), std::get<1>(l), std::get<2>(l), std::get<3>(l));
    return sub;
}

void GradCAMImpl::ablationCAM(const Mat& a, const String& outputLayer, const Mat& seed, std::vector<Mat>& maps)
{
    if (!ablation || ablation->output != outputLayer)
        ablation = makePtr<SubNet>(buildSubNet(outputLayer));
    SubNet& sub = *ablation;
    const Mat& out = bp->getActivation(outputLayer);
    if (seed.total() != out.total() || seed.depth() != CV_32F)
        CV_Error(Error::StsBadArg, "explain: the gradient for layer '" + outputLayer + "' does not fit its output");
    std::vector<Mat> externals;
    for (const auto& pin : sub.externals)
        externals.push_back(pin.first == 0 ? input : bp->getActivation(nameById(pin.first), pin.second));
    const int n = a.size[0], k = a.size[1], h = a.size[2], w = a.size[3];
    const size_t perImage = seed.total() / n;
    const int batch = 32;
    for (int b = 0; b < n; b++)
    {
        const float* sp = seed.ptr<float>() + b * perImage;
        Mat seedRow(1, (int)perImage, CV_32F, (void*)sp);
        const double y = seedRow.dot(Mat(1, (int)perImage, CV_32F, (void*)(out.ptr<float>() + b * perImage)));
        Mat weights(1, k, CV_32F);
        for (int k0 = 0; k0 < k; k0 += batch)
        {
            const int m = std::min(batch, k - k0);
            Mat ablated = repeatImage(imageOf(a, b), m);
            for (int j = 0; j < m; j++)
                Mat(h, w, CV_32F, ablated.ptr<float>(j, k0 + j)).setTo(0.f);
            sub.net.setInput(ablated, "target");
            for (size_t e = 0; e < externals.size(); e++)
                sub.net.setInput(repeatImage(imageOf(externals[e], b), m), "external" + std::to_string(e + 1));
            Mat o = sub.net.forward(sub.output);
            for (int j = 0; j < m; j++)
            {
                const double yk = seedRow.dot(Mat(1, (int)perImage, CV_32F, o.ptr<float>() + j * perImage));
                weights.at<float>(k0 + j) = (float)((y - yk) / (std::abs(y) > 1e-12 ? y : 1e-12));
            }
        }
        Mat ab(k, h * w, CV_32F, (void*)a.ptr<float>(b));
        maps.push_back(Mat(max(Mat(weights * ab), 0.f)).reshape(1, h));
    }
}

String GradCAMImpl::nameById(int id) const
{
    for (const String& n : bp->getLayerNames())
        if (bp->getLayerInfo(n).id == id)
            return n;
    CV_Error(Error::StsInternal, "explain: no layer with this id");
}

Mat GradCAMImpl::upsampleAlignCorners(const Mat& src, int oh, int ow)
{
    Mat dst(oh, ow, CV_32F);
    const int h = src.rows, w = src.cols;
    for (int y = 0; y < oh; y++)
    {
        const float sy = oh > 1 ? (float)y * (h - 1) / (oh - 1) : 0.f;
        const int y0 = std::min((int)sy, h - 1), y1 = std::min(y0 + 1, h - 1);
        const float fy = sy - y0;
        for (int x = 0; x < ow; x++)
        {
            const float sx = ow > 1 ? (float)x * (w - 1) / (ow - 1) : 0.f;
            const int x0 = std::min((int)sx, w - 1), x1 = std::min(x0 + 1, w - 1);
            const float fx = sx - x0;
            dst.at<float>(y, x) = (1 - fy) * ((1 - fx) * src.at<float>(y0, x0) + fx * src.at<float>(y0, x1)) +
                                  fy * ((1 - fx) * src.at<float>(y1, x0) + fx * src.at<float>(y1, x1));
        }
    }
    return dst;
}

}}} // namespace cv::explain::detail
