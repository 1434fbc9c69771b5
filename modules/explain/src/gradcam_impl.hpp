// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// The implementation class of cv::explain::GradCAM, shared by its source files: gradcam.cpp (forward
// pass, target layer, the CAM maps) and gradcam_aggregate.cpp (test-time augmentation, multi-layer
// maps). What it delegates: the CAM methods are a table (cam_method_table.hpp), Score-CAM and
// Ablation-CAM are in cam_perturbation.cpp, the input attributions are an InputAttributionImpl on the
// same forward pass (input_attribution.cpp).
#ifndef OPENCV_EXPLAIN_GRADCAM_IMPL_HPP
#define OPENCV_EXPLAIN_GRADCAM_IMPL_HPP

#include "precomp.hpp"
#include "cam_method_table.hpp"
#include "input_attribution.hpp"
#include "scored_forward.hpp"

namespace cv {
namespace explain {
namespace detail {

/** Throws when a CAM target layer's output (the activations its maps weight) holds NaN or Inf on the
    host, naming the first layer of the forward pass whose output did: the scores can stay finite past
    such a layer (max pooling skips NaN), and the maps must not turn NaN silently. */
void requireFiniteActivation(Backprop& bp, const String& layerName);

class GradCAMImpl CV_FINAL : public GradCAM
{
public:
    GradCAMImpl(const dnn::Net& net, const String& layerName, const String& scoreLayerName);

    String getLayerName() const CV_OVERRIDE { return layerName; }
    String getScoreLayerName() const CV_OVERRIDE { return fwd->scoreLayer(); }
    Ptr<Backprop> getBackprop() const CV_OVERRIDE { return bp; }
    Mat getScores() const CV_OVERRIDE { return fwd->scores(); }

    void forward(InputArray blob, OutputArray scoresOut, const String& inputName) CV_OVERRIDE;

    void forwardInputs(InputArrayOfArrays blobs_, const std::vector<String>& names, OutputArray scoresOut) CV_OVERRIDE;

    void compute(int classId, OutputArrayOfArrays gradcam, OutputArrayOfArrays counterfactual) CV_OVERRIDE;

    void computeFromGradient(const String& outputLayer, InputArray outputGrad, OutputArrayOfArrays gradcam,
                             OutputArrayOfArrays counterfactual) CV_OVERRIDE;

    void setMethod(int m) CV_OVERRIDE;
    int getMethod() const CV_OVERRIDE { return method; }

    void setTokenGrid(int height, int width, int prefixTokens) CV_OVERRIDE;
    Size getTokenGrid() const CV_OVERRIDE { return Size(tokens.width, tokens.height); }
    int getPrefixTokens() const CV_OVERRIDE { return tokens.prefix; }

    void setEigenSmooth(bool enable) CV_OVERRIDE { eigenSmooth = enable; }
    bool getEigenSmooth() const CV_OVERRIDE { return eigenSmooth; }

    void computeAugSmooth(int classId, OutputArrayOfArrays out) CV_OVERRIDE;

    void computeLayers(const std::vector<String>& layers, int classId, Size size, OutputArrayOfArrays out) CV_OVERRIDE;

    // the input attributions, on this GradCAM's forward pass

    void inputGradient(int classId, OutputArray grad, int mode) CV_OVERRIDE
    {
        attribution->gradient(classId, grad, mode);
    }

    void inputGradientFromGradient(const String& outputLayer, InputArray outputGrad, OutputArray grad,
                                   int mode) CV_OVERRIDE
    {
        attribution->gradientFromGradient(outputLayer, outputGrad, grad, mode);
    }

    void inputTimesGradient(int classId, OutputArray dst) CV_OVERRIDE
    {
        attribution->inputTimesGradient(classId, dst);
    }

    void smoothGrad(int classId, OutputArray dst, int samples, double noiseLevel, int mode, int64 seed,
                    int batchSize) CV_OVERRIDE
    {
        attribution->smoothGrad(classId, dst, samples, noiseLevel, mode, seed, batchSize);
    }

    void integratedGradients(int classId, OutputArray dst, int steps, InputArray baseline, int batchSize) CV_OVERRIDE
    {
        attribution->integratedGradients(classId, dst, steps, baseline, batchSize);
    }

    void guidedGradCAM(int classId, OutputArray dst) CV_OVERRIDE;

private:
    /** Throws unless `layer` has an output the maps can be computed on: N x K x H x W, or tokens that
        fit the token grid when one is set. */
    void requireSpatialOutput(const String& layer) const;

    /** A target layer's activations or gradients as N x K x H x W: the blob itself, or its tokens laid
        out on the token grid when one is set. */
    Mat spatial(const Mat& blob) const;

    /** Throws for a method that needs forward passes of its own (what computes the maps of several
        inputs or layers from one backward pass cannot serve them). */
    void requireGradientMethod(const char* what) const;

    /** The maps of a gradient-based method from the gradient of `seed` on `outputLayer`, on the OpenCL
        device when the Net runs there and the method has a kernel, otherwise on the CPU. */
    void gradientMaps(const CamMethodSpec& spec, const String& outputLayer, const Mat& seed,
                      OutputArrayOfArrays gradcam, OutputArrayOfArrays counterfactual);

    /** What Score-CAM and Ablation-CAM read for a target seed on `outputLayer`. */
    PerturbationInputs perturbationInputs(const String& outputLayer, const Mat& seed) const;

    /** pytorch-grad-cam's scale_cam_image: min-max normalization (epsilon 1e-7), then a bilinear
        resize to `size` unless it is empty. */
    static Mat scaleCam(const Mat& cam, Size size);

    /** The last layer in topological order with a 4D output of more than one pixel that feeds the scores. */
    String defaultTargetLayer() const;

    /** Keeps only what the Grad-CAM path from layerName to the scores needs (sets `planned`). */
    void planLayers();

    Ptr<Backprop> bp;                           // the engine of fwd
    Ptr<ScoredForward> fwd;                     // shared with `attribution`
    Ptr<InputAttributionImpl> attribution;
    PerturbationCache perturbation;             // what Score-CAM and Ablation-CAM keep between calls
    String layerName;
    int method = CAM_GRADCAM;
    bool planned = false;   // whether the Backprop keeps only the Grad-CAM path
    bool eigenSmooth = false;
    struct TokenGrid
    {
        int height = 0, width = 0, prefix = 0;
    } tokens;               // set: the target layers are read as tokens (setTokenGrid)
};

}}} // namespace cv::explain::detail

#endif
