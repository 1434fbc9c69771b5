// Grad-CAM, counterfactual Grad-CAM, guided backpropagation and Guided Grad-CAM on the backward engine.
#include "precomp.hpp"
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
        bp->forward(blob, inputName);
        Mat s = bp->getActivation(scoreLayerName);
        const int n = s.dims > 0 ? s.size[0] : 1;
        scores = s.reshape(1, n);
        if (layerName.empty())
        {
            layerName = defaultTargetLayer();
            CV_LOG_INFO(NULL, "explain: Grad-CAM target layer '" << layerName << "' (the last layer with a spatial output)");
        }
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
        Mat a = bp->getActivation(layerName);
        if (a.dims != 4)
            CV_Error(Error::StsBadArg, format("explain: the target layer '%s' has a %dD output; Grad-CAM needs a "
                                              "spatial N x K x H x W output", layerName.c_str(), a.dims));
        std::vector<Mat> grads;
        bp->backward({outputLayer}, {outputGrad.getMat()}, {layerName}, grads, RECTIFIER_EXACT);
        std::vector<Mat> maps, counter;
        weightedMaps(a, grads[0], maps, counter);
        assignMaps(gradcam, maps);
        assignMaps(counterfactual, counter);
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

    /** alpha_k = mean_ij g_k; gradcam = ReLU(sum_k alpha_k A_k); counterfactual = ReLU(-sum_k alpha_k A_k). */
    static void weightedMaps(const Mat& a, const Mat& g, std::vector<Mat>& maps, std::vector<Mat>& counter)
    {
        const int n = a.size[0], k = a.size[1], h = a.size[2], w = a.size[3];
        for (int b = 0; b < n; b++)
        {
            Mat sum = Mat::zeros(h, w, CV_32F);
            for (int c = 0; c < k; c++)
            {
                Mat gc(h, w, CV_32F, (void*)g.ptr<float>(b, c));
                Mat ac(h, w, CV_32F, (void*)a.ptr<float>(b, c));
                const double alpha = mean(gc)[0];
                if (alpha != 0)
                    scaleAdd(ac, alpha, sum, sum);
            }
            maps.push_back(max(sum, 0.f));
            counter.push_back(max(-sum, 0.f));
        }
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
    String defaultTargetLayer() const
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
        std::vector<String> names = bp->getLayerNames();
        for (auto it = names.rbegin(); it != names.rend(); ++it)
        {
            const LayerInfo& info = bp->getLayerInfo(*it);
            if (!feeds.count(*it) || info.outputShapes.empty())
                continue;
            const MatShape& s = info.outputShapes[0];
            if (s.size() == 4 && s[2] * s[3] > 1)
                return *it;
        }
        CV_Error(Error::StsError, "explain: the Net has no layer with a spatial (N x K x H x W) output before its "
                                  "scores; pass the target layer name to GradCAM::create");
    }

    dnn::Net net;
    Ptr<Backprop> bp;
    String layerName, scoreLayerName;
    Mat scores;
};

} // namespace

Ptr<GradCAM> GradCAM::create(const dnn::Net& net, const String& layerName, const String& scoreLayerName)
{
    return makePtr<GradCAMImpl>(net, layerName, scoreLayerName);
}

}} // namespace cv::explain
