// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// Every importer explains alike: one tiny network with the same weights in ONNX, Caffe, Darknet and
// TensorFlow (data/importers/, made by tools/make_importer_models.py) gives the same scores, Grad-CAM,
// counterfactual and guided-backprop maps in every format, and each imported Net passes the numerical
// gradient check. Layer types met: Convolution, BatchNorm, Scale, ReLU (leaky), Pooling (max, max with
// Darknet's asymmetric padding, global average), Eltwise, Concat, Resize (nearest), Deconvolution
// (Caffe's upsample), Reduce, Reshape, Flatten, InnerProduct, Softmax, Identity.
#include "test_common.hpp"

namespace opencv_test { namespace {

struct ImporterCase
{
    std::string format;
    std::string model, config;   // files under data/importers
    std::string target;          // the last spatial layer: relu(conv5), 1x16x16x16 in every format
    std::string scoreLayer;      // the pre-softmax logits
    std::string lastLayer;
};

std::ostream& operator<<(std::ostream& os, const ImporterCase& c) { return os << c.format; }

const ImporterCase kOnnx{"onnx", "tiny.onnx", "", "onnx_node!/act5/Relu", "logits", "logits"};

const ImporterCase kCases[] = {
    kOnnx,
#if CV_VERSION_MAJOR < 5  // OpenCV 5 has no Caffe and Darknet importers
    {"caffe", "tiny.caffemodel", "tiny.prototxt", "relu5", "fc", "prob"},
    {"darknet", "tiny.weights", "tiny.cfg", "relu_10", "fullyConnected_11", "softmax_12"},
#endif
    {"tensorflow", "tiny.pb", "", "block5/Relu", "fc/MatMul", "prob"},
};

std::string importerPath(const std::string& file)
{
    return std::string(EXPLAIN_DATA_DIR) + "/importers/" + file;
}

dnn::Net readImporterNet(const ImporterCase& c, bool viaReadNet)
{
    const std::string model = importerPath(c.model), config = c.config.empty() ? "" : importerPath(c.config);
    if (viaReadNet)
        return explain::readNet(model, config);
#if CV_VERSION_MAJOR < 5
    if (c.format == "caffe")
        return dnn::readNetFromCaffe(config, model);
    if (c.format == "darknet")
        return dnn::readNetFromDarknet(config, model);
#endif
#if CV_VERSION_MAJOR >= 5
    if (c.format == "tensorflow")
        return dnn::readNetFromTensorflow(model, "", dnn::ENGINE_CLASSIC);
    return dnn::readNetFromONNX(model, dnn::ENGINE_CLASSIC);
#else
    if (c.format == "tensorflow")
        return dnn::readNetFromTensorflow(model);
    return dnn::readNetFromONNX(model);
#endif
}

/** The same NCHW blob for every format (cv::dnn's TensorFlow importer takes NCHW too). */
Mat importerInput()
{
    RNG rng(0x1e9017);
    return randomBlob({1, 3, 32, 32}, rng, -1.f, 1.f);
}

double relL2(const Mat& a, const Mat& b)
{
    return cv::norm(a.reshape(1, 1), b.reshape(1, 1), NORM_L2) / std::max(cv::norm(b.reshape(1, 1), NORM_L2), 1e-30);
}

/** Everything compared across formats, with the maps of all classes stacked into one row each. */
struct Explanation
{
    std::string layer, scoreLayer;
    Mat scores, gradcam, counterfactual, guided, exact, guidedGradcam;
};

Mat stackRows(const std::vector<Mat>& parts)
{
    std::vector<Mat> rows;
    for (const Mat& p : parts)
        rows.push_back(p.reshape(1, 1));
    Mat out;
    hconcat(rows, out);
    return out;
}

Explanation explainNet(const dnn::Net& net, const std::string& layer)
{
    Ptr<GradCAM> cam = GradCAM::create(net, layer);
    Explanation e;
    cam->forward(importerInput(), e.scores);
    e.layer = cam->getLayerName();
    e.scoreLayer = cam->getScoreLayerName();
    std::vector<Mat> gc, cf, guided, exact;
    for (int c = 0; c < (int)e.scores.total(); c++)
    {
        std::vector<Mat> maps, counter;
        cam->compute(c, maps, counter);
        gc.push_back(maps[0].clone());
        cf.push_back(counter[0].clone());
        Mat g, v;
        cam->inputGradient(c, g, RECTIFIER_GUIDED);
        cam->inputGradient(c, v, RECTIFIER_EXACT);
        guided.push_back(g);
        exact.push_back(v);
    }
    e.gradcam = stackRows(gc);
    e.counterfactual = stackRows(cf);
    e.guided = stackRows(guided);
    e.exact = stackRows(exact);
    cam->guidedGradCAM(-1, e.guidedGradcam);
    return e;
}

class Importers : public ::testing::TestWithParam<ImporterCase> {};

TEST_P(Importers, DefaultLayersAreTheEquivalentOnes)
{
    const ImporterCase& c = GetParam();
    for (bool viaReadNet : {false, true})
    {
        dnn::Net net = readImporterNet(c, viaReadNet);
        ASSERT_FALSE(net.empty());
        Ptr<GradCAM> cam = GradCAM::create(net);
        cam->forward(importerInput());
        EXPECT_EQ(cam->getLayerName(), c.target) << (viaReadNet ? "readNet" : "readNetFrom...");
        EXPECT_EQ(cam->getScoreLayerName(), c.scoreLayer) << (viaReadNet ? "readNet" : "readNetFrom...");
        EXPECT_EQ(net.getLayerNames().back(), c.lastLayer);
    }
}

TEST_P(Importers, MapsEqualTheOnnxTwin)
{
    const ImporterCase& c = GetParam();
    const Explanation ref = explainNet(readImporterNet(kOnnx, false), kOnnx.target);
    ASSERT_EQ(ref.scores.total(), 5u);
    ASSERT_GT(cv::norm(ref.gradcam), 0.0);
    ASSERT_GT(cv::norm(ref.counterfactual), 0.0);  // over all 5 classes some counterfactual map is non-zero
    for (bool viaReadNet : {false, true})
    {
        SCOPED_TRACE(viaReadNet ? "readNet" : "readNetFrom...");
        for (const std::string& layer : {c.target, std::string()})
        {
            SCOPED_TRACE("layer '" + layer + "'");
            const Explanation e = explainNet(readImporterNet(c, viaReadNet), layer);
            EXPECT_EQ(e.layer, c.target);
            EXPECT_EQ(e.scoreLayer, c.scoreLayer);
            ASSERT_EQ(e.scores.total(), ref.scores.total());
            const double errScores = relL2(e.scores, ref.scores), errGc = relL2(e.gradcam, ref.gradcam),
                         errCf = relL2(e.counterfactual, ref.counterfactual), errGuided = relL2(e.guided, ref.guided),
                         errExact = relL2(e.exact, ref.exact), errGgc = relL2(e.guidedGradcam, ref.guidedGradcam);
            EXPECT_LE(errScores, 1e-4) << "scores";
            EXPECT_LE(errGc, 1e-4) << "Grad-CAM (all classes)";
            EXPECT_LE(errCf, 1e-4) << "counterfactual (all classes)";
            EXPECT_LE(errGuided, 1e-4) << "guided backprop (all classes)";
            EXPECT_LE(errExact, 1e-4) << "exact input gradient (all classes)";
            EXPECT_LE(errGgc, 1e-4) << "Guided Grad-CAM (top class)";
            if (layer.empty() && !viaReadNet)
                std::cout << "[ importers ] " << c.format << " vs onnx rel. L2: scores " << errScores << ", gradcam "
                          << errGc << ", counterfactual " << errCf << ", guided " << errGuided << ", exact "
                          << errExact << ", guided grad-cam " << errGgc << std::endl;
        }
    }
}

// The score (through every layer, since global pooling reaches all of the target's outputs) and the
// softmax are checked with the defaults of test_gradient_check.cpp. At the Grad-CAM target a random seed
// on all 16x16x16 outputs with h = 1e-2 meets ReLU and max-pool kinks inside the step that stay under the
// checker's kink threshold (max error 0.053, the same in every format; 0.022 at h = 1e-3), so there the
// seed covers one channel (256 outputs) and h = 1e-3 (max error 1.5e-3). The analytic gradients of all
// four formats also equal float64 PyTorch autograd to 2e-7 (rel. L2, exact and guided modes).
TEST_P(Importers, GradientCheck)
{
    const ImporterCase& c = GetParam();
    dnn::Net net = readImporterNet(c, false);
    const Mat input = importerInput();
    for (const std::string& out : {c.scoreLayer, c.lastLayer})
    {
        GradientCheckResult res = checkInputGradient(net, input, out);
        EXPECT_GT(res.checked, std::max(3, res.kinks)) << "too many kinks to check " << out;
        EXPECT_LE(res.maxError, 2e-2) << "layer " << out << ": " << res.checked << " points checked";
    }
    Mat seed = Mat::zeros(1, 16 * 16 * 16, CV_32F), channel0 = seed.colRange(0, 16 * 16);
    RNG rng(7);
    rng.fill(channel0, RNG::UNIFORM, -1.f, 1.f);
    GradientCheckResult res = checkInputGradient(net, input, c.target, 0x1234, 1e-3, 120, seed);
    EXPECT_GT(res.checked, std::max(3, res.kinks)) << "too many kinks to check " << c.target;
    EXPECT_LE(res.maxError, 2e-2) << "layer " << c.target << ": " << res.checked << " points checked";
}

INSTANTIATE_TEST_CASE_P(Formats, Importers, ::testing::ValuesIn(kCases),
                        [](const ::testing::TestParamInfo<ImporterCase>& info) { return info.param.format; });

}} // namespace
