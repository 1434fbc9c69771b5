// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// This file is part of the explain module (OpenCV contrib style).
#ifndef OPENCV_EXPLAIN_ATTRIBUTION_HPP
#define OPENCV_EXPLAIN_ATTRIBUTION_HPP

#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>
#include "opencv2/explain/backprop.hpp"

namespace cv {
namespace explain {

//! @addtogroup explain
//! @{

/** @brief Attributions of a class score to the input blob of a loaded cv::dnn::Net: gradients (plain,
guided or deconvnet), input × gradient, SmoothGrad and Integrated Gradients.

Typical use:
@code
    cv::dnn::Net net = cv::dnn::readNet("model.onnx");
    cv::Ptr<cv::explain::InputAttribution> attr = cv::explain::InputAttribution::create(net);
    cv::Mat blob = cv::dnn::blobFromImage(image, 1.0 / 255, cv::Size(224, 224));
    attr->forward(blob);
    cv::Mat ig, saliency;
    attr->integratedGradients(-1, ig);               // top-1 class of each image
    cv::explain::gradientToSaliency(ig, saliency);
@endcode

Scores are chosen as in GradCAM: by default the output of the net's last layer, or the input of that
layer when it is a Softmax/LogSoftmax. One forward pass serves any number of classes and methods.
Attributions are blobs in the input layout (N x C x H x W for images). GradCAM offers the same
methods (GradCAM::inputGradient() and the others) on its own forward pass.
*/
class CV_EXPORTS_W InputAttribution : public Algorithm
{
public:
    /** @brief Creates the attribution for a loaded Net.
    @param net the Net (its settings are left unchanged).
    @param scoreLayerName the layer whose output holds the class scores; empty picks the last
           layer, or its input when it is a Softmax/LogSoftmax.
    */
    CV_WRAP static Ptr<InputAttribution> create(const dnn::Net& net, const String& scoreLayerName = String());

    /** @brief The layer whose output is differentiated for a class index. */
    CV_WRAP virtual String getScoreLayerName() const = 0;

    /** @brief Runs the forward pass on a blob (batch N >= 1) and keeps what the attributions need.
    @param blob float32 input blob, e.g. from cv::dnn::blobFromImage.
    @param scores optional output: the scores (N x classes, flattened per image).
    @param inputName the net input to feed, empty for the first.
    */
    CV_WRAP virtual void forward(InputArray blob, OutputArray scores = noArray(),
                                 const String& inputName = String()) = 0;

    /** @brief forward() for a multi-input Net: the first blob is the explained input, the others are held
    fixed. SmoothGrad and Integrated Gradients need a single-input Net.
    @param blobs one float32 blob per net input, the explained one first.
    @param names their input names.
    @param scores optional output: the scores.
    */
    CV_WRAP virtual void forwardInputs(InputArrayOfArrays blobs, const std::vector<String>& names,
                                       OutputArray scores = noArray()) = 0;

    /** @brief The scores of the last forward pass, N rows of per-image scores. */
    CV_WRAP virtual Mat getScores() const = 0;

    /** @brief Gradient of a class score with respect to the input blob.
    @param classId the class index, or -1 for the top class of each image.
    @param dst the gradient in the input blob's layout (N x C x H x W); a UMat stays on the OpenCL
           device when the Net runs there.
    @param mode RECTIFIER_EXACT for the plain (vanilla) gradient, RECTIFIER_GUIDED for guided
           backpropagation, or RECTIFIER_DECONVNET.
    */
    CV_WRAP virtual void gradient(int classId, OutputArray dst, int mode = RECTIFIER_EXACT) = 0;

    /** @brief gradient() for any differentiable output given its gradient.
    @param outputLayer the layer whose output 0 receives the gradient.
    @param outputGrad d(target)/d(output), the shape of that output (e.g. a mask of logits to sum).
    @param dst the gradient in the input blob's layout.
    @param mode how rectifiers pass gradients (see RectifierMode).
    */
    CV_WRAP virtual void gradientFromGradient(const String& outputLayer, InputArray outputGrad, OutputArray dst,
                                              int mode = RECTIFIER_EXACT) = 0;

    /** @brief Input × gradient: the input blob times the exact gradient of the class score.
    @param classId the class index, or -1 for the top class of each image.
    @param dst N x C x H x W attribution.
    */
    CV_WRAP virtual void inputTimesGradient(int classId, OutputArray dst) = 0;

    /** @brief Integrated Gradients (@cite sundararajan2017): (x - x0) times the mean gradient along the
    straight path from a baseline x0 to x, with the midpoint rule over `steps` points
    (alpha = (k - 0.5) / steps). The attributions sum to about score(x) - score(x0) (completeness),
    more closely with more steps.
    @param classId the class index, or -1 for the top class of each image.
    @param dst N x C x H x W attribution.
    @param steps number of points on the path.
    @param baseline the baseline x0, one blob of the input's shape or of one image; empty for zeros.
    @param batchSize path points per forward pass.
    */
    CV_WRAP virtual void integratedGradients(int classId, OutputArray dst, int steps = 32,
                                             InputArray baseline = noArray(), int batchSize = 8) = 0;

    /** @brief SmoothGrad (@cite smilkov2017): the mean gradient over noisy copies of each image.
    The copies are x + noise, noise ~ N(0, sigma^2) with sigma = noiseLevel * (max(x) - min(x)) per
    image, drawn from cv::RNG(seed); they run through the Net in batches of `batchSize`.
    @param classId the class index, or -1 for the top class of each image (on the clean image).
    @param dst N x C x H x W mean gradient.
    @param samples number of noisy copies per image.
    @param noiseLevel the noise's standard deviation relative to the image's value range.
    @param mode RECTIFIER_EXACT (the default) or RECTIFIER_GUIDED for a smoothed guided backprop.
    @param seed the seed of the noise.
    @param batchSize copies per forward pass.
    */
    CV_WRAP virtual void smoothGrad(int classId, OutputArray dst, int samples = 25, double noiseLevel = 0.15,
                                    int mode = RECTIFIER_EXACT, int64 seed = 0x5eed, int batchSize = 8) = 0;

    /** @brief The backward engine, for advanced use (activations, other layers). */
    virtual Ptr<Backprop> getBackprop() const = 0;
};

//! @}

}} // namespace cv::explain

#endif
