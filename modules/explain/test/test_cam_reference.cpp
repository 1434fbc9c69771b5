// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// The CAM family compared with pytorch-grad-cam (PyPI grad-cam) on the models and weights of
// tools/make_references.py, raw maps at the target layer's resolution made by
// tools/make_cam_references.py. Needs EXPLAIN_CAM_REFERENCE_DIR; skipped without it unless
// EXPLAIN_REQUIRE_REFERENCES=1, then a missing directory or file fails.
#include "test_common.hpp"
#include <cstdlib>

namespace opencv_test { namespace {

double camRelL2(const Mat& a, const Mat& b)
{
    const double d = cv::norm(a.reshape(1, 1), b.reshape(1, 1), NORM_L2), n = cv::norm(b, NORM_L2);
    return n > 0 ? d / n : d;
}

struct CamCase
{
    const char* key;  // map in <model>_cams.yml.gz
    int method;
    double tol;       // rel. L2
};

// All methods (Grad-CAM++ once its epsilon is pytorch-grad-cam's 1e-6, see tools/README.md) agree with
// float64 pytorch-grad-cam at its own float32 noise floor (floor_<key> in the
// file: 2e-7 to 7e-6 on these models), so 1e-3 as in test_reference.cpp leaves a wide margin.
// Score-CAM too (measured 9e-8 on the default model): its weights are a softmax of K logits of masked
// inputs, whose relative error is the logits' absolute error (~1e-6 in float32), and the map is then
// a weighted sum of A as for the other methods.
const CamCase kCases[] = {
    {"gradcam", CAM_GRADCAM, 1e-3},
    {"gradcampp", CAM_GRADCAM_PLUS_PLUS, 1e-3},
    {"xgradcam", CAM_XGRADCAM, 1e-3},
    {"hirescam", CAM_HIRESCAM, 1e-3},
    {"elementwise", CAM_GRADCAM_ELEMENTWISE, 1e-3},
    {"layercam", CAM_LAYERCAM, 1e-3},
    {"eigencam", CAM_EIGENCAM, 1e-3},
    {"eigengradcam", CAM_EIGENGRADCAM, 1e-3},
    {"scorecam", CAM_SCORECAM, 1e-3},
    {"ablationcam", CAM_ABLATIONCAM, 1e-3},
};

/** The first layer of the model (in getLayerNames() order, on a Net of its own) whose output equals
    `activation` (1 x total, torch's output of the target module) within 1e-3 max|activation|: the
    reference of a model that the Python side's cv::dnn does not import names no layer. */
std::string layerWithActivation(const std::string& model, const Mat& input, const Mat& activation)
{
    CV_Assert(!activation.empty());
    dnn::Net net = readNetToExplain(model);
    const std::vector<String> names = net.getLayerNames();
    std::vector<Mat> outs;
    net.setInput(input);
    net.forward(outs, names);
    const double tol = 1e-3 * cv::norm(activation, NORM_INF);
    for (size_t i = 0; i < names.size(); i++)
        if (outs[i].total() == activation.total() &&
            cv::norm(outs[i].reshape(1, 1), activation, NORM_INF) <= tol)
            return names[i];
    CV_Error(Error::StsError, "no layer of " + model + " outputs the reference's activation");
}

class CamReference : public ::testing::TestWithParam<std::string>
{
};

TEST_P(CamReference, MatchesPytorchGradCam)
{
    const char* d = std::getenv("EXPLAIN_CAM_REFERENCE_DIR");
    const char* req = std::getenv("EXPLAIN_REQUIRE_REFERENCES");
    const bool required = req && std::string(req) == "1";
    if (!d)
    {
        if (required)
            FAIL() << "EXPLAIN_REQUIRE_REFERENCES=1 but EXPLAIN_CAM_REFERENCE_DIR is not set";
        GTEST_SKIP() << "set EXPLAIN_CAM_REFERENCE_DIR to the output of tools/make_cam_references.py "
                        "(build/venv-gradcam/bin/python, see tools/README.md)";
    }
    const std::string dir = d, path = dir + "/" + GetParam() + "_cams.yml.gz";
    FileStorage fs(path, FileStorage::READ);
    if (!fs.isOpened())
    {
        if (required)
            FAIL() << "missing reference " << path << " (run tools/make_cam_references.py)";
        GTEST_SKIP() << "no " << path;
    }
    std::string model, layer, version;
    int classId = -1;
    Mat input;
    fs["model"] >> model;
    fs["layer"] >> layer;
    fs["class_id"] >> classId;
    fs["grad_cam_version"] >> version;
    fs["input"] >> input;
    ASSERT_FALSE(input.empty());
    ASSERT_GE(classId, 0);

    if (layer.empty())
        layer = layerWithActivation(dir + "/" + model, input, fs["activation"].mat());
    dnn::Net net = readNetToExplain(dir + "/" + model);
    Ptr<GradCAM> cam = GradCAM::create(net, layer);
    int gridH = 0, gridW = 0, prefix = 0;  // token models: pytorch-grad-cam's reshape_transform
    fs["grid_h"] >> gridH;
    fs["grid_w"] >> gridW;
    fs["prefix_tokens"] >> prefix;
    if (gridH > 0)
        cam->setTokenGrid(gridH, gridW, prefix);
    Mat scores;
    cam->forward(input, scores);  // one forward pass serves every method
    Point top;
    minMaxLoc(scores.row(0), nullptr, nullptr, nullptr, &top);
    EXPECT_EQ(top.x, classId) << "cv::dnn's top-1 class differs from torch's";

    int compared = 0;
    for (const CamCase& c : kCases)
    {
        Mat ref;
        fs[c.key] >> ref;
        if (ref.empty())
        {
            std::cout << "[ cam-ref   ] " << GetParam() << " " << c.key << ": not in the reference" << std::endl;
            continue;
        }
        double floor32 = -1;
        fs[std::string("floor_") + c.key] >> floor32;
        cam->setMethod(c.method);
        std::vector<Mat> maps;
        cam->compute(classId, maps);
        ASSERT_EQ(maps.size(), 1u) << c.key;
        ASSERT_EQ(maps[0].size(), ref.size()) << c.key;
        ASSERT_EQ(maps[0].type(), CV_32F) << c.key;
        double err = camRelL2(maps[0], ref);
        std::string note;
        if (c.method == CAM_EIGENCAM || c.method == CAM_EIGENGRADCAM)
        {
            // Our component's sign correlates positively with the activations' channel sum;
            // pytorch-grad-cam keeps numpy's SVD sign: accept ReLU(p) or ReLU(-p).
            Mat neg;
            fs[std::string(c.key) + "_neg"] >> neg;
            ASSERT_FALSE(neg.empty()) << c.key << "_neg";
            const double errNeg = camRelL2(maps[0], neg);
            note = errNeg < err ? " (flipped component: pytorch-grad-cam's SVD sign is the other one)"
                                : " (same component sign as pytorch-grad-cam)";
            err = std::min(err, errNeg);
        }
        std::cout << "[ cam-ref   ] " << GetParam() << " " << c.key << ": rel.L2 " << err
                  << " (pytorch-grad-cam float32 vs float64: " << floor32 << ")" << note << std::endl;
        EXPECT_LE(err, c.tol) << GetParam() << " " << c.key << " vs pytorch-grad-cam " << version;
        compared++;
    }
    // token models: the same Grad-CAM straight from float64 autograd, without pytorch-grad-cam
    Mat autograd;
    fs["gradcam_autograd"] >> autograd;
    if (!autograd.empty())
    {
        cam->setMethod(CAM_GRADCAM);
        std::vector<Mat> maps;
        cam->compute(classId, maps);
        const double err = camRelL2(maps[0], autograd);
        std::cout << "[ cam-ref   ] " << GetParam() << " gradcam vs float64 autograd: rel.L2 " << err << std::endl;
        EXPECT_LE(err, 1e-3) << GetParam() << " Grad-CAM vs autograd";
        compared++;
    }
    // pytorch-grad-cam's aug_smooth and multi-layer Grad-CAM (scaled maps at the input size)
    Mat aug, layers;
    std::string layer2;
    fs["gradcam_aug"] >> aug;
    fs["gradcam_layers"] >> layers;
    fs["layer2"] >> layer2;
    cam->setMethod(CAM_GRADCAM);
    if (!aug.empty())
    {
        std::vector<Mat> maps;
        cam->computeAugSmooth(classId, maps);
        const double err = camRelL2(maps[0], aug);
        std::cout << "[ cam-ref   ] " << GetParam() << " gradcam aug_smooth: rel.L2 " << err << std::endl;
        EXPECT_LE(err, 1e-3) << GetParam() << " aug_smooth";
        compared++;
    }
    if (!layers.empty() && !layer2.empty())
    {
        std::vector<Mat> maps;
        cam->computeLayers({layer2, layer}, classId, layers.size(), maps);
        const double err = camRelL2(maps[0], layers);
        std::cout << "[ cam-ref   ] " << GetParam() << " gradcam layers " << layer2 << " + " << layer << ": rel.L2 "
                  << err << std::endl;
        EXPECT_LE(err, 1e-3) << GetParam() << " multi-layer";
        compared++;
    }
    EXPECT_GE(compared, 8);
    std::cout << "[ cam-ref   ] " << GetParam() << ": layer " << layer << ", class " << classId
              << ", grad-cam " << version << ", " << compared << " methods" << std::endl;
}

// tiny_vit, tiny_deit: token layers read on a grid (GradCAM::setTokenGrid; tools/token_models.py)
INSTANTIATE_TEST_CASE_P(Zoo, CamReference, ::testing::Values("default", "resnet18", "mobilenet_v2", "tiny_vit", "tiny_deit"));
#if CV_VERSION_MAJOR >= 5
// torchvision's ViT, a DeiT on it and Swin: Attention, LayerNormalization and Gelu of OpenCV 5's importer
// (4.6 does not import them; tools/token_models.py)
INSTANTIATE_TEST_CASE_P(Transformers, CamReference,
                        ::testing::Values("vit_torchvision", "deit_torchvision", "swin_torchvision"));
#endif

}} // namespace
