// The implementation class of cv::explain::GradCAM, shared by its source files:
// gradcam.cpp (forward, class scores, the CAM pipeline), gradcam_input_gradients.cpp (guided
// backprop, SmoothGrad, Integrated Gradients) and gradcam_forward_methods.cpp (test-time augmentation,
// multi-layer maps). The CAM methods are a table (cam_method_table.hpp); Score-CAM and Ablation-CAM
// are in cam_perturbation.cpp.
#ifndef OPENCV_EXPLAIN_GRADCAM_IMPL_HPP
#define OPENCV_EXPLAIN_GRADCAM_IMPL_HPP

#include "precomp.hpp"
#include "blob_utils.hpp"
#include "cam_method_table.hpp"

namespace cv {
namespace explain {
namespace detail {

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

    /** Input gradients of class `cls` for a stack of inputs, in batches through a second engine (the
        activations of the last forward() stay as they are). */
    Mat batchGradients(const Mat& inputs, int cls, RectifierMode mode, int batchSize);

    /** One-hot seed on the score layer: class `classId` of every image, or each image's top class. */
    Mat classSeed(int classId) const;

    /** Throws for a method that needs forward passes of its own (what computes the maps of several
        inputs or layers from one backward pass cannot serve them). */
    void requireGradientMethod(const char* what) const;

    /** The maps of a gradient-based method from the gradient of `seed` on `outputLayer`, on the OpenCL
        device when the Net runs there and the method has a kernel, otherwise on the CPU. */
    void gradientMaps(const CamMethodSpec& spec, const String& outputLayer, const Mat& seed,
                      OutputArrayOfArrays gradcam, OutputArrayOfArrays counterfactual);

    String defaultScoreLayer() const;

    /** The last layer in topological order with a 4D output of more than one pixel that feeds the scores. */
    String defaultTargetLayer(const std::vector<Mat>& blobs, const std::vector<String>& names) const;

    dnn::Net net;
    Ptr<Backprop> bp;
    Ptr<Backprop> aux;      // for the batches of SmoothGrad and Integrated Gradients
    PerturbationCache perturbation;  // what Score-CAM and Ablation-CAM keep between calls
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
