// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// Score-CAM (masked inputs through the user's Net) and Ablation-CAM (the layers after the target,
// rebuilt and re-run with one channel zeroed at a time).
#include "cam_perturbation.hpp"
#include "blob_utils.hpp"
#include "backprop_impl.hpp"
#include <algorithm>
#include <tuple>

namespace cv {
namespace explain {
namespace detail {

namespace {

/** Image b's rows of seed and output must pair up: the target of image b is their dot product. */
void checkSeed(const PerturbationInputs& in, const Mat& out)
{
    if (in.seed.total() != out.total() || in.seed.depth() != CV_32F)
        CV_Error(Error::StsBadArg, "explain: the gradient for layer '" + in.outputLayer + "' does not fit its output");
}

/** seedRow . (row `row` of a blob with seedRow.cols values per row), accumulated in double. */
double dotRow(const Mat& seedRow, const Mat& blob, int row)
{
    return seedRow.dot(Mat(1, seedRow.cols, CV_32F, (void*)(blob.ptr<float>() + (size_t)row * seedRow.cols)));
}

/** ReLU(sum_k w_k A_k) for image b of N x K x H x W activations, w a 1 x K row. */
Mat weightedMap(const Mat& weights, const Mat& a, int b)
{
    const int k = a.size[1], h = a.size[2], w = a.size[3];
    Mat ab(k, h * w, CV_32F, (void*)a.ptr<float>(b));
    return Mat(max(Mat(weights * ab), 0.f)).reshape(1, h);
}

/** Bilinear upsampling with aligned corners (PyTorch's align_corners=True), as pytorch-grad-cam's
    Score-CAM does; cv::resize has only half-pixel centres. */
Mat upsampleAlignCorners(const Mat& src, int oh, int ow)
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

/** Channels [k0, k0 + m) of image b as masks of the input: m x C x IH x IW. */
Mat maskedInputs(const Mat& input, const Mat& a, int b, int k0, int m)
{
    const int h = a.size[2], w = a.size[3];
    const int c = input.size[1], ih = input.size[2], iw = input.size[3];
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
    return masked;
}

String nameById(const Backprop& bp, int id)
{
    for (const String& n : bp.getLayerNames())
        if (bp.getLayerInfo(n).id == id)
            return n;
    CV_Error(Error::StsInternal, "explain: no layer with this id");
}

} // namespace

void scoreCAM(const PerturbationInputs& in, PerturbationCache&, bool wantMaps, bool wantCounter,
              std::vector<Mat>& maps, std::vector<Mat>& counter)
{
    const Mat a = in.bp->getActivation(in.targetLayer);
    if (!in.singleInput)
        CV_Error(Error::StsNotImplemented, "explain: Score-CAM needs a single-input Net");
    checkSeed(in, in.bp->getActivation(in.outputLayer));
    const int n = a.size[0], k = a.size[1];
    const int perImage = (int)(in.seed.total() / n);
    const int batch = 16;
    dnn::Net net = in.net;
    const String outputName = compat::netOutputOf(net, in.outputLayer).forwardName;
    for (int b = 0; b < n; b++)
    {
        Mat scores(1, k, CV_32F);
        Mat seedRow(1, perImage, CV_32F, (void*)(in.seed.ptr<float>() + (size_t)b * perImage));
        for (int k0 = 0; k0 < k; k0 += batch)
        {
            const int m = std::min(batch, k - k0);
            net.setInput(maskedInputs(in.input, a, b, k0, m), in.inputName);
            Mat o = net.forward(outputName);
            for (int j = 0; j < m; j++)
                scores.at<float>(k0 + j) = (float)dotRow(seedRow, o, j);
        }
        auto mapFor = [&](const Mat& sc) {
            double mx;
            minMaxLoc(sc, nullptr, &mx);
            Mat e;
            exp(sc - mx, e);
            e /= sum(e)[0];
            return weightedMap(e, a, b);
        };
        if (wantMaps)
            maps.push_back(mapFor(scores));
        if (wantCounter)
            counter.push_back(mapFor(-scores));
    }
}

SubNet buildSubNet(Backprop& bp, const String& targetLayer, const String& outputLayer)
{
    const int target = bp.getLayerInfo(targetLayer).id;
    if (BackpropImpl::of(bp).getGraph().isProgram())
        CV_Error(Error::StsNotImplemented, std::string("explain: Ablation-CAM re-runs the layers after the target as a "
                                                       "Net of their own, which OpenCV 5's new engine cannot build; use "
                                                       "Score-CAM, or ") + compat::classicEngineHint());
    SubNet sub;
    sub.target = targetLayer;
    sub.output = outputLayer;
    std::vector<String> inputNames{"target"};
    std::map<int, int> subId;
    std::vector<std::tuple<int, int, int, int> > links;  // (sub producer id, output, consumer, input)
    const std::vector<String> between = BackpropImpl::of(bp).layersBetween(targetLayer, outputLayer);
    if (std::find(between.begin(), between.end(), outputLayer) == between.end())
        CV_Error(Error::StsBadArg, "explain: the layer '" + outputLayer + "' does not depend on the target layer '" +
                                       targetLayer + "'");
    for (const String& n : between)
    {
        const LayerInfo& info = bp.getLayerInfo(n);
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
        const auto pins = bp.getLayerInputPins(n);
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

void ablationCAM(const PerturbationInputs& in, PerturbationCache& cache, bool, bool, std::vector<Mat>& maps,
                 std::vector<Mat>&)
{
    if (!cache.ablation || cache.ablation->target != in.targetLayer || cache.ablation->output != in.outputLayer)
        cache.ablation = makePtr<SubNet>(buildSubNet(*in.bp, in.targetLayer, in.outputLayer));
    SubNet& sub = *cache.ablation;
    // the rebuilt part's other inputs are read by no backward rule: the plan keeps them only when asked
    std::vector<String> externalLayers;
    for (const auto& pin : sub.externals)
        if (pin.first != 0)
            externalLayers.push_back(nameById(*in.bp, pin.first));
    BackpropImpl::of(*in.bp).keepAlso(externalLayers);
    const Mat a = in.bp->getActivation(in.targetLayer);
    const Mat& out = in.bp->getActivation(in.outputLayer);
    checkSeed(in, out);
    std::vector<Mat> externals;
    for (const auto& pin : sub.externals)
        externals.push_back(pin.first == 0 ? in.input : in.bp->getActivation(nameById(*in.bp, pin.first), pin.second));
    const int n = a.size[0], k = a.size[1], h = a.size[2], w = a.size[3];
    const int perImage = (int)(in.seed.total() / n);
    const int batch = 32;
    for (int b = 0; b < n; b++)
    {
        Mat seedRow(1, perImage, CV_32F, (void*)(in.seed.ptr<float>() + (size_t)b * perImage));
        const double y = dotRow(seedRow, out, b);
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
                weights.at<float>(k0 + j) = (float)((y - dotRow(seedRow, o, j)) / (std::abs(y) > 1e-12 ? y : 1e-12));
        }
        maps.push_back(weightedMap(weights, a, b));
    }
}

}}} // namespace cv::explain::detail
