// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// This file is part of the explain module (OpenCV contrib style).
#ifndef OPENCV_EXPLAIN_HPP
#define OPENCV_EXPLAIN_HPP

/** @defgroup explain Visual explanations for cv::dnn networks

A backward path for any network loaded by cv::dnn (input gradients only, one rule per layer type),
and on it the maps of the Grad-CAM paper (@cite selvaraju2017): Grad-CAM, counterfactual Grad-CAM,
guided backpropagation and Guided Grad-CAM. What is explained need not be a class score: the
target helpers (classTarget(), maskTarget(), boxTarget()) give the gradient of a segmentation or
detection target for GradCAM::computeFromGradient().
*/

#include "opencv2/explain/backprop.hpp"
#include "opencv2/explain/attribution.hpp"
#include "opencv2/explain/gradcam.hpp"
#include "opencv2/explain/metrics.hpp"
#include "opencv2/explain/targets.hpp"
#include "opencv2/explain/version.hpp"

#endif
