// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// The implementation of cv::explain::InputAttribution, also serving GradCAM's input-gradient methods
// (on GradCAM's forward pass), and the NoiseTunnel that SmoothGrad is.
#ifndef OPENCV_EXPLAIN_INPUT_ATTRIBUTION_HPP
#define OPENCV_EXPLAIN_INPUT_ATTRIBUTION_HPP

#include "precomp.hpp"
#include "scored_forward.hpp"
#include <functional>

namespace cv {
namespace explain {
namespace detail {

/** An attribution method on a stack of inputs: (M x ... inputs, class) -> M x ... attributions, each
    input's attribution for that class. */
typedef std::function<Mat(const Mat& inputs, int cls)> BatchAttribution;

/** Captum's NoiseTunnel: per image b of `input`, the mean of `attribute` over `samples` noisy copies
    x_b + noise, noise ~ N(0, sigma^2) with sigma = noiseLevel * (max(x_b) - min(x_b)), drawn from one
    cv::RNG(seed) image after image; `classes` holds the class of each image. Over the gradient it is
    SmoothGrad @cite smilkov2017; it wraps any attribution (guided gradient, input × gradient) alike. */
Mat noiseTunnel(const Mat& input, const std::vector<int>& classes, const BatchAttribution& attribute, int samples,
                double noiseLevel, uint64 seed);

class InputAttributionImpl CV_FINAL : public InputAttribution
{
public:
    /** On a forward pass of its own, or on a GradCAM's. */
    explicit InputAttributionImpl(const Ptr<ScoredForward>& fwd) : fwd(fwd) {}

    String getScoreLayerName() const CV_OVERRIDE { return fwd->scoreLayer(); }
    Ptr<Backprop> getBackprop() const CV_OVERRIDE { return fwd->backprop(); }
    Mat getScores() const CV_OVERRIDE { return fwd->scores(); }

    void forward(InputArray blob, OutputArray scores, const String& inputName) CV_OVERRIDE;

    void forwardInputs(InputArrayOfArrays blobs, const std::vector<String>& names, OutputArray scores) CV_OVERRIDE;

    void gradient(int classId, OutputArray dst, int mode) CV_OVERRIDE;

    void gradientFromGradient(const String& outputLayer, InputArray outputGrad, OutputArray dst, int mode) CV_OVERRIDE;

    void inputTimesGradient(int classId, OutputArray dst) CV_OVERRIDE;

    void integratedGradients(int classId, OutputArray dst, int steps, InputArray baseline, int batchSize) CV_OVERRIDE;

    void smoothGrad(int classId, OutputArray dst, int samples, double noiseLevel, int mode, int64 seed,
                    int batchSize) CV_OVERRIDE;

    /** The gradient (with a rectifier mode) as a BatchAttribution, in batches of `batchSize` inputs. */
    BatchAttribution gradientOf(RectifierMode mode, int batchSize);

    /** Input × gradient as a BatchAttribution. */
    BatchAttribution inputTimesGradientOf(int batchSize);

private:
    /** Input gradients of class `cls` for a stack of inputs, in batches through the auxiliary engine
        (the activations of the last forward() stay as they are). */
    Mat batchGradients(const Mat& inputs, int cls, RectifierMode mode, int batchSize);

    Ptr<ScoredForward> fwd;
};

}}} // namespace cv::explain::detail

#endif
