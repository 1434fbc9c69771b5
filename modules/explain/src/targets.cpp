// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// Targets: the gradient of a class score, a class's logits over a mask, a detection's class logit or one
// word of a sequence with respect to the output that holds them (see opencv2/explain/targets.hpp).
#include "precomp.hpp"
#include <opencv2/imgproc.hpp>

namespace cv {
namespace explain {

namespace {

MatShape shapeOf(InputArray a)
{
    std::vector<int> dims(CV_MAX_DIM);
    dims.resize(a.sizend(dims.data()));
    return MatShape(dims.begin(), dims.end());
}

/** Throws unless `a` is a non-empty single-channel array; `what` names it in the message. */
void requireBlob(const char* fn, const char* what, InputArray a, const char* expected)
{
    if (a.empty())
        CV_Error(Error::StsBadArg, format("explain: %s: empty %s (expected %s)", fn, what, expected));
    if (a.channels() != 1)
        CV_Error(Error::StsBadArg, format("explain: %s: %s of %d channels %s; expected a single-channel array", fn,
                                          what, a.channels(), shapeToString(shapeOf(a)).c_str()));
}

} // namespace

void classTarget(InputArray scores_, int classId, OutputArray grad)
{
    requireBlob("classTarget", "scores", scores_, "N x K, or N x K x ...");
    const MatShape shape = shapeOf(scores_);
    const int images = shape[0], classes = dnn::total(shape) / images;
    if (classId < -1 || classId >= classes)
        CV_Error(Error::StsOutOfRange,
                 format("explain: classTarget: class index %d is out of range [0, %d) of the scores %s "
                        "(-1 picks the top class)", classId, classes, shapeToString(shape).c_str()));
    Mat scores;
    if (classId < 0)
        scores = scores_.getMat().reshape(1, images);
    Mat g(images, classes, CV_32F, Scalar(0));
    for (int n = 0; n < images; n++)
    {
        Point top(classId, 0);
        if (classId < 0)
            minMaxLoc(scores.row(n), nullptr, nullptr, nullptr, &top);
        g.at<float>(n, top.x) = 1.f;
    }
    g.reshape(1, (int)shape.size(), shape.data()).copyTo(grad);
}

void maskTarget(InputArray output, int classId, InputArray mask_, OutputArray grad)
{
    requireBlob("maskTarget", "output", output, "N x C x H x W per-pixel logits");
    const MatShape shape = shapeOf(output);
    if (shape.size() != 4)
        CV_Error(Error::StsBadArg, "explain: maskTarget needs an N x C x H x W output (per-pixel logits); got " +
                                       shapeToString(shape));
    const int C = shape[1], H = shape[2], W = shape[3];
    if (classId < 0 || classId >= C)
        CV_Error(Error::StsOutOfRange, format("explain: maskTarget: class index %d is out of range [0, %d) of the "
                                              "channels of the output %s", classId, C, shapeToString(shape).c_str()));
    requireBlob("maskTarget", "mask", mask_, "a 2-D array, nonzero pixels: the region");
    if (mask_.dims() != 2)
        CV_Error(Error::StsBadArg, "explain: maskTarget needs a 2-D mask; got " + shapeToString(shapeOf(mask_)));
    Mat region, resized;
    compare(mask_, 0, region, CMP_NE);
    resize(region, resized, Size(W, H), 0, 0, INTER_NEAREST);
    if (countNonZero(resized) == 0)
        CV_Error(Error::StsBadArg, format("explain: maskTarget: the mask (%d x %d, resized nearest to the output's "
                                          "%d x %d) has no nonzero pixel", region.cols, region.rows, W, H));
    Mat g(shape, CV_32F, Scalar(0));
    for (int n = 0; n < shape[0]; n++)
        Mat(H, W, CV_32F, g.ptr<float>(n, classId)).setTo(1.f, resized);
    g.copyTo(grad);
}

void boxTarget(InputArray output, int classId, int box, OutputArray grad)
{
    requireBlob("boxTarget", "output", output, "N x (5+K) x H x W or N x B x (5+K)");
    const MatShape shape = shapeOf(output);
    const bool grid = shape.size() == 4;
    if ((!grid && shape.size() != 3) || shape[grid ? 1 : 2] < 6)
        CV_Error(Error::StsBadArg, "explain: boxTarget needs an N x (5+K) x H x W or N x B x (5+K) output with K >= 1 "
                                   "(objectness, 4 box values, K class logits); got " + shapeToString(shape));
    const int K = shape[grid ? 1 : 2] - 5, boxes = grid ? shape[2] * shape[3] : shape[1];
    if (classId < 0 || classId >= K)
        CV_Error(Error::StsOutOfRange, format("explain: boxTarget: class index %d is out of range [0, %d) of the "
                                              "class logits of the output %s", classId, K, shapeToString(shape).c_str()));
    if (box < 0 || box >= boxes)
        CV_Error(Error::StsOutOfRange,
                 grid ? format("explain: boxTarget: cell %d is out of range [0, %d) of the %d x %d grid of the output %s "
                               "(cell = row * %d + col)", box, boxes, shape[2], shape[3], shapeToString(shape).c_str(), shape[3])
                      : format("explain: boxTarget: box %d is out of range [0, %d) of the rows of the output %s", box, boxes,
                               shapeToString(shape).c_str()));
    Mat g(shape, CV_32F, Scalar(0));
    for (int n = 0; n < shape[0]; n++)
    {
        if (grid)
            g.ptr<float>(n, 5 + classId)[box] = 1.f;
        else
            g.ptr<float>(n, box)[5 + classId] = 1.f;
    }
    g.copyTo(grad);
}

void wordTarget(InputArray outputArg, int step, int wordId, OutputArray grad)
{
    Mat output = outputArg.getMat();
    if (output.dims == 2 && output.channels() > 1 && output.depth() == CV_32F)
    {
        // cv2 (OpenCV 5) passes a T x N x V numpy array as a T x N Mat of V channels
        const int sizes[] = {output.rows, output.cols, output.channels()};
        output = output.reshape(1, 3, sizes);
    }
    InputArray output_(output);
    requireBlob("wordTarget", "output", output_, "T x N x V (steps, images, vocabulary)");
    const MatShape shape = shapeOf(output_);
    if (shape.size() != 3)
        CV_Error(Error::StsBadArg, "explain: wordTarget needs a T x N x V output (steps, images, vocabulary); got " +
                                       shapeToString(shape));
    const int T = shape[0], N = shape[1], V = shape[2];
    if (step < 0 || step >= T)
        CV_Error(Error::StsOutOfRange, format("explain: wordTarget: step %d is out of range [0, %d) of the output %s",
                                              step, T, shapeToString(shape).c_str()));
    if (wordId < -1 || wordId >= V)
        CV_Error(Error::StsOutOfRange, format("explain: wordTarget: word index %d is out of range [0, %d) of the "
                                              "vocabulary of the output %s (-1 picks the top word)", wordId, V,
                                              shapeToString(shape).c_str()));
    const Mat out = output_.getMat();
    Mat g(shape, CV_32F, Scalar(0));
    for (int n = 0; n < N; n++)
    {
        Point top(wordId, 0);
        if (wordId < 0)
            minMaxLoc(Mat(1, V, out.type(), (void*)out.ptr(step, n)), nullptr, nullptr, nullptr, &top);
        g.ptr<float>(step, n)[top.x] = 1.f;
    }
    g.copyTo(grad);
}

}} // namespace cv::explain
