// Grad-CAM, counterfactual Grad-CAM, guided backpropagation and Guided Grad-CAM on the backward engine.
#include "precomp.hpp"
#include "ocl_ops.hpp"
#include <opencv2/core/utils/logger.hpp>
#include <set>

namespace cv {
namespace explain {

namespace {

void assignMaps(OutputArrayOfArrays out, const std::vector<Mat>& maps)
{
    if (!out.needed())
        return;
    out.create((int)maps.size(), 1, CV_32F, -1);
    out.assign(maps);
}

bool isSoftmax(const Ptr<dnn::Layer>& l)
{
    return l->type == "Softmax" || l->type == "SoftMax" || l->type == "LogSoftmax";
}

class GradCAMImpl CV_FINAL : public GradCAM
{
public:
    GradCAMImpl(const dnn::Net& net_, const String& layerName_, const String& scoreLayerName_)
        : net(net_), layerName(layerName_), scoreLayerName(scoreLayerName_)
    {
        bp = Backprop::create(net);  // throws on an empty Net
        if (!layerName.empty())
            bp->getLayerInfo(layerName);  // throws on an unknown name
        if (scoreLayerName.empty())
            scoreLayerName = defaultScoreLayer();
        else
            bp->getLayerInfo(scoreLayerName);
    }

    String getLayerName() const CV_OVERRIDE { return layerName; }
    String getScoreLayerName() const CV_OVERRIDE { return scoreLayerName; }
    Ptr<Backprop> getBackprop() const CV_OVERRIDE { return bp; }

    void forward(InputArray blob, OutputArray scoresOut, const String& inputName) CV_OVERRIDE
    {
        forwardInputs(std::vector<Mat>{blob.getMat()}, std::vector<String>{inputName}, scoresOut);
    }

    void forwardInputs(InputArrayOfArrays blobs_, const std::vector<String>& names, OutputArray scoresOut) CV_OVERRIDE
    {
        std::vector<Mat> blobs;
        blobs_.getMatVector(blobs);
        if (layerName.empty() && !blobs.empty() && !blobs[0].empty())
        {
            layerName = defaultTargetLayer(blobs, names);
            CV_LOG_INFO(NULL, "explain: Grad-CAM target layer '" << layerName << "' (the last layer with a spatial output)");
        }
        if (!planned && !layerName.empty())
        {
            // Grad-CAM needs only the layers between the target and the scores; input gradients widen
            // the plan on first use (see Backprop::keepOnly).
            bp->keepOnly({scoreLayerName}, {layerName});
            planned = true;
        }
        bp->forwardInputs(blobs, names);
        input = blobs[0].clone();
        inputBlobName = names.empty() ? String() : names[0];
        singleInput = blobs.size() == 1;
        Mat s = bp->getActivation(scoreLayerName);
        const int n = s.dims > 0 ? s.size[0] : 1;
        scores = s.reshape(1, n);
        if (scoresOut.needed())
            scores.copyTo(scoresOut);
    }

    Mat getScores() const CV_OVERRIDE { return scores; }

    void compute(int classId, OutputArrayOfArrays gradcam, OutputArrayOfArrays counterfactual) CV_OVERRIDE
    {
        computeFromGradient(scoreLayerName, classSeed(classId), gradcam, counterfactual);
    }

    void computeFromGradient(const String& outputLayer, InputArray outputGrad, OutputArrayOfArrays gradcam,
                             OutputArrayOfArrays counterfactual) CV_OVERRIDE
    {
        requireForward();
        const std::vector<MatShape>& shapes = bp->getLayerInfo(layerName).outputShapes;
        const int dims = shapes.empty() ? 0 : (int)shapes[0].size();
        if (dims != 4)
            CV_Error(Error::StsBadArg, format("explain: the target layer '%s' has a %dD output; Grad-CAM needs a "
                                              "spatial N x K x H x W output", layerName.c_str(), dims));
        std::vector<Mat> maps, counter;
        if (method == CAM_ABLATIONCAM)
        {
            if (counterfactual.needed())
                CV_Error(Error::StsBadArg, "explain: Ablation-CAM's weights do not change when the target is "
                                           "negated, so it has no counterfactual map");
            ablationCAM(bp->getActivation(layerName), outputLayer, outputGrad.getMat(), maps);
        }
        else if (method == CAM_SCORECAM)
        {
            Mat a = bp->getActivation(layerName);
            scoreCAM(a, outputLayer, outputGrad.getMat(), gradcam.needed(), counterfactual.needed(), maps, counter);
        }
        else
        {
            if (method == CAM_EIGENCAM && counterfactual.needed())
                CV_Error(Error::StsBadArg, "explain: Eigen-CAM does not depend on the target, so it has no "
                                           "counterfactual map");
            if (bp->isOnDevice() && method == CAM_GRADCAM && !eigenSmooth)
            {
                // Net on DNN_TARGET_OPENCL: gradients, weights and maps stay on the device
                std::vector<UMat> grads;
                bp->backward({outputLayer}, {outputGrad.getMat()}, {layerName}, grads, RECTIFIER_EXACT);
                UMat ua = bp->getDeviceActivation(layerName), neg;
                computeCAM(method, ua, grads[0], gradcam);
                if (counterfactual.needed())
                {
                    as2D(grads[0], 1).convertTo(neg, CV_32F, -1.0);
                    computeCAM(method, ua, neg.reshape(1, grads[0].dims, grads[0].size.p), counterfactual);
                }
                return;
            }
            Mat a = bp->getActivation(layerName), g;
            if (method != CAM_EIGENCAM)
            {
                std::vector<Mat> grads;
                bp->backward({outputLayer}, {outputGrad.getMat()}, {layerName}, grads, RECTIFIER_EXACT);
                g = grads[0];
            }
            computeCAM(method, a, g, maps, eigenSmooth);
            if (counterfactual.needed())
                computeCAM(method, a, Mat(-g), counter, eigenSmooth);
        }
        assignMaps(gradcam, maps);
        assignMaps(counterfactual, counter);
    }

    void setMethod(int m) CV_OVERRIDE
    {
        if (m < CAM_GRADCAM || m > CAM_ABLATIONCAM)
            CV_Error(Error::StsBadArg, format("explain: unknown CAM method %d", m));
        method = m;
    }

    int getMethod() const CV_OVERRIDE { return method; }

    void computeAugSmooth(int classId, OutputArrayOfArrays out) CV_OVERRIDE
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

    void setEigenSmooth(bool enable) CV_OVERRIDE { eigenSmooth = enable; }
    bool getEigenSmooth() const CV_OVERRIDE { return eigenSmooth; }

    void computeLayers(const std::vector<String>& layers, int classId, Size size, OutputArrayOfArrays out) CV_OVERRIDE
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

    void inputGradient(int classId, OutputArray grad, int mode) CV_OVERRIDE
    {
        inputGradientFromGradient(scoreLayerName, classSeed(classId), grad, mode);
    }

    void inputGradientFromGradient(const String& outputLayer, InputArray outputGrad, OutputArray grad,
                                   int mode) CV_OVERRIDE
    {
        requireForward();
        std::vector<Mat> grads;
        bp->backward({outputLayer}, {outputGrad.getMat()}, {String()}, grads, (RectifierMode)mode);
        grads[0].copyTo(grad);
    }

    void inputTimesGradient(int classId, OutputArray dst) CV_OVERRIDE
    {
        Mat g;
        inputGradient(classId, g, RECTIFIER_EXACT);
        Mat(g.mul(input)).copyTo(dst);
    }

    void smoothGrad(int classId, OutputArray dst, int samples, double noiseLevel, int mode, uint64 seed,
                    int batchSize) CV_OVERRIDE
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

    void integratedGradients(int classId, OutputArray dst, int steps, InputArray _baseline, int batchSize) CV_OVERRIDE
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
                                       "blob's shape " + shapeText(dnn::shape(input)) + " or of one image");
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

    void guidedGradCAM(int classId, OutputArray dst) CV_OVERRIDE
    {
        Mat seed = classSeed(classId);
        std::vector<Mat> maps;
        computeFromGradient(scoreLayerName, seed, maps, noArray());
        Mat guided;
        inputGradientFromGradient(scoreLayerName, seed, guided, RECTIFIER_GUIDED);
        combineGuidedGradCAM(maps, guided, dst);
    }

private:
    void requireForward() const
    {
        if (scores.empty())
            CV_Error(Error::StsError, "explain: call GradCAM::forward() with an input blob first");
    }

    void requireSingleInput(const char* method) const
    {
        if (!singleInput)
            CV_Error(Error::StsNotImplemented, std::string("explain: ") + method + " needs a single-input Net");
    }

    /** pytorch-grad-cam's scale_cam_image: min-max normalization (epsilon 1e-7), then a bilinear
        resize to `size` unless it is empty. */
    static Mat scaleCam(const Mat& cam, Size size)
    {
        double lo, hi;
        minMaxLoc(cam, &lo, &hi);
        Mat m = (cam - lo) / (1e-7 + (hi - lo));
        if (!size.empty() && size != m.size())
            resize(m, m, size, 0, 0, INTER_LINEAR);
        return m;
    }

    /** The class of each image: classId, or each image's top class for -1. */
    std::vector<int> classesFor(int classId) const
    {
        Mat seed = classSeed(classId);  // validates the index
        std::vector<int> classes;
        for (int n = 0; n < seed.rows; n++)
        {
            Point p;
            minMaxLoc(seed.row(n), nullptr, nullptr, nullptr, &p);
            classes.push_back(p.x);
        }
        return classes;
    }

    static std::string shapeText(const MatShape& s)
    {
        std::string t = "[";
        for (size_t i = 0; i < s.size(); i++)
            t += (i ? " x " : "") + std::to_string(s[i]);
        return t + "]";
    }

    /** Image b of a blob as a 1 x C x H x W view. */
    static Mat imageOf(const Mat& blob, int b)
    {
        std::vector<int> shape(blob.size.p, blob.size.p + blob.dims);
        shape[0] = 1;
        return Mat(shape, CV_32F, (void*)blob.ptr<float>(b));
    }

    static Mat repeatImage(const Mat& image, int count)
    {
        std::vector<int> shape(image.size.p, image.size.p + image.dims);
        shape[0] = count;
        Mat out(shape, CV_32F);
        for (int i = 0; i < count; i++)
            image.copyTo(imageOf(out, i));
        return out;
    }

    static Mat meanOverBatch(const Mat& blob)
    {
        const int n = blob.size[0];
        Mat rows = blob.reshape(1, n), mean;
        reduce(rows, mean, 0, REDUCE_AVG);
        std::vector<int> shape(blob.size.p, blob.size.p + blob.dims);
        shape[0] = 1;
        return mean.reshape(1, shape);
    }

    /** Input gradients of class `cls` for a stack of inputs, in batches through a second engine (the
        activations of the last forward() stay as they are). */
    Mat batchGradients(const Mat& inputs, int cls, RectifierMode mode, int batchSize)
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

    /** One-hot seed on the score layer: class `classId` of every image, or each image's top class. */
    Mat classSeed(int classId) const
    {
        requireForward();
        const int classes = scores.cols;
        if (classId < -1 || classId >= classes)
            CV_Error(Error::StsOutOfRange,
                     format("explain: class index %d is out of range [0, %d) of the scores of layer '%s' "
                            "(-1 picks the top class)", classId, classes, scoreLayerName.c_str()));
        Mat seed = Mat::zeros(scores.size(), CV_32F);
        for (int n = 0; n < scores.rows; n++)
        {
            Point top(classId, 0);
            if (classId < 0)
                minMaxLoc(scores.row(n), nullptr, nullptr, nullptr, &top);
            seed.at<float>(n, top.x) = 1.f;
        }
        return seed;
    }

    /** Score-CAM: channel k's activation, upsampled (bilinear, corners aligned as pytorch-grad-cam does)
        and min-max normalized, masks the input; the target's scores on the K masked inputs, through a
        softmax, weight the channels. Forward passes run in batches of 16 through the user's Net. */
    void scoreCAM(const Mat& a, const String& outputLayer, const Mat& seed, bool wantMaps, bool wantCounter,
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

    /** The layers between the target and `outputLayer`, rebuilt from their captured parameters and
        weights as a Net whose input 0 is the target's activation; inputs 1.. are the recorded outputs
        of layers outside that part that feed it (e.g. skip connections). */
    struct SubNet
    {
        dnn::Net net;
        std::vector<std::pair<int, int> > externals;  // (layer id, output) fed as inputs 1..
        String output;
    };

    SubNet buildSubNet(const String& outputLayer)
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
            if (!info.hasParams)
                CV_Error(Error::StsNotImplemented, "explain: Ablation-CAM re-runs " + describeLayer(info) +
                                                       " but its parameters were not captured (its type is not captured, or the Net "
                                                       "was read before the explain library was loaded)");
            dnn::LayerParams lp = info.params;
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

    /** Ablation-CAM: the target's score with each channel of the target layer zeroed, from re-runs of
        only the layers after it (batches of 32 channels), weights w_k = (y - y_k) / y. */
    void ablationCAM(const Mat& a, const String& outputLayer, const Mat& seed, std::vector<Mat>& maps)
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

    String nameById(int id) const
    {
        for (const String& n : bp->getLayerNames())
            if (bp->getLayerInfo(n).id == id)
                return n;
        CV_Error(Error::StsInternal, "explain: no layer with this id");
    }

    static Mat upsampleAlignCorners(const Mat& src, int oh, int ow)
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

    String defaultScoreLayer() const
    {
        std::vector<int> outs = net.getUnconnectedOutLayers();
        if (outs.empty())
            CV_Error(Error::StsError, "explain: the Net has no output layer");
        int id = outs.back();
        Ptr<dnn::Layer> l = net.getLayer(id);
        if (isSoftmax(l))
        {
            std::vector<Ptr<dnn::Layer> > in = net.getLayerInputs(id);
            if (in.size() == 1 && net.getLayerId(in[0]->name) > 0)
                return in[0]->name;
        }
        return l->name;
    }

    /** The last layer in topological order with a 4D output of more than one pixel that feeds the scores. */
    String defaultTargetLayer(const std::vector<Mat>& blobs, const std::vector<String>& names) const
    {
        std::set<String> feeds;
        std::vector<String> stack{scoreLayerName};
        while (!stack.empty())
        {
            String name = stack.back();
            stack.pop_back();
            if (!feeds.insert(name).second)
                continue;
            for (const Ptr<dnn::Layer>& p : net.getLayerInputs(net.getLayerId(name)))
                if (net.getLayerId(p->name) > 0)
                    stack.push_back(p->name);
        }
        std::vector<int> ids;
        std::vector<std::vector<MatShape> > in, out;
        try
        {
            std::vector<MatShape> shapes(blobs.size());
            for (size_t i = 0; i < blobs.size(); i++)
            {
                const int index = i < names.size() && !names[i].empty()
                                      ? net.getLayer(0)->outputNameToIndex(names[i]) : (int)i;
                if (index < 0)
                    return String();  // the forward pass reports the unknown name
                if ((int)shapes.size() <= index)
                    shapes.resize(index + 1);
                shapes[index] = dnn::shape(blobs[i]);
            }
            net.getLayersShapes(shapes, ids, in, out);
        }
        catch (const cv::Exception&)
        {
            return String();  // the forward pass reports the bad blob
        }
        std::map<String, MatShape> outShape;
        for (size_t i = 0; i < ids.size(); i++)
            if (ids[i] > 0 && !out[i].empty())
                outShape[net.getLayer(ids[i])->name] = out[i][0];
        std::vector<String> layers = bp->getLayerNames();
        for (auto it = layers.rbegin(); it != layers.rend(); ++it)
        {
            auto s = outShape.find(*it);
            if (!feeds.count(*it) || s == outShape.end())
                continue;
            if (s->second.size() == 4 && s->second[2] * s->second[3] > 1)
                return *it;
        }
        CV_Error(Error::StsError, "explain: the Net has no layer with a spatial (N x K x H x W) output before its "
                                  "scores; pass the target layer name to GradCAM::create");
    }

    dnn::Net net;
    Ptr<Backprop> bp;
    Ptr<Backprop> aux;      // for the batches of SmoothGrad and Integrated Gradients
    Ptr<SubNet> ablation;   // the layers after the target, for Ablation-CAM
    String layerName, scoreLayerName;
    Mat scores;
    Mat input;              // the last input blob, for the forward passes of Score-CAM
    String inputBlobName;
    int method = CAM_GRADCAM;
    bool planned = false;
    bool eigenSmooth = false;
    bool singleInput = true;   // whether the Backprop keeps only the Grad-CAM path
};

} // namespace

Ptr<GradCAM> GradCAM::create(const dnn::Net& net, const String& layerName, const String& scoreLayerName)
{
    return makePtr<GradCAMImpl>(net, layerName, scoreLayerName);
}

}} // namespace cv::explain
