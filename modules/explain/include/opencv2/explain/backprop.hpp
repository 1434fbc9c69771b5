// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// This file is part of the explain module (OpenCV contrib style).
#ifndef OPENCV_EXPLAIN_BACKPROP_HPP
#define OPENCV_EXPLAIN_BACKPROP_HPP

#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>

namespace cv {
namespace explain {

//! @addtogroup explain
//! @{

/** @brief A blob shape as cv::dnn gives it: std::vector<int> in OpenCV 4.x, the class cv::MatShape from
OpenCV 5.0 on. The one place where the module names the type by version. */
#if CV_VERSION_MAJOR >= 5
typedef cv::MatShape MatShape;
#else
typedef dnn::MatShape MatShape;
#endif

/** @brief How rectifying layers (ReLU family) pass gradients backwards.

Only rectifiers change with the mode (ReLU, LeakyReLU, PReLU, ReLU6/Clip, ELU); every other layer
always uses its exact gradient. With R the gradient arriving from above and f the layer's forward input:
- RECTIFIER_EXACT: the true gradient, R * f'(f).
- RECTIFIER_GUIDED: guided backpropagation @cite springenberg2015; the exact local derivative, then
  zero wherever R < 0: R * f'(f) * [R > 0]. For a plain ReLU this is R * [f > 0] * [R > 0].
- RECTIFIER_DECONVNET: deconvnet @cite zeiler2014; the rectifier applied to R itself, ignoring the
  forward input: R * [R > 0] (for LeakyReLU/PReLU the negative slope is applied to R < 0,
  for ReLU6/Clip R is clipped at zero only).
*/
enum RectifierMode
{
    RECTIFIER_EXACT = 0,
    RECTIFIER_GUIDED = 1,
    RECTIFIER_DECONVNET = 2
};

/** @brief What the backward engine knows about one layer of a loaded cv::dnn::Net. */
struct CV_EXPORTS LayerInfo
{
    int id = -1;                    //!< layer id in the Net (0 is the net input)
    String name;                    //!< layer name
    String type;                    //!< Layer::type, e.g. "Convolution"
    Ptr<dnn::Layer> layer;          //!< the Net's own layer instance (weights in `blobs`)
    std::vector<MatShape> inputShapes;   //!< shapes of the layer inputs in the last forward pass
    std::vector<MatShape> outputShapes;  //!< shapes of the layer outputs in the last forward pass
};

/** @brief The backward step of one layer: input gradients from output gradients.

Only gradients with respect to the layer inputs are computed, never weight gradients.
A rule is created once per layer (so it may prepare weights) and then called for each backward pass.
*/
class CV_EXPORTS BackwardRule
{
public:
    virtual ~BackwardRule();

    /** @brief Computes the gradients with respect to the layer inputs.
    @param inputs the layer inputs of the forward pass (float32 blobs).
    @param outputs the layer outputs of the forward pass.
    @param outputGrads the gradient of the target with respect to each output (same shapes as outputs;
           all-zero for outputs that do not reach the target).
    @param needInputGrad which input gradients are wanted; the others may be left empty.
    @param mode how rectifiers propagate (see RectifierMode); other layers ignore it.
    @param inputGrads filled with one gradient per wanted input, of the input's shape.
    */
    virtual void backward(const std::vector<Mat>& inputs, const std::vector<Mat>& outputs,
                          const std::vector<Mat>& outputGrads, const std::vector<bool>& needInputGrad,
                          RectifierMode mode, std::vector<Mat>& inputGrads) = 0;

    /** @brief The same on the OpenCL device (T-API), for Nets running on DNN_TARGET_OPENCL.
    Return false (the default) to have the engine run backward() on host copies instead.
    */
    virtual bool backwardOCL(const std::vector<UMat>& inputs, const std::vector<UMat>& outputs,
                             const std::vector<UMat>& outputGrads, const std::vector<bool>& needInputGrad,
                             RectifierMode mode, std::vector<UMat>& inputGrads);

    /** @brief Whether backward() can compute inputGrads[0] in the buffer of outputGrads[0] (element-wise
    rules with one input and one output). When it returns true, the engine may pass inputGrads[0]
    already set to that buffer whenever nothing else holds it; false (the default) never does. */
    virtual bool computesInPlace() const;

    /** @brief What backward() reads of the forward pass (flags of ActivationsRead). */
    enum ActivationsRead
    {
        READS_NOTHING = 0,  //!< shapes only (from LayerInfo and outputGrads)
        READS_INPUTS = 1,   //!< the layer inputs
        READS_OUTPUTS = 2   //!< the layer outputs
    };

    /** @brief Which activations backward() reads: READS_INPUTS | READS_OUTPUTS (the default) or less.
    The engine keeps only the activations the rules on a backward path read, so that cv::dnn can reuse
    and fuse the rest (and, on an OpenCL target, copy less to the host and back); backward() and
    backwardOCL() then get empty Mats / UMats for those they do not read (their shapes are in the
    LayerInfo the rule was made from: a rule is made again when the shapes change). */
    virtual int activationsRead() const;

    /** @brief Checks that cv::dnn computed the layer's outputs from its inputs as this rule's math
    assumes (e.g. with the layer's own weights), and throws a cv::Exception naming the layer otherwise.
    The engine calls it after each host forward pass for the layers whose inputs and outputs it kept,
    so that a wrong forward pass is reported instead of differentiated. The default checks nothing. */
    virtual void verifyForward(const std::vector<Mat>& inputs, const std::vector<Mat>& outputs) const;
};

/** @brief Creates the backward rule for one layer; may throw cv::Exception for unsupported settings. */
typedef Ptr<BackwardRule> (*BackwardRuleFactory)(const LayerInfo& layer);

/** @brief Registers (or replaces) the backward rule for a layer type, e.g. your custom layer.
@param layerType the `Layer::type` string of the layer, as registered with cv::dnn::LayerFactory.
@param factory function creating the rule for one layer of that type.
*/
CV_EXPORTS void registerBackwardRule(const String& layerType, BackwardRuleFactory factory);

/** @brief Whether a backward rule is registered for the layer type. */
CV_EXPORTS bool hasBackwardRule(const String& layerType);

/** @brief Layer types with a registered backward rule, sorted. */
CV_EXPORTS std::vector<String> getBackwardRuleTypes();

/** @brief A backward pass over a loaded cv::dnn::Net: forward once, then input gradients for any
number of targets.

The Net is shared with the caller (cv::dnn::Net is a reference-counted handle); its preferable backend,
target and fusion settings are left as they are. Outputs are requested per layer, so results do not
depend on the fusion setting. forward() sets the Net's inputs (cv::dnn::Net::setInput): an input the
caller set before is replaced.

Several explainers may share one Net, also from several threads: every call takes a lock of that Net,
and an explainer whose activations another forward pass replaced runs its own pass again, so each
result is that of its own last forward() input. Calls on one explainer object from several threads
at once are not supported, and neither is the caller's own use of the Net (setInput, forward) from
another thread while an explainer works on it.

NaN and Inf: the input blobs and seed gradients are checked; on the host, so are the outputs the target
is computed from and every gradient returned. A non-finite value is a cv::Exception naming the first
layer whose output (forward pass) or backward step produced it.
*/
class CV_EXPORTS Backprop
{
public:
    virtual ~Backprop();

    /** @brief Reads the graph of a loaded Net.
    @param net a Net read by any importer (readNet, readNetFromONNX, ...) or built with addLayer.
    */
    static Ptr<Backprop> create(const dnn::Net& net);

    /** @brief Runs the forward pass and keeps the activations needed later.
    The explainer keeps its own copy of the blob (yours is never read again); the last pass's
    activations and copy are dropped first, so a pass that throws leaves none behind (later calls
    ask for a forward pass).
    @param blob the input blob (float32, N x C x H x W for images).
    @param inputName name of the net input, empty for the first one.
    */
    virtual void forward(InputArray blob, const String& inputName = String()) = 0;

    /** @brief Runs the forward pass of a multi-input Net. The first blob is the explained input:
    backward() with an empty name differentiates with respect to it; the others are held fixed
    (their gradients are available by their input names).
    @param blobs one float32 blob per net input.
    @param names the input names (as set with cv::dnn::Net::setInputsNames or by the importer).
    */
    virtual void forwardInputs(InputArrayOfArrays blobs, const std::vector<String>& names) = 0;

    /** @brief Keeps, from the next forward() on, only the activations that gradients from these seed
    layers to these layers (an empty name: the net input) need: the layers between them, their
    inputs, and the producers cv::dnn might fuse them with. A Grad-CAM at the last convolutional block
    then costs about one plain forward pass. A later backward() that needs more re-runs the forward
    pass on the last input with a wider plan, and keeps that plan.
    */
    virtual void keepOnly(const std::vector<String>& seedLayers, const std::vector<String>& wrtLayers) = 0;

    /** @brief Keeps every layer's activations in the next forward() (the default). */
    virtual void keepAll() = 0;

    /** @brief The output `outputIndex` of a layer from the last forward pass. No copy is made: it shares
    the Net's buffer and may change with the next forward pass on this Net; clone() it to keep it.
    When another forward pass on the Net replaced the activations, this one runs again first. */
    virtual Mat getActivation(const String& layerName, int outputIndex = 0) = 0;

    /** @brief Gradients of a target with respect to layer outputs (or the net input).
    @param seedLayers layers whose outputs carry the target's gradient (output 0 of each).
    @param seedGrads the gradient d(target)/d(output) for each seed layer, of that output's shape.
    @param wrtLayers layers whose output-0 gradient is wanted; an empty name means the (explained) net
           input, and the name of an input of a multi-input Net that input.
    @param grads one gradient per entry of wrtLayers (zero where the target does not depend on it).
    @param mode how rectifiers propagate gradients.
    */
    virtual void backward(const std::vector<String>& seedLayers, const std::vector<Mat>& seedGrads,
                          const std::vector<String>& wrtLayers, std::vector<Mat>& grads,
                          RectifierMode mode = RECTIFIER_EXACT) = 0;

    /** @brief backward() with the gradients left where they were computed: on the OpenCL device when
    the Net runs on DNN_TARGET_OPENCL and every rule on the path has an OpenCL version. */
    virtual void backward(const std::vector<String>& seedLayers, const std::vector<Mat>& seedGrads,
                          const std::vector<String>& wrtLayers, std::vector<UMat>& grads,
                          RectifierMode mode = RECTIFIER_EXACT) = 0;

    /** @brief Whether the last forward() kept the activations on the OpenCL device: OpenCL is in use
    (cv::ocl::useOpenCL()), the Net's target is DNN_TARGET_OPENCL and every kept layer with several outputs
    is a Slice or Split (whose outputs are then recomputed on the device). */
    virtual bool isOnDevice() const = 0;

    /** @brief A layer's output 0 as a UMat: on the device without a copy in device mode. */
    virtual UMat getDeviceActivation(const String& layerName) = 0;

    /** @brief Layer info, including captured hyperparameters and shapes of the last forward pass. */
    virtual const LayerInfo& getLayerInfo(const String& layerName) const = 0;

    /** @brief Layer names in topological order (the net input excluded). */
    virtual std::vector<String> getLayerNames() const = 0;

    /** @brief Producers of a layer's inputs as (layer id, output index) pairs, in input order. */
    virtual std::vector<std::pair<int, int> > getLayerInputPins(const String& layerName) = 0;
};

/** @brief Compiles the module's OpenCL programs for the current OpenCL device, e.g. at start-up to fail
early instead of at the first explanation on the device.
@return the number of programs compiled; 0 when OpenCL is not in use (cv::ocl::useOpenCL()).
@throws cv::Exception naming the program, the device and the build log when one does not compile.
*/
CV_EXPORTS int checkOpenCLKernels();

//! @}

}} // namespace cv::explain

#endif
