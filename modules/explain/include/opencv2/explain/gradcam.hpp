// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// This file is part of the explain module (OpenCV contrib style).
#ifndef OPENCV_EXPLAIN_GRADCAM_HPP
#define OPENCV_EXPLAIN_GRADCAM_HPP

#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>
#include <opencv2/imgproc.hpp>
#include "opencv2/explain/attribution.hpp"
#include "opencv2/explain/backprop.hpp"

namespace cv {
namespace explain {

//! @addtogroup explain
//! @{

/** @brief The class activation map methods; all share one pipeline (activations A and gradients g of the
target layer -> channel weights or element-wise combination -> sum over channels -> ReLU) and differ
only in the combination (definitions as in pytorch-grad-cam and the original papers).
*/
enum CAMMethod
{
    CAM_GRADCAM = 0,              //!< w_k = mean_ij g_kij @cite selvaraju2017
    CAM_GRADCAM_PLUS_PLUS = 1,    //!< w_k = sum_ij a_kij ReLU(g_kij), a = g^2 / (2 g^2 + sum_ab A_kab g^3) @cite chattopadhay2018
    CAM_XGRADCAM = 2,             //!< w_k = sum_ij A_kij g_kij / sum_ab A_kab @cite fu2020
    CAM_HIRESCAM = 3,             //!< L = ReLU(sum_k g_k * A_k) element-wise @cite draelos2020
    CAM_GRADCAM_ELEMENTWISE = 4,  //!< L = sum_k ReLU(g_k * A_k)
    CAM_LAYERCAM = 5,             //!< L = ReLU(sum_k ReLU(g_k) * A_k) @cite jiang2021
    CAM_EIGENCAM = 6,             //!< first principal component of A (class-agnostic, no gradient) @cite muhammad2020
    CAM_EIGENGRADCAM = 7,         //!< first principal component of g * A
    CAM_SCORECAM = 8,             //!< w = softmax_k(score of the input masked by normalized upsampled A_k) @cite wang2020
    CAM_ABLATIONCAM = 9           //!< w_k = (y - y with A_k zeroed) / y, re-running only the layers after A @cite desai2020
};

/** @brief A CAM map per image from a target layer's activations and gradients.

The shared pipeline of the gradient-based methods and Eigen-CAM, usable with gradients from anywhere.
For the principal-component methods the sign of the component is chosen so that it correlates
positively with the channel sum of the activations (an SVD alone leaves it arbitrary).
@param method a CAMMethod other than CAM_SCORECAM and CAM_ABLATIONCAM (which need forward passes, see GradCAM).
@param activations N x K x H x W float32 activations A.
@param gradients N x K x H x W float32 gradients dy/dA (ignored by CAM_EIGENCAM, may be empty then).
@param maps one H x W float32 map per image, after the ReLU.
@param eigenSmooth replace the sum over channels by the first principal component of the per-channel
       terms (pytorch-grad-cam's eigen_smooth), signed to agree with their sum.
*/
CV_EXPORTS_W void computeCAM(int method, InputArray activations, InputArray gradients, OutputArrayOfArrays maps,
                             bool eigenSmooth = false);

/** @brief Reads a model into a Net that the explainers differentiate, on every OpenCV version.

The same as cv::dnn::readNet(model, config, framework) on OpenCV 4.x. On OpenCV 5 it reads the model
with the classic engine (cv::dnn::ENGINE_CLASSIC): readNet's default, the new engine, fuses layers and
repacks their weights privately while reading, so its Nets cannot be differentiated exactly and the
explainers refuse them.
@param model the model file (ONNX, Caffe, TensorFlow, Darknet, ... as cv::dnn::readNet takes it).
@param config the text file of the model where its format has one (e.g. .prototxt, .cfg).
@param framework the format when the extensions do not tell it (e.g. "onnx").
*/
CV_EXPORTS_W dnn::Net readNet(const String& model, const String& config = String(),
                              const String& framework = String());

/** @brief Grad-CAM @cite selvaraju2017 and the other maps of the paper on a loaded cv::dnn::Net.

Typical use:
@code
    cv::dnn::Net net = cv::explain::readNet("model.onnx");  // cv::dnn::readNet on OpenCV 4.x
    cv::Ptr<cv::explain::GradCAM> cam = cv::explain::GradCAM::create(net);  // last spatial layer
    cam->forward(cv::dnn::blobFromImage(image, 1.0 / 255, cv::Size(224, 224)));
    std::vector<cv::Mat> maps;
    cam->compute(-1, maps);                          // top-1 class of each image
    cv::Mat heat, shown;
    cv::explain::resizeMap(maps[0], image.size(), heat);
    cv::explain::applyMapOverlay(image, heat, shown);
@endcode

Scores: by default the target is the pre-softmax score of a class, i.e. the output of the net's last
layer, or the input of that layer when it is a Softmax/LogSoftmax. One forward pass serves any number
of targets: call forward() once, then compute() for each class.

Maps are returned one per image of the batch, as 2D float32 matrices at the target layer's resolution
(Grad-CAM, counterfactual) or as blobs in the input layout N x C x H x W (input gradients,
Guided Grad-CAM).
*/
class CV_EXPORTS_W GradCAM : public Algorithm
{
public:
    /** @brief Creates the explainer for a loaded Net.
    @param net the Net (its settings are left unchanged).
    @param layerName the target layer A; empty picks the last layer with a spatial (4D, H*W > 1)
           output, see getLayerName().
    @param scoreLayerName the layer whose output holds the class scores; empty picks the last
           layer, or its input when it is a Softmax/LogSoftmax.
    */
    CV_WRAP static Ptr<GradCAM> create(const dnn::Net& net, const String& layerName = String(),
                                       const String& scoreLayerName = String());

    /** @brief The target layer whose activations are weighted. */
    CV_WRAP virtual String getLayerName() const = 0;

    /** @brief The layer whose output is differentiated for a class index. */
    CV_WRAP virtual String getScoreLayerName() const = 0;

    /** @brief Runs the forward pass on a blob (batch N >= 1) and keeps what the maps need.
    @param blob float32 input blob, e.g. from cv::dnn::blobFromImage.
    @param scores optional output: the scores (N x classes, flattened per image).
    @param inputName the net input to feed, empty for the first.
    */
    CV_WRAP virtual void forward(InputArray blob, OutputArray scores = noArray(),
                                 const String& inputName = String()) = 0;

    /** @brief forward() for a multi-input Net (e.g. an image and a question embedding): the first
    blob is the explained input, the others are held fixed. SmoothGrad, Integrated Gradients and
    Score-CAM need a single-input Net.
    @param blobs one float32 blob per net input, the explained one first.
    @param names their input names.
    @param scores optional output: the scores.
    */
    CV_WRAP virtual void forwardInputs(InputArrayOfArrays blobs, const std::vector<String>& names,
                                       OutputArray scores = noArray()) = 0;

    /** @brief The scores of the last forward pass, N rows of per-image scores. */
    CV_WRAP virtual Mat getScores() const = 0;

    /** @brief Grad-CAM (or the method set with setMethod()) and counterfactual maps for a class.
    @param classId the class index, or -1 for the top-scoring class of each image.
    @param gradcam one map per image: ReLU(sum_k alpha_k A^k), alpha_k = mean_ij dy/dA^k_ij.
    @param counterfactual optional: the same with alpha negated.
    */
    CV_WRAP virtual void compute(int classId, OutputArrayOfArrays gradcam,
                                 OutputArrayOfArrays counterfactual = noArray()) = 0;

    /** @brief compute() without the counterfactual maps. The Python binding always asks compute() for
    both outputs; this is its way to the methods that have no counterfactual map (Eigen-CAM).
    @param classId the class index, or -1 for the top-scoring class of each image.
    @param maps one map per image.
    */
    CV_WRAP void computeMaps(int classId, OutputArrayOfArrays maps) { compute(classId, maps, noArray()); }

    /** @brief Grad-CAM for any differentiable output given its gradient.
    @param outputLayer the layer whose output 0 receives the gradient.
    @param outputGrad d(target)/d(output), the shape of that output (e.g. a mask of logits to sum).
    @param gradcam one map per image.
    @param counterfactual optional counterfactual maps.
    */
    CV_WRAP virtual void computeFromGradient(const String& outputLayer, InputArray outputGrad,
                                             OutputArrayOfArrays gradcam,
                                             OutputArrayOfArrays counterfactual = noArray()) = 0;

    /** @brief Gradient of a class score with respect to the input blob (InputAttribution::gradient() on
    this GradCAM's forward pass, guided by default).
    @param classId the class index, or -1 for the top class of each image.
    @param grad the gradient in the input blob's layout (N x C x H x W).
    @param mode RECTIFIER_GUIDED for guided backpropagation, RECTIFIER_DECONVNET, or RECTIFIER_EXACT
           for the plain (vanilla) gradient.
    */
    CV_WRAP virtual void inputGradient(int classId, OutputArray grad, int mode = RECTIFIER_GUIDED) = 0;

    /** @brief inputGradient() for a user-given output gradient (see computeFromGradient()). */
    CV_WRAP virtual void inputGradientFromGradient(const String& outputLayer, InputArray outputGrad,
                                                   OutputArray grad, int mode = RECTIFIER_GUIDED) = 0;

    /** @copydoc InputAttribution::inputTimesGradient
    On this GradCAM's forward pass. */
    CV_WRAP virtual void inputTimesGradient(int classId, OutputArray dst) = 0;

    /** @copydoc InputAttribution::smoothGrad
    On this GradCAM's forward pass. */
    CV_WRAP virtual void smoothGrad(int classId, OutputArray dst, int samples = 25, double noiseLevel = 0.15,
                                    int mode = RECTIFIER_EXACT, int64 seed = 0x5eed, int batchSize = 8) = 0;

    /** @copydoc InputAttribution::integratedGradients
    On this GradCAM's forward pass. */
    CV_WRAP virtual void integratedGradients(int classId, OutputArray dst, int steps = 32,
                                             InputArray baseline = noArray(), int batchSize = 8) = 0;

    /** @brief Guided Grad-CAM: the Grad-CAM map upsampled (bilinear) to the input size, times the
    guided backpropagation gradient, element-wise.
    @param classId the class index, or -1 for the top class of each image.
    @param dst N x C x H x W blob.
    */
    CV_WRAP virtual void guidedGradCAM(int classId, OutputArray dst) = 0;

    /** @brief Chooses the CAM method used by compute() and computeFromGradient() (default CAM_GRADCAM).
    The counterfactual map is always the same method applied to the negated target. */
    CV_WRAP virtual void setMethod(int method) = 0;

    /** @brief The CAM method in use, a CAMMethod. */
    CV_WRAP virtual int getMethod() const = 0;

    /** @brief Eigen smoothing (see computeCAM()) for the gradient-based methods; off by default. */
    CV_WRAP virtual void setEigenSmooth(bool enable) = 0;

    /** @brief Whether eigen smoothing is on. */
    CV_WRAP virtual bool getEigenSmooth() const = 0;

    /** @brief Reads the target layers as tokens, for vision transformers: a layer's N x T x C output
    (tokens along axis 1, channels last) is laid out on a height x width grid with K = C channels after
    its first `prefixTokens` tokens are dropped (ViT's class token: 1; DeiT's class and distillation
    tokens: 2), T = prefixTokens + height * width; an N x height x width x C output (Swin's stages,
    channels last) needs prefixTokens = 0. This is the rearrangement pytorch-grad-cam's reshape_transform
    makes for these models; the maps are then height x width. It applies to compute(),
    computeFromGradient(), computeLayers() and computeAugSmooth() with the gradient-based methods and
    Eigen-CAM (Score-CAM and Ablation-CAM refuse it); give the target layer by name. height = width = 0
    (the default) reads N x K x H x W outputs as usual.
    */
    CV_WRAP virtual void setTokenGrid(int height, int width, int prefixTokens = 1) = 0;

    /** @brief The token grid set by setTokenGrid() (0 x 0 when off). */
    CV_WRAP virtual Size getTokenGrid() const = 0;

    /** @brief The number of leading tokens setTokenGrid() drops. */
    CV_WRAP virtual int getPrefixTokens() const = 0;

    /** @brief One map from several target layers (pytorch-grad-cam's multi-layer CAM): the method's map
    at each layer, from one backward pass, min-max normalized and upsampled (bilinear) to `size`, then
    averaged and normalized again (the order and epsilon of pytorch-grad-cam's scale_cam_image).
    @param layers the target layers (each with an N x K x H x W output).
    @param classId the class index, or -1 for the top class of each image.
    @param size the output size, e.g. the input's.
    @param maps one map per image, in [0, 1].
    */
    CV_WRAP virtual void computeLayers(const std::vector<String>& layers, int classId, Size size,
                                       OutputArrayOfArrays maps) = 0;

    /** @brief Test-time augmentation (pytorch-grad-cam's aug_smooth): the map of each image computed
    on 6 variants (horizontal flip or not, times 0.9, 1.0, 1.1), each normalized and upsampled to the
    input size as computeLayers() does, flipped back, and averaged. The variants run as one batch.
    Needs a single-input Net and a gradient-based method (or Eigen-CAM).
    @param classId the class index, or -1 for the top class of each (original) image.
    @param maps one map per image at the input blob's H x W.
    */
    CV_WRAP virtual void computeAugSmooth(int classId, OutputArrayOfArrays maps) = 0;

    /** @brief The backward engine, for advanced use (activations, other layers). */
    virtual Ptr<Backprop> getBackprop() const = 0;
};

/** @brief Upsamples a map to a size (bilinear, half-pixel centres as cv::resize INTER_LINEAR) and
min-max normalizes it to [0, 1] (a constant map becomes all zeros).
@param map a 2D float map.
@param size the output size, usually the image size.
@param dst CV_32F map in [0, 1].
@param normalize false keeps the raw values.
*/
CV_EXPORTS_W void resizeMap(InputArray map, Size size, OutputArray dst, bool normalize = true);

/** @brief Draws a [0,1] map over an image with a colormap.
@param image 8-bit 1- or 3-channel image.
@param map CV_32F map in [0,1] (resized to the image if needed).
@param dst 8-bit BGR result.
@param colormap a cv::ColormapTypes value.
@param alpha weight of the colored map.
*/
CV_EXPORTS_W void applyMapOverlay(InputArray image, InputArray map, OutputArray dst,
                                  int colormap = COLORMAP_JET, double alpha = 0.5);

/** @brief Turns one image of an input-gradient blob into a viewable 8-bit image:
standardized, scaled by 0.1 around mid-gray and clipped (as is usual for guided backprop).
@param blob N x C x H x W gradient (C = 1 or 3).
@param dst 8-bit image H x W with C channels.
@param index the image in the batch.
@param swapRB swap the first and last channels (when the blob is RGB).
*/
CV_EXPORTS_W void gradientToImage(InputArray blob, OutputArray dst, int index = 0, bool swapRB = false);

/** @brief A saliency map from an input-gradient blob: the maximum over channels of the absolute
value, as in Simonyan et al.'s vanilla saliency.
@param blob N x C x H x W gradient.
@param dst H x W float32 map.
@param index the image in the batch.
*/
CV_EXPORTS_W void gradientToSaliency(InputArray blob, OutputArray dst, int index = 0);

/** @brief Guided Grad-CAM from its parts: each map upsampled (bilinear) to the blob's H x W times
the guided gradient of its image.
@param maps one Grad-CAM map per image.
@param guided N x C x H x W guided backpropagation gradient.
@param dst N x C x H x W result.
*/
CV_EXPORTS_W void combineGuidedGradCAM(InputArrayOfArrays maps, InputArray guided, OutputArray dst);

//! @}

}} // namespace cv::explain

#endif
