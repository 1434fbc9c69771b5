// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// Weakly supervised localization from a map (bounding box, segmentation seed) and the pointing game.
#include "precomp.hpp"
#include <opencv2/imgproc.hpp>

namespace cv {
namespace explain {

namespace {

Mat checkedMap(InputArray _map, const char* fn)
{
    Mat map = _map.getMat();
    if (map.empty() || map.dims != 2 || map.channels() != 1)
        CV_Error(Error::StsBadArg, format("explain: %s expects a non-empty single-channel 2D map", fn));
    checkFinite(map, format("the map given to %s", fn));
    return map;
}

void checkSize(Size size, const char* fn)
{
    if (size.width <= 0 || size.height <= 0)
        CV_Error(Error::StsBadArg, format("explain: %s got an invalid image size %dx%d", fn, size.width, size.height));
}

/** The map upsampled to `size` (bilinear), min-max normalized and binarized at `threshold`: 255 / 0. */
Mat binarize(InputArray _map, Size size, double threshold, const char* fn)
{
    Mat map = checkedMap(_map, fn);
    checkSize(size, fn);
    if (!(threshold >= 0 && threshold <= 1))
        CV_Error(Error::StsOutOfRange, format("explain: %s needs a threshold in [0, 1], got %g", fn, threshold));
    Mat m;
    resizeMap(map, size, m, false);
    double lo, hi;
    minMaxLoc(m, &lo, &hi);
    if (hi <= 0)
        return Mat::zeros(size, CV_8U);
    if (hi == lo)
        return Mat(size, CV_8U, Scalar(255));
    m = (m - lo) * (1.0 / (hi - lo));
    Mat mask = m >= threshold;  // 255 / 0
    return mask;
}

/** Argmax of the map upsampled to `size`; false when the map is constant. */
bool mapMaximum(InputArray _map, Size size, Point& p, const char* fn)
{
    Mat map = checkedMap(_map, fn);
    checkSize(size, fn);
    Mat m;
    resizeMap(map, size, m, false);
    double lo, hi;
    minMaxLoc(m, &lo, &hi, nullptr, &p);
    return hi > lo;
}

} // namespace

Rect mapToBoundingBox(InputArray map, Size imageSize, double threshold)
{
    Mat mask = binarize(map, imageSize, threshold, "mapToBoundingBox");
    Mat labels, stats, centroids;
    const int n = connectedComponentsWithStats(mask, labels, stats, centroids, 8, CV_32S);
    int best = -1, bestArea = 0;
    for (int i = 1; i < n; i++)  // label 0 is the background
    {
        const int area = stats.at<int>(i, CC_STAT_AREA);
        if (area > bestArea)
        {
            best = i;
            bestArea = area;
        }
    }
    if (best < 0)
        return Rect();
    return Rect(stats.at<int>(best, CC_STAT_LEFT), stats.at<int>(best, CC_STAT_TOP),
                stats.at<int>(best, CC_STAT_WIDTH), stats.at<int>(best, CC_STAT_HEIGHT));
}

void mapToSegmentationSeed(InputArray map, Size imageSize, OutputArray mask, double threshold)
{
    binarize(map, imageSize, threshold, "mapToSegmentationSeed").copyTo(mask);
}

bool pointingGame(InputArray map, Size imageSize, const std::vector<Rect>& boxes, int tolerance)
{
    const char* fn = "pointingGame";
    if (boxes.empty())
        CV_Error(Error::StsBadArg, "explain: pointingGame needs at least one ground-truth box");
    if (tolerance < 0)
        CV_Error(Error::StsOutOfRange, format("explain: pointingGame needs a tolerance >= 0, got %d", tolerance));
    Point p;
    if (!mapMaximum(map, imageSize, p, fn))
        return false;
    const double t2 = (double)tolerance * tolerance;
    for (const Rect& b : boxes)
    {
        if (b.width <= 0 || b.height <= 0)
            continue;
        // in double: a box near INT_MAX must not overflow
        const double dx = std::max({(double)b.x - p.x, 0.0, (double)p.x - ((double)b.x + b.width - 1)});
        const double dy = std::max({(double)b.y - p.y, 0.0, (double)p.y - ((double)b.y + b.height - 1)});
        if (dx * dx + dy * dy <= t2)
            return true;
    }
    return false;
}

bool pointingGame(InputArray map, InputArray _mask, int tolerance)
{
    const char* fn = "pointingGame";
    Mat mask = _mask.getMat();
    if (mask.empty() || mask.dims != 2 || mask.type() != CV_8UC1)
        CV_Error(Error::StsBadArg, "explain: pointingGame expects a non-empty CV_8UC1 ground-truth mask");
    if (tolerance < 0)
        CV_Error(Error::StsOutOfRange, format("explain: pointingGame needs a tolerance >= 0, got %d", tolerance));
    Point p;
    if (!mapMaximum(map, mask.size(), p, fn))
        return false;
    // in 64 bits: a tolerance near INT_MAX must not overflow
    const int64 t = tolerance;
    const int y0 = (int)std::max<int64>(p.y - t, 0), y1 = (int)std::min<int64>(p.y + t, mask.rows - 1);
    const int x0 = (int)std::max<int64>(p.x - t, 0), x1 = (int)std::min<int64>(p.x + t, mask.cols - 1);
    for (int y = y0; y <= y1; y++)
    {
        const uchar* row = mask.ptr<uchar>(y);
        for (int x = x0; x <= x1; x++)
            if (row[x] && (int64)(x - p.x) * (x - p.x) + (int64)(y - p.y) * (y - p.y) <= t * t)
                return true;
    }
    return false;
}

}} // namespace cv::explain
