// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// This file is part of the explain module (OpenCV contrib style).
#ifndef OPENCV_EXPLAIN_TARGETS_HPP
#define OPENCV_EXPLAIN_TARGETS_HPP

#include <opencv2/core.hpp>

namespace cv {
namespace explain {

//! @addtogroup explain
//! @{

/** @name Targets
What is explained, as the gradient of a scalar target T with respect to a layer's output y: each
function returns dT/dy with the shape of y (CV_32F), to pass to GradCAM::computeFromGradient() or
GradCAM::inputGradientFromGradient() together with the name of the layer that gives y (for instance
from Backprop::getActivation() after GradCAM::forward()). They play the part of pytorch-grad-cam's
model targets (ClassifierOutputTarget, SemanticSegmentationTarget, ...). Every target here is linear
in y, so its value is the sum of y times the gradient, `y.dot(grad)`. Each image of a batch gets
the same target, and a batch's T is the sum of the images' targets.
*/
//! @{

/** @brief The score of one class (pytorch-grad-cam's ClassifierOutputTarget).

T_n = s_{n,c} for image n, so dT/ds_{n,k} = 1 if k = c, else 0.
@param scores N x K scores, or any blob whose first dimension is the batch (e.g. N x K x 1 x 1): the
       per-image scores are its N rows flattened.
@param classId the class c in [0, K), or -1 for the top-scoring class of each image (the first on ties).
@param grad the one-hot gradient, CV_32F, of the shape of scores.
*/
CV_EXPORTS_W void classTarget(InputArray scores, int classId, OutputArray grad);

/** @brief The logits of one class summed over a region (pytorch-grad-cam's SemanticSegmentationTarget).

T_n = sum_{(y,x): M(y,x) != 0} out_{n,c,y,x}, so dT/dout_{n,k,y,x} = 1 if k = c and M(y,x) != 0, else 0.
@param output the N x C x H x W per-pixel logits (or scores) of a segmentation head.
@param classId the class channel c in [0, C).
@param mask a single-channel 2-D array of any depth and size: its nonzero pixels are the region. It is
       resized to W x H with nearest-neighbour interpolation (cv::INTER_NEAREST) and applies to every image.
@param grad the gradient, CV_32F, of the shape of output: the resized region in channel c, 0 elsewhere.
*/
CV_EXPORTS_W void maskTarget(InputArray output, int classId, InputArray mask, OutputArray grad);

/** @brief One class logit of one cell or box of a raw single-shot detection head.

The head holds, per cell or box, V = 5 + K values: objectness, 4 box values, then K class logits.
Two layouts are accepted:
- a grid, N x (5 + K) x H x W: T_n = out_{n, 5+c, i, j} for the cell (i, j) = (box / W, box % W);
- rows of boxes, N x B x (5 + K): T_n = out_{n, box, 5+c}.

The gradient is 1 at that element of each image and 0 elsewhere.
@param output the raw head, grid or rows layout (K >= 1).
@param classId the class c in [0, K).
@param box the cell index row * W + col in [0, H * W) of a grid, or the row in [0, B) of a rows layout.
@param grad the gradient, CV_32F, of the shape of output.
*/
CV_EXPORTS_W void boxTarget(InputArray output, int classId, int box, OutputArray grad);

/** @brief One word of a sequence output: the log-probability (or logit) of one word at one step, as a
captioner gives it for a caption fed word by word (the Grad-CAM paper's captioning target).

The output is time-major, T x N x V (steps, images, vocabulary), as ONNX exports of LSTM decoders give it:
T_n = out_{t, n, w}, so dT/dout_{t, n, w} = 1 and 0 elsewhere.
@param output the T x N x V sequence output.
@param step the step t in [0, T).
@param wordId the word w in [0, V), or -1 for the top-scoring word of each image at that step (the first on
       ties).
@param grad the one-hot gradient, CV_32F, of the shape of output.
*/
CV_EXPORTS_W void wordTarget(InputArray output, int step, int wordId, OutputArray grad);

//! @}

//! @}

}} // namespace cv::explain

#endif
