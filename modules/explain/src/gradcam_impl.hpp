// The implementation class of cv::explain::GradCAM, shared by its source files:
// gradcam.cpp (forward, class scores, the CAM pipeline), gradcam_input_gradients.cpp (guided
// backprop, SmoothGrad, Integrated Gradients) and gradcam_forward_methods.cpp (Score-CAM,
// Ablation-CAM, test-time augmentation, multi-layer maps).
#ifndef OPENCV_EXPLAIN_GRADCAM_IMPL_HPP
#define OPENCV_EXPLAIN_GRADCAM_IMPL_HPP

#include "precomp.hpp"

namespace cv {
namespace explain {
namespace detail {

inline void assignMaps(OutputArrayOfArrays out, const std::vector<Mat>& maps)
{
    if (!out.needed())
        return;
    out.create((int)maps.size(), 1, CV_32F, -1);
    out.assign(maps);
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

    void forward(InputArray blob, OutputArray scoresOut, const String& inputName) CV_OVERRIDE;

    void forwardInputs(InputArrayOfArrays blobs_, const std::vector<String>& names, OutputArray scoresOut) CV_OVERRIDE;

    Mat getScores() const CV_OVERRIDE { return scores; }

    void compute(int classId, OutputArrayOfArrays gradcam, OutputArrayOfArrays counterfactual) CV_OVERRIDE;

    void computeFromGradient(const String& outputLayer, InputArray outputGrad, OutputArrayOfArrays gradcam,
                             OutputArrayOfArrays counterfactual) CV_OVERRIDE;

    void setMethod(int m) CV_OVERRIDE;

    int getMethod() const CV_OVERRIDE { return method; }

    void computeAugSmooth(int classId, OutputArrayOfArrays out) CV_OVERRIDE;

    void setEigenSmooth(bool enable) CV_OVERRIDE { eigenSmooth = enable; }
    bool getEigenSmooth() const CV_OVERRIDE { return eigenSmooth; }

    void computeLayers(const std::vector<String>& layers, int classId, Size size, OutputArrayOfArrays out) CV_OVERRIDE;

    void inputGradient(int classId, OutputArray grad, int mode) CV_OVERRIDE;

    void inputGradientFromGradient(const String& outputLayer, InputArray outputGrad, OutputArray grad,
                                   int mode) CV_OVERRIDE;

    void inputTimesGradient(int classId, OutputArray dst) CV_OVERRIDE;

    void smoothGrad(int classId, OutputArray dst, int samples, double noiseLevel, int mode, uint64 seed,
                    int batchSize) CV_OVERRIDE;

    void integratedGradients(int classId, OutputArray dst, int steps, InputArray _baseline, int batchSize) CV_OVERRIDE;

    void guidedGradCAM(int classId, OutputArray dst) CV_OVERRIDE;

private:
    void requireForward() const;

    void requireSingleInput(const char* method) const;

    /** pytorch-grad-cam's scale_cam_image: min-max normalization (epsilon 1e-7), then a bilinear
        resize to `size` unless it is empty. */
    static Mat scaleCam(const Mat& cam, Size size);

    /** The class of each image: classId, or each image's top class for -1. */
    std::vector<int> classesFor(int classId) const;

    /** Image b of a blob as a 1 x C x H x W view. */
    static Mat imageOf(const Mat& blob, int b);

    static Mat repeatImage(const Mat& image, int count);

    static Mat meanOverBatch(const Mat& blob);

    /** Input gradients of class `cls` for a stack of inputs, in batches through a second engine (the
        activations of the last forward() stay as they are). */
    Mat batchGradients(const Mat& inputs, int cls, RectifierMode mode, int batchSize);

    /** One-hot seed on the score layer: class `classId` of every image, or each image's top class. */
    Mat classSeed(int classId) const;

    /** Score-CAM: channel k's activation, upsampled (bilinear, corners aligned as pytorch-grad-cam does)
        and min-max normalized, masks the input; the target's scores on the K masked inputs, through a
        softmax, weight the channels. Forward passes run in batches of 16 through the user's Net. */
    void scoreCAM(const Mat& a, const String& outputLayer, const Mat& seed, bool wantMaps, bool wantCounter,
                  std::vector<Mat>& maps, std::vector<Mat>& counter);

    /** The layers between the target and `outputLayer`, rebuilt from their captured parameters and
        weights as a Net whose input 0 is the target's activation; inputs 1.. are the recorded outputs
        of layers outside that part that feed it (e.g. skip connections). */
    struct SubNet
    {
        dnn::Net net;
        std::vector<std::pair<int, int> > externals;  // (layer id, output) fed as inputs 1..
        String output;
    };

    SubNet buildSubNet(const String& outputLayer);

    /** Ablation-CAM: the target's score with each channel of the target layer zeroed, from re-runs of
        only the layers after it (batches of 32 channels), weights w_k = (y - y_k) / y. */
    void ablationCAM(const Mat& a, const String& outputLayer, const Mat& seed, std::vector<Mat>& maps);

    String nameById(int id) const;

    static Mat upsampleAlignCorners(const Mat& src, int oh, int ow);

    String defaultScoreLayer() const;

    /** The last layer in topological order with a 4D output of more than one pixel that feeds the scores. */
    String defaultTargetLayer(const std::vector<Mat>& blobs, const std::vector<String>& names) const;

    dnn::Net net;
    Ptr<Backprop> bp;
    Ptr<Backprop> aux;      // for the batches of SmoothGrad and Integrated Gradients
    Ptr<SubNet> ablation;   // the layers after the target, for Ablation-CAM
    String layerName, scoreLayerName;
    Mat scores;
    Mat input;              // the last input blob, for the forward passes of Score-CAM
    String inputBlobName;
    int method = CAM_GRADCAM;
    bool planned = false;   // whether the Backprop keeps only the Grad-CAM path
    bool eigenSmooth = false;
    bool singleInput = true;
};

}}} // namespace cv::explain::detail

#endif
