// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// The input gradient of a 3x3 stride-1 convolution by Winograd's minimal filtering F(2x2, 3x3) and
// F(4x4, 3x3).
#ifndef OPENCV_EXPLAIN_CONV_WINOGRAD_HPP
#define OPENCV_EXPLAIN_CONV_WINOGRAD_HPP

#include <cstddef>

namespace cv {
namespace explain {

/** One group of a 2D convolution with a 3x3 kernel, stride 1 and dilation 1, seen from its backward pass. */
struct Winograd3x3Shape
{
    int images;
    int inC, inH, inW;     // of X (channels of this group)
    int outC, outH, outW;  // of Y (channels of this group)
    int ph, pw;            // the forward pass's padding
    size_t dxImageStep, dyImageStep;  // floats between images
    size_t weightRowStep;             // floats between the weight rows of two output channels
};

/** Whether the Winograd path pays for these channel counts (its transforms cost about 1/channels of the
    GEMMs) and the number of input pixels of all images (the weight transform costs the same on any). */
bool winogradPays(int inC, int outC, int pixels);

/** dX (written, not accumulated) from dY through the weights w (outC rows of inC x 3 x 3). dX is the
    correlation of dY with the weights flipped and transposed, computed as 16 or 36 GEMMs in the
    transformed domain: 2.25x or 4x fewer multiplications than W^T dY followed by col2im. Runs
    parallel_for_ itself. */
void winogradConvBackward3x3(const float* dy, const float* w, float* dx, const Winograd3x3Shape& s);

}} // namespace cv::explain

#endif
