// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// Views and stacks of the images of an N x ... float32 blob, for the methods that run many variants of
// one image through a Net (SmoothGrad, Integrated Gradients, Ablation-CAM, test-time augmentation).
#ifndef OPENCV_EXPLAIN_BLOB_UTILS_HPP
#define OPENCV_EXPLAIN_BLOB_UTILS_HPP

#include "precomp.hpp"

namespace cv {
namespace explain {
namespace detail {

/** Image b of a continuous blob as a 1 x ... view (no copy). */
inline Mat imageOf(const Mat& blob, int b)
{
    std::vector<int> shape(blob.size.p, blob.size.p + blob.dims);
    shape[0] = 1;
    return Mat(shape, CV_32F, (void*)blob.ptr<float>(b));
}

/** `count` copies of a 1 x ... image as one count x ... blob. */
inline Mat repeatImage(const Mat& image, int count)
{
    std::vector<int> shape(image.size.p, image.size.p + image.dims);
    shape[0] = count;
    Mat out(shape, CV_32F);
    for (int i = 0; i < count; i++)
        image.copyTo(imageOf(out, i));
    return out;
}

/** The mean of the images of an N x ... blob, as a 1 x ... blob. */
inline Mat meanOverBatch(const Mat& blob)
{
    const int n = blob.size[0];
    Mat rows = blob.reshape(1, n), mean;
    reduce(rows, mean, 0, REDUCE_AVG);
    std::vector<int> shape(blob.size.p, blob.size.p + blob.dims);
    shape[0] = 1;
    return mean.reshape(1, shape);
}

/** Writes maps to an optional output (one CV_32F map per image). */
inline void assignMaps(OutputArrayOfArrays out, const std::vector<Mat>& maps)
{
    if (!out.needed())
        return;
    out.create((int)maps.size(), 1, CV_32F, -1);
    out.assign(maps);
}

}}} // namespace cv::explain::detail

#endif
