// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// This file is part of the explain module (OpenCV contrib style).
#ifndef OPENCV_EXPLAIN_METRICS_HPP
#define OPENCV_EXPLAIN_METRICS_HPP

#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>

#include <vector>

namespace cv {
namespace explain {

//! @addtogroup explain
//! @{

/** @name Localization from a map
Weakly supervised localization as in §4.1 of @cite selvaraju2017 works as follows: the map is upsampled (bilinear,
cv::resize INTER_LINEAR) to the image size, min-max normalized to [0, 1] and binarized at
`threshold` (a fraction of the maximum, which is 1 after the normalization).
*/
//! @{

/** @brief Bounding box of the largest connected region of a map (weakly supervised localization).

Pixels with a normalized value >= threshold are foreground; the box is that of the largest
8-connected foreground component (the first in raster order among equally large ones).
A map with no positive value gives an empty Rect; a constant positive map gives the whole image.
@param map a 2D single-channel map of any depth and resolution (e.g. from GradCAM::compute()).
@param imageSize the size of the image the box refers to.
@param threshold the binarization threshold in [0, 1] (0.15 in the paper).
@return the box in image pixels.
*/
CV_EXPORTS_W Rect mapToBoundingBox(InputArray map, Size imageSize, double threshold = 0.15);

/** @brief Binary seed mask of a map for weakly supervised segmentation (§4.2 of @cite selvaraju2017).

The same upsampling, normalization and threshold as mapToBoundingBox(), keeping every foreground
pixel (all components).
@param map a 2D single-channel map.
@param imageSize the size of the mask.
@param mask CV_8U mask of imageSize, 255 for foreground and 0 elsewhere.
@param threshold the binarization threshold in [0, 1].
*/
CV_EXPORTS_W void mapToSegmentationSeed(InputArray map, Size imageSize, OutputArray mask, double threshold = 0.15);

/** @brief Pointing game (Zhang et al., ECCV 2016): does the maximum of the map fall on the object?

The map is upsampled (bilinear) to imageSize; its maximum (the first in raster order on ties) is a
hit when it lies inside one of the boxes or within `tolerance` pixels of one (Euclidean distance
from the pixel to the box). A constant map has no maximum and counts as a miss.
@param map a 2D single-channel map.
@param imageSize the size of the image the boxes refer to.
@param boxes ground-truth boxes in image pixels (at least one).
@param tolerance the allowed distance in pixels (15 in Zhang et al.).
*/
CV_EXPORTS_W bool pointingGame(InputArray map, Size imageSize, const std::vector<Rect>& boxes, int tolerance = 0);

/** @brief Pointing game against a ground-truth mask.
@param map a 2D single-channel map, upsampled (bilinear) to the mask's size.
@param mask CV_8U ground-truth mask, non-zero on the object.
@param tolerance a hit when a mask pixel lies within this Euclidean distance (pixels) of the maximum.
*/
CV_EXPORTS_AS(pointingGameMask) bool pointingGame(InputArray map, InputArray mask, int tolerance = 0);
//! @}

/** @name Faithfulness metrics
All of them run the user's Net forward on modified copies of one input blob (only
`Net::setInput()` and `Net::forward()` are called, in batches of `batchSize`; the Net's backend,
target and fusion settings are left as they are). Nets whose batch size is fixed need batchSize = 1.

**Scores.** The score of a class is element classId of the output of `scoreLayer`, flattened per
image. An empty scoreLayer takes the Net's last output layer (`getUnconnectedOutLayers()`). With
`softmax = true` a softmax over that output is applied first, unless the layer is a Softmax (its
output is a probability already); a LogSoftmax output becomes probabilities too. With `softmax =
false` the raw output is used (e.g. a logit).

**Maps.** `saliency` arguments are 2D single-channel maps at the input blob's resolution H x W
(use resizeMap() for layer-resolution maps); `map` arguments may have any resolution and are
upsampled (bilinear) where needed. Pixels mean the H x W positions of the blob, all channels
together.
*/
//! @{

/** @brief A deletion or insertion curve and its area (Petsiuk et al., RISE, BMVC 2018). */
struct CV_EXPORTS_W_SIMPLE DeletionInsertionResult
{
    CV_PROP_RW std::vector<double> fractions;  //!< x: the fraction of pixels changed, 0 ... 1 (steps + 1 values)
    CV_PROP_RW std::vector<double> scores;     //!< y: the class score after each step
    CV_PROP_RW double auc = 0;                 //!< area under the curve, trapezoid rule over fractions
};

/** @brief Deletion or insertion curve and AUC.

Pixels are ordered by descending saliency (ties in raster order). Deletion starts from the image and
replaces the pixels, most salient first, by the baseline's; insertion starts from the baseline and
puts the image's pixels back in the same order. After step k of `steps`, round(k * H * W / steps)
pixels are changed; the curve has the score at each of the steps + 1 states and the AUC is the
trapezoid rule over the fraction of pixels changed. A good map gives a low deletion and a high
insertion AUC.
@param net the Net (settings untouched).
@param blob float32 1 x C x H x W input blob.
@param saliency H x W map (any depth).
@param classId the class whose score is measured.
@param scoreLayer the layer holding the class scores, empty for the Net's last output layer.
@param steps the number of steps (>= 1; 30 by default).
@param deletion true for deletion, false for insertion.
@param baseline optional blob of the same shape: the values of removed pixels. Default: zeros for
deletion; for insertion a blurred copy of the image, GaussianBlur of each channel with
sigma = max(H, W) / 16 (kernel size from sigma, BORDER_REFLECT_101).
@param softmax apply a softmax to the scores (see the group description).
@param batchSize the number of images per forward pass.
*/
CV_EXPORTS_W DeletionInsertionResult deletionInsertion(dnn::Net& net, InputArray blob, InputArray saliency, int classId,
                                                       const String& scoreLayer = String(), int steps = 30,
                                                       bool deletion = true, InputArray baseline = noArray(),
                                                       bool softmax = true, int batchSize = 16);

/** @brief Average Drop % and Increase in Confidence % (Chattopadhay et al., WACV 2018).

For each image i: Y_i = score of the image, O_i = score of the image multiplied (all channels,
element-wise) by its map upsampled (bilinear) to H x W and min-max normalized to [0, 1].
Average Drop = (1/N) sum max(0, Y_i - O_i) / Y_i * 100; Increase in Confidence =
(1/N) sum [Y_i < O_i] * 100.
@param net the Net (settings untouched).
@param blobs float32 N x C x H x W blob with the N images.
@param maps N maps, one per image, any resolution.
@param classIds the N classes, or empty for the top-scoring class of each image.
@param averageDrop the Average Drop in percent.
@param increaseInConfidence the Increase in Confidence in percent.
@param scoreLayer the layer holding the class scores, empty for the Net's last output layer.
@param softmax apply a softmax to the scores; with raw scores every Y_i must be positive.
@param batchSize the number of images per forward pass.
@param scores optional N x 2 CV_64F matrix of (Y_i, O_i).
*/
CV_EXPORTS_W void averageDropIncrease(dnn::Net& net, InputArray blobs, InputArrayOfArrays maps,
                                      const std::vector<int>& classIds, CV_OUT double& averageDrop,
                                      CV_OUT double& increaseInConfidence, const String& scoreLayer = String(),
                                      bool softmax = true, int batchSize = 16, OutputArray scores = noArray());

/** @brief Noisy linear imputation of ROAD (Rong et al., ICML 2022).

Each removed pixel takes the weighted average of its 8 neighbours (weight 1/6 for the 4 direct,
1/12 for the 4 diagonal ones; neighbours outside the image are dropped and the remaining weights
are used as they are, normalized by their sum), where neighbours that are removed too are unknowns:
one sparse linear system over all removed pixels (symmetric positive definite), solved for all
channels with Eigen's sparse Cholesky factorization (SimplicialLDLT; SparseLU as a fallback). Then
Gaussian noise of standard deviation noiseStd is added to the imputed values.
@param blob float32 1 x C x H x W blob.
@param mask H x W CV_8U mask, non-zero for the pixels to remove (at least one pixel must stay).
@param dst the imputed blob, same shape; the kept pixels are copied unchanged.
@param noiseStd the standard deviation of the added noise (0.01 in the paper; 0 for none).
@param seed the seed of the noise (cv::RNG).
*/
CV_EXPORTS_W void noisyLinearImputation(InputArray blob, InputArray mask, OutputArray dst, double noiseStd = 0.01,
                                        int64 seed = 0);

/** @brief The ROAD curve: class scores after removing a share of the pixels by noisy linear imputation. */
struct CV_EXPORTS_W_SIMPLE ROADResult
{
    CV_PROP_RW std::vector<double> percentages;  //!< the removed share of the pixels, in percent
    CV_PROP_RW std::vector<double> scores;       //!< the class score for each percentage
    CV_PROP_RW double originalScore = 0;         //!< the class score on the unmodified blob
};

/** @brief ROAD, RemOve And Debias (Rong et al., ICML 2022), MoRF or LeRF order.

For each p the round(p / 100 * H * W) most (MoRF) or least (LeRF) salient pixels (ties in raster
order) are removed and imputed with noisyLinearImputation(); the Net then scores the class. A good
map makes the MoRF scores drop fast and the LeRF scores stay high.
@param net the Net (settings untouched).
@param blob float32 1 x C x H x W blob.
@param saliency H x W map.
@param classId the class whose score is measured.
@param mostRelevantFirst true for MoRF, false for LeRF.
@param percentages shares to remove, each in (0, 100); empty for 10, 20, ..., 90.
@param scoreLayer the layer holding the class scores, empty for the Net's last output layer.
@param noiseStd the imputation noise (see noisyLinearImputation()).
@param seed the seed of the noise; percentage i uses seed + i.
@param softmax apply a softmax to the scores.
@param batchSize the number of images per forward pass.
*/
CV_EXPORTS_W ROADResult road(dnn::Net& net, InputArray blob, InputArray saliency, int classId,
                             bool mostRelevantFirst = true,
                             const std::vector<double>& percentages = std::vector<double>(),
                             const String& scoreLayer = String(), double noiseStd = 0.01, int64 seed = 0,
                             bool softmax = true, int batchSize = 16);

/** @brief Spearman rank correlation of two equally long vectors; ties get their average rank.
@param a the first values (any single-channel array, flattened).
@param b the second values, as many as a (at least 2).
@return the Pearson correlation of the ranks, in [-1, 1]; 0 when either vector is constant.
*/
CV_EXPORTS_W double spearmanCorrelation(InputArray a, InputArray b);

/** @brief Faithfulness as in §5.3 of @cite selvaraju2017 is the rank correlation between a map and
occlusion sensitivity.

Square patches of patchSize slide over the blob with `stride` (the last row and column of patches
touch the border); each patch (all channels) is set to fillValue and the drop of the class score,
score(image) - score(occluded), is compared with the mean of the map (upsampled to H x W) over the
patch: the result is the Spearman rank correlation of the two over all patches.
@param net the Net (settings untouched).
@param blob float32 1 x C x H x W blob.
@param map a 2D map of any resolution.
@param classId the class whose score is measured.
@param scoreLayer the layer holding the class scores, empty for the Net's last output layer.
@param patchSize the patch side, 0 for max(1, min(H, W) / 8).
@param stride the patch step, 0 for max(1, patchSize / 2).
@param fillValue the value of occluded pixels in the blob.
@param softmax apply a softmax to the scores.
@param batchSize the number of images per forward pass.
@param sensitivity optional P x 2 CV_64F matrix: per patch (map mean, score drop).
@return the Spearman rank correlation.
*/
CV_EXPORTS_W double faithfulness(dnn::Net& net, InputArray blob, InputArray map, int classId,
                                 const String& scoreLayer = String(), int patchSize = 0, int stride = 0,
                                 double fillValue = 0, bool softmax = true, int batchSize = 16,
                                 OutputArray sensitivity = noArray());
//! @}

//! @}

}} // namespace cv::explain

#endif
