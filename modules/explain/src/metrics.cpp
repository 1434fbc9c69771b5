// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// Faithfulness metrics of saliency maps: deletion / insertion AUC, Average Drop and Increase in
// Confidence, ROAD with noisy linear imputation, occlusion rank correlation. All forward passes go
// through the user's Net in batches (setInput / forward only).
#include "precomp.hpp"
#include "activation_store.hpp"
#include <opencv2/imgproc.hpp>

#include <Eigen/Sparse>

#include <algorithm>
#include <climits>
#include <cmath>
#include <functional>
#include <numeric>

namespace cv {
namespace explain {

namespace {

/** Runs batches of modified copies of an input through the Net and returns class scores. */
class Scorer
{
public:
    Scorer(dnn::Net& net_, const String& scoreLayer, bool softmax_, int batchSize_, const char* fn_)
        : net(net_), softmax(softmax_), batchSize(batchSize_), fn(fn_)
    {
        if (net.empty())
            CV_Error(Error::StsBadArg, "explain: the Net is empty; read a model (e.g. cv::dnn::readNet) first");
        if (batchSize < 1)
            CV_Error(Error::StsOutOfRange, format("explain: %s needs batchSize >= 1, got %d", fn, batchSize));
        const compat::NetOutput out = compat::netOutputOf(net, scoreLayer);
        layer = out.forwardName;
        // already probabilities (a LogSoftmax output still goes through softmax, which undoes the log)
        if (out.type == "Softmax" || out.type == "SoftMax")
            softmax = false;
    }

    /** Scores (count x classes, CV_64F) of `count` images of `shape` (1 x C x H x W); fill(i, dst)
        writes image i and is called for i = 0, 1, ... in order. */
    Mat run(int count, const std::vector<int>& shape, const std::function<void(int, float*)>& fill)
    {
        const size_t imageSize = (size_t)shape[1] * shape[2] * shape[3];
        Mat result;
        for (int k0 = 0; k0 < count; k0 += batchSize)
        {
            const int m = std::min(batchSize, count - k0);
            Mat batch(std::vector<int>{m, shape[1], shape[2], shape[3]}, CV_32F);
            for (int i = 0; i < m; i++)
                fill(k0 + i, batch.ptr<float>() + i * imageSize);
            Mat out;
            try
            {
                // explainers on this Net (in other threads too) keep their own passes (see Backprop)
                std::lock_guard<std::recursive_mutex> guard(detail::NetRecord::of(net)->mutex());
                net.setInput(batch);
                out = net.forward(layer);
            }
            catch (const cv::Exception& e)
            {
                CV_Error(Error::StsBadArg, format("explain: %s: the forward pass failed for a batch of shape %s: %s", fn,
                                                  shapeToString(dnn::shape(batch)).c_str(), e.err.c_str()));
            }
            checkFinite(out, format("the output of layer '%s' in %s", layer.c_str(), fn));
            if (out.empty() || out.depth() != CV_32F || out.size[0] != m || out.total() % m != 0)
                CV_Error(Error::StsError, format("explain: the output of layer '%s' has no row per image for a batch "
                                                 "of %d; if the model takes a fixed batch size, pass batchSize = 1",
                                                 layer.c_str(), m));
            const int k = (int)(out.total() / m);
            if (result.empty())
            {
                result.create(count, k, CV_64F);
                if (classes < 0)
                    classes = k;
                if (expectedClass != INT_MIN)
                    checkClass(expectedClass);  // fail before the remaining batches
            }
            if (k != classes)
                CV_Error(Error::StsError, format("explain: the output of layer '%s' changed size (%d, then %d values)",
                                                 layer.c_str(), classes, k));
            Mat o = out.reshape(1, m);
            for (int i = 0; i < m; i++)
            {
                double* r = result.ptr<double>(k0 + i);
                const float* s = o.ptr<float>(i);
                for (int j = 0; j < k; j++)
                    r[j] = s[j];
                if (softmax)
                {
                    const double mx = *std::max_element(r, r + k);
                    double sum = 0;
                    for (int j = 0; j < k; j++)
                        sum += (r[j] = std::exp(r[j] - mx));
                    for (int j = 0; j < k; j++)
                        r[j] /= sum;
                }
            }
        }
        return result;
    }

    /** Scores of the images of an N x C x H x W blob. */
    Mat run(const Mat& blob)
    {
        const size_t imageSize = blob.total() / blob.size[0];
        return run(blob.size[0], {1, blob.size[1], blob.size[2], blob.size[3]}, [&](int i, float* dst) {
            std::copy(blob.ptr<float>() + i * imageSize, blob.ptr<float>() + (i + 1) * imageSize, dst);
        });
    }

    void checkClass(int classId) const
    {
        if (classId < 0 || classId >= classes)
            CV_Error(Error::StsOutOfRange, format("explain: class index %d is out of range [0, %d) of the scores of "
                                                  "layer '%s'", classId, classes, layer.c_str()));
    }

    dnn::Net& net;
    String layer;
    bool softmax;
    int batchSize;
    const char* fn;
    int classes = -1;
    int expectedClass = INT_MIN;  // checked as soon as the number of classes is known
};

/** A float32 1 x C x H x W blob (continuous), or an error naming fn. With anyBatch, N x C x H x W. */
Mat checkedBlob(InputArray _blob, const char* fn, bool anyBatch = false)
{
    Mat blob = _blob.getMat();
    if (blob.dims != 4 || blob.type() != CV_32FC1 || blob.empty() || (!anyBatch && blob.size[0] != 1))
        CV_Error(Error::StsBadArg, format("explain: %s expects a float32 %s x C x H x W blob", fn, anyBatch ? "N" : "1"));
    checkFinite(blob, format("the input blob given to %s", fn));
    return blob.isContinuous() ? blob : blob.clone();
}

/** The saliency map as CV_32F H x W, or an error naming fn. */
Mat checkedSaliency(InputArray _s, const Mat& blob, const char* fn)
{
    Mat s = _s.getMat();
    const int h = blob.size[2], w = blob.size[3];
    if (s.empty() || s.dims != 2 || s.channels() != 1)
        CV_Error(Error::StsBadArg, format("explain: %s expects a non-empty single-channel 2D saliency map", fn));
    if (s.rows != h || s.cols != w)
        CV_Error(Error::StsBadArg, format("explain: %s expects a saliency map of the blob's %d x %d (H x W) pixels, "
                                          "got %d x %d; upsample it with resizeMap()", fn, h, w, s.rows, s.cols));
    Mat f;
    s.convertTo(f, CV_32F);
    checkFinite(f, format("the saliency map given to %s", fn));
    return f;
}

/** Pixel indices by descending (or ascending) saliency; ties in raster order. */
std::vector<int> pixelOrder(const Mat& saliency, bool descending)
{
    std::vector<int> order(saliency.total());
    std::iota(order.begin(), order.end(), 0);
    Mat s = saliency.isContinuous() ? saliency : saliency.clone();
    const float* v = s.ptr<float>();
    if (descending)
        std::stable_sort(order.begin(), order.end(), [v](int a, int b) { return v[a] > v[b]; });
    else
        std::stable_sort(order.begin(), order.end(), [v](int a, int b) { return v[a] < v[b]; });
    return order;
}

/** Copies the values of pixel p (all channels) from src to dst, both C x H x W. */
inline void copyPixel(const float* src, float* dst, int p, int channels, size_t plane)
{
    for (int c = 0; c < channels; c++)
        dst[c * plane + p] = src[c * plane + p];
}

std::vector<double> ranks(const std::vector<double>& v)
{
    const int n = (int)v.size();
    std::vector<int> idx(n);
    std::iota(idx.begin(), idx.end(), 0);
    std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return v[a] < v[b]; });
    std::vector<double> r(n);
    for (int i = 0; i < n;)
    {
        int j = i;
        while (j + 1 < n && v[idx[j + 1]] == v[idx[i]])
            j++;
        const double avg = 0.5 * (i + j) + 1;  // ranks are 1-based
        for (int k = i; k <= j; k++)
            r[idx[k]] = avg;
        i = j + 1;
    }
    return r;
}

std::vector<double> toVector(InputArray _a)
{
    Mat a = _a.getMat();
    Mat d;
    a.convertTo(d, CV_64F);
    d = d.reshape(1, 1);
    if (!d.isContinuous())
        d = d.clone();
    return std::vector<double>(d.ptr<double>(), d.ptr<double>() + d.total());
}

} // namespace

DeletionInsertionResult deletionInsertion(dnn::Net& net, InputArray _blob, InputArray _saliency, int classId,
                                          const String& scoreLayer, int steps, bool deletion, InputArray _baseline,
                                          bool softmax, int batchSize)
{
    const char* fn = "deletionInsertion";
    Mat blob = checkedBlob(_blob, fn);
    Mat saliency = checkedSaliency(_saliency, blob, fn);
    const int channels = blob.size[1], h = blob.size[2], w = blob.size[3];
    const size_t plane = (size_t)h * w;
    if (steps < 1)
        CV_Error(Error::StsOutOfRange, format("explain: deletionInsertion needs steps >= 1, got %d", steps));
    if ((size_t)steps > plane)
        CV_Error(Error::StsOutOfRange, format("explain: deletionInsertion needs steps <= %d (the blob's H x W pixels), "
                                              "got %d", (int)plane, steps));
    Mat baseline;
    if (!_baseline.empty())
    {
        baseline = _baseline.getMat();
        if (baseline.type() != CV_32F || baseline.dims != 4 || !std::equal(blob.size.p, blob.size.p + 4, baseline.size.p))
            CV_Error(Error::StsBadArg, "explain: deletionInsertion expects a float32 baseline blob of the input blob's shape");
        if (!baseline.isContinuous())
            baseline = baseline.clone();
    }
    else if (deletion)
        baseline = Mat::zeros(4, blob.size.p, CV_32F);
    else
    {
        baseline.create(4, blob.size.p, CV_32F);
        const double sigma = std::max(h, w) / 16.0;
        for (int c = 0; c < channels; c++)
        {
            Mat src(h, w, CV_32F, blob.ptr<float>() + c * plane), dst(h, w, CV_32F, baseline.ptr<float>() + c * plane);
            GaussianBlur(src, dst, Size(), sigma, sigma, BORDER_REFLECT_101);
        }
    }
    Scorer scorer(net, scoreLayer, softmax, batchSize, fn);
    scorer.expectedClass = classId;
    const Mat& start = deletion ? blob : baseline;
    const Mat& target = deletion ? baseline : blob;
    const std::vector<int> order = pixelOrder(saliency, true);
    std::vector<int> changed(steps + 1);
    for (int k = 0; k <= steps; k++)
        changed[k] = (int)(((int64)2 * k * (int64)plane + steps) / (2 * (int64)steps));  // round(k * HW / steps)
    Mat cur = start.clone();
    const float* tp = target.ptr<float>();
    float* cp = cur.ptr<float>();
    const size_t imageSize = channels * plane;
    Mat scores = scorer.run(steps + 1, {1, channels, h, w}, [&](int k, float* dst) {
        if (k > 0)
            for (int i = changed[k - 1]; i < changed[k]; i++)
                copyPixel(tp, cp, order[i], channels, plane);
        std::copy(cp, cp + imageSize, dst);
    });
    scorer.checkClass(classId);
    DeletionInsertionResult res;
    for (int k = 0; k <= steps; k++)
    {
        res.fractions.push_back((double)changed[k] / plane);
        res.scores.push_back(scores.at<double>(k, classId));
        if (k > 0)
            res.auc += 0.5 * (res.scores[k] + res.scores[k - 1]) * (res.fractions[k] - res.fractions[k - 1]);
    }
    return res;
}

void averageDropIncrease(dnn::Net& net, InputArray _blobs, InputArrayOfArrays _maps, const std::vector<int>& classIds,
                         double& averageDrop, double& increaseInConfidence, const String& scoreLayer, bool softmax,
                         int batchSize, OutputArray scoresOut)
{
    const char* fn = "averageDropIncrease";
    Mat blobs = checkedBlob(_blobs, fn, true);
    const int n = blobs.size[0], channels = blobs.size[1], h = blobs.size[2], w = blobs.size[3];
    std::vector<Mat> maps;
    if (_maps.isMatVector() || _maps.isUMatVector() || _maps.kind() == _InputArray::STD_VECTOR_VECTOR)
        _maps.getMatVector(maps);
    else if (!_maps.empty())
        maps.push_back(_maps.getMat());
    if ((int)maps.size() != n)
        CV_Error(Error::StsBadArg, format("explain: averageDropIncrease expects one map per image: %d images, %d maps",
                                          n, (int)maps.size()));
    if (!classIds.empty() && (int)classIds.size() != n)
        CV_Error(Error::StsBadArg, format("explain: averageDropIncrease expects one class index per image (or none): "
                                          "%d images, %d class indices", n, (int)classIds.size()));
    Mat masked(4, blobs.size.p, CV_32F);
    for (int i = 0; i < n; i++)
    {
        Mat m = maps[i];
        if (m.empty() || m.dims != 2 || m.channels() != 1)
            CV_Error(Error::StsBadArg, format("explain: averageDropIncrease expects non-empty single-channel 2D maps "
                                              "(map %d is not)", i));
        checkFinite(m, format("map %d given to averageDropIncrease", i));
        Mat up;
        resizeMap(m, Size(w, h), up, true);
        for (int c = 0; c < channels; c++)
        {
            Mat src(h, w, CV_32F, blobs.ptr<float>(i, c)), dst(h, w, CV_32F, masked.ptr<float>(i, c));
            multiply(src, up, dst);
        }
    }
    Scorer scorer(net, scoreLayer, softmax, batchSize, fn);
    Mat y = scorer.run(blobs), o = scorer.run(masked);
    Mat result(n, 2, CV_64F);
    double drop = 0, increase = 0;
    for (int i = 0; i < n; i++)
    {
        int c = 0;
        if (classIds.empty())
        {
            Point p;
            minMaxLoc(y.row(i), nullptr, nullptr, nullptr, &p);
            c = p.x;
        }
        else
        {
            c = classIds[i];
            scorer.checkClass(c);
        }
        const double yi = y.at<double>(i, c), oi = o.at<double>(i, c);
        if (!(yi > 0))
            CV_Error(Error::StsBadArg, format("explain: averageDropIncrease needs positive scores Y, image %d has %g; "
                                              "use softmax = true or a positive score layer", i, yi));
        drop += std::max(0.0, yi - oi) / yi;
        increase += yi < oi ? 1 : 0;
        result.at<double>(i, 0) = yi;
        result.at<double>(i, 1) = oi;
    }
    averageDrop = 100.0 * drop / n;
    increaseInConfidence = 100.0 * increase / n;
    if (scoresOut.needed())
        result.copyTo(scoresOut);
}

void noisyLinearImputation(InputArray _blob, InputArray _mask, OutputArray dst, double noiseStd, int64 seed)
{
    const char* fn = "noisyLinearImputation";
    Mat blob = checkedBlob(_blob, fn);
    Mat mask = _mask.getMat();
    const int channels = blob.size[1], h = blob.size[2], w = blob.size[3];
    if (mask.type() != CV_8UC1 || mask.dims != 2 || mask.rows != h || mask.cols != w)
        CV_Error(Error::StsBadArg, format("explain: noisyLinearImputation expects a CV_8UC1 mask of the blob's "
                                          "%d x %d (H x W) pixels", h, w));
    if (!(noiseStd >= 0))
        CV_Error(Error::StsOutOfRange, format("explain: noisyLinearImputation needs noiseStd >= 0, got %g", noiseStd));
    const size_t plane = (size_t)h * w;
    // variable index of each removed pixel, -1 for kept ones
    std::vector<int> var(plane, -1);
    std::vector<int> pixels;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            if (mask.at<uchar>(y, x))
            {
                var[y * w + x] = (int)pixels.size();
                pixels.push_back(y * w + x);
            }
    Mat out = blob.clone();
    const int n = (int)pixels.size();
    if (n == (int)plane)
        CV_Error(Error::StsBadArg, "explain: noisyLinearImputation needs at least one kept pixel (the mask removes all)");
    if (n > 0)
    {
        static const int dy[8] = {-1, -1, -1, 0, 0, 1, 1, 1};
        static const int dx[8] = {-1, 0, 1, -1, 1, -1, 0, 1};
        static const double wt[8] = {1. / 12, 1. / 6, 1. / 12, 1. / 6, 1. / 6, 1. / 12, 1. / 6, 1. / 12};
        // Row i: (sum of the in-image weights) x_i - sum_{removed j} w_ij x_j = sum_{kept j} w_ij v_j.
        // Symmetric and irreducibly diagonally dominant, hence non-singular while one pixel is kept.
        std::vector<Eigen::Triplet<double> > triplets;
        triplets.reserve((size_t)n * 9);
        Eigen::MatrixXd b = Eigen::MatrixXd::Zero(n, channels);
        const float* src = blob.ptr<float>();
        for (int i = 0; i < n; i++)
        {
            const int y = pixels[i] / w, x = pixels[i] % w;
            double diag = 0;
            for (int k = 0; k < 8; k++)
            {
                const int yy = y + dy[k], xx = x + dx[k];
                if (yy < 0 || yy >= h || xx < 0 || xx >= w)
                    continue;
                diag += wt[k];
                const int q = yy * w + xx;
                if (var[q] >= 0)
                    triplets.emplace_back(i, var[q], -wt[k]);
                else
                    for (int c = 0; c < channels; c++)
                        b(i, c) += wt[k] * src[c * plane + q];
            }
            triplets.emplace_back(i, i, diag);
        }
        Eigen::SparseMatrix<double> a(n, n);
        a.setFromTriplets(triplets.begin(), triplets.end());
        a.makeCompressed();
        // Symmetric positive definite: sparse Cholesky (3-4x faster than SparseLU here), SparseLU as fallback.
        Eigen::MatrixXd v;
        Eigen::SimplicialLDLT<Eigen::SparseMatrix<double> > ldlt(a);
        if (ldlt.info() == Eigen::Success)
            v = ldlt.solve(b);
        if (ldlt.info() != Eigen::Success || !v.allFinite())
        {
            Eigen::SparseLU<Eigen::SparseMatrix<double>, Eigen::COLAMDOrdering<int> > lu;
            lu.compute(a);
            if (lu.info() != Eigen::Success)
                CV_Error(Error::StsError, "explain: noisyLinearImputation could not factorize its linear system");
            v = lu.solve(b);
        }
        RNG rng((uint64)seed);
        float* o = out.ptr<float>();
        for (int c = 0; c < channels; c++)
            for (int i = 0; i < n; i++)
                o[c * plane + pixels[i]] = (float)(v(i, c) + (noiseStd > 0 ? rng.gaussian(noiseStd) : 0.0));
    }
    out.copyTo(dst);
}

ROADResult road(dnn::Net& net, InputArray _blob, InputArray _saliency, int classId, bool mostRelevantFirst,
                const std::vector<double>& percentages, const String& scoreLayer, double noiseStd, int64 seed,
                bool softmax, int batchSize)
{
    const char* fn = "road";
    Mat blob = checkedBlob(_blob, fn);
    Mat saliency = checkedSaliency(_saliency, blob, fn);
    ROADResult res;
    res.percentages = percentages;
    if (res.percentages.empty())
        for (int p = 10; p <= 90; p += 10)
            res.percentages.push_back(p);
    for (double p : res.percentages)
        if (!(p > 0 && p < 100))
            CV_Error(Error::StsOutOfRange, format("explain: road needs percentages in (0, 100), got %g", p));
    if (!(noiseStd >= 0))
        CV_Error(Error::StsOutOfRange, format("explain: road needs noiseStd >= 0, got %g", noiseStd));
    const int channels = blob.size[1], h = blob.size[2], w = blob.size[3];
    const int plane = h * w;
    const std::vector<int> order = pixelOrder(saliency, mostRelevantFirst);
    Scorer scorer(net, scoreLayer, softmax, batchSize, fn);
    scorer.expectedClass = classId;
    const size_t imageSize = (size_t)channels * plane;
    const int count = (int)res.percentages.size() + 1;  // image 0: the original
    Mat scores = scorer.run(count, {1, channels, h, w}, [&](int k, float* dst) {
        if (k == 0)
        {
            std::copy(blob.ptr<float>(), blob.ptr<float>() + imageSize, dst);
            return;
        }
        const int removed = std::min(plane - 1, (int)std::lround(res.percentages[k - 1] / 100.0 * plane));
        Mat mask = Mat::zeros(h, w, CV_8U);
        for (int i = 0; i < removed; i++)
            mask.ptr<uchar>()[order[i]] = 255;
        Mat imputed;
        noisyLinearImputation(blob, mask, imputed, noiseStd, seed + (k - 1));
        std::copy(imputed.ptr<float>(), imputed.ptr<float>() + imageSize, dst);
    });
    scorer.checkClass(classId);
    res.originalScore = scores.at<double>(0, classId);
    for (int k = 1; k < count; k++)
        res.scores.push_back(scores.at<double>(k, classId));
    return res;
}

double spearmanCorrelation(InputArray _a, InputArray _b)
{
    if (_a.empty() || _b.empty() || _a.channels() != 1 || _b.channels() != 1 || _a.total() != _b.total() ||
        _a.total() < 2)
        CV_Error(Error::StsBadArg, "explain: spearmanCorrelation expects two single-channel arrays with the same "
                                   "number (>= 2) of values");
    checkFinite(_a.getMat(), "the first array given to spearmanCorrelation");
    checkFinite(_b.getMat(), "the second array given to spearmanCorrelation");
    const std::vector<double> ra = ranks(toVector(_a)), rb = ranks(toVector(_b));
    const int n = (int)ra.size();
    const double mean = 0.5 * (n + 1);  // the mean of ranks 1..n, ties included
    double sab = 0, saa = 0, sbb = 0;
    for (int i = 0; i < n; i++)
    {
        const double da = ra[i] - mean, db = rb[i] - mean;
        sab += da * db;
        saa += da * da;
        sbb += db * db;
    }
    if (saa <= 0 || sbb <= 0)
        return 0;
    return sab / std::sqrt(saa * sbb);
}

double faithfulness(dnn::Net& net, InputArray _blob, InputArray _map, int classId, const String& scoreLayer,
                    int patchSize, int stride, double fillValue, bool softmax, int batchSize, OutputArray sensitivity)
{
    const char* fn = "faithfulness";
    Mat blob = checkedBlob(_blob, fn);
    Mat map = _map.getMat();
    if (map.empty() || map.dims != 2 || map.channels() != 1)
        CV_Error(Error::StsBadArg, "explain: faithfulness expects a non-empty single-channel 2D map");
    checkFinite(map, "the map given to faithfulness");
    const int channels = blob.size[1], h = blob.size[2], w = blob.size[3];
    if (patchSize == 0)
        patchSize = std::max(1, std::min(h, w) / 8);
    if (stride == 0)
        stride = std::max(1, patchSize / 2);
    if (patchSize < 1 || patchSize > std::min(h, w))
        CV_Error(Error::StsOutOfRange, format("explain: faithfulness needs a patch size in [1, %d] for a %d x %d "
                                              "(H x W) blob, got %d", std::min(h, w), h, w, patchSize));
    if (stride < 1)
        CV_Error(Error::StsOutOfRange, format("explain: faithfulness needs stride >= 1, got %d", stride));
    auto positions = [&](int size) {
        std::vector<int> p;
        for (int v = 0; v + patchSize <= size; v += stride)
            p.push_back(v);
        if (p.back() != size - patchSize)
            p.push_back(size - patchSize);
        return p;
    };
    const std::vector<int> ys = positions(h), xs = positions(w);
    std::vector<Rect> patches;
    for (int y : ys)
        for (int x : xs)
            patches.emplace_back(x, y, patchSize, patchSize);
    Mat up;
    resizeMap(map, Size(w, h), up, false);
    const size_t plane = (size_t)h * w, imageSize = channels * plane;
    Scorer scorer(net, scoreLayer, softmax, batchSize, fn);
    scorer.expectedClass = classId;
    const int count = (int)patches.size() + 1;  // image 0: the original
    Mat scores = scorer.run(count, {1, channels, h, w}, [&](int k, float* dst) {
        std::copy(blob.ptr<float>(), blob.ptr<float>() + imageSize, dst);
        if (k == 0)
            return;
        const Rect& r = patches[k - 1];
        for (int c = 0; c < channels; c++)
            Mat(h, w, CV_32F, dst + c * plane)(r).setTo(Scalar::all(fillValue));
    });
    scorer.checkClass(classId);
    const double base = scores.at<double>(0, classId);
    Mat table((int)patches.size(), 2, CV_64F);
    for (int i = 0; i < (int)patches.size(); i++)
    {
        table.at<double>(i, 0) = mean(up(patches[i]))[0];
        table.at<double>(i, 1) = base - scores.at<double>(i + 1, classId);
    }
    if (sensitivity.needed())
        table.copyTo(sensitivity);
    if (patches.size() < 2)
        return 0;
    return spearmanCorrelation(table.col(0).clone(), table.col(1).clone());
}

}} // namespace cv::explain
