// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// Comparison against PyTorch autograd (float64) on the model zoo exported to ONNX by
// tools/make_references.py. Needs EXPLAIN_REFERENCE_DIR; skipped without it unless
// EXPLAIN_REQUIRE_REFERENCES=1 (as scripts/test.sh and CI set it), then a missing file fails.
#include "test_common.hpp"
#include <cstdlib>

namespace opencv_test { namespace {

double relL2(const Mat& a, const Mat& b)
{
    return cv::norm(a.reshape(1, 1), b.reshape(1, 1), NORM_L2) / std::max(cv::norm(b, NORM_L2), 1e-30);
}

double correlation(const Mat& a, const Mat& b)
{
    Mat x, y;
    a.reshape(1, 1).convertTo(x, CV_64F);
    b.reshape(1, 1).convertTo(y, CV_64F);
    x -= mean(x)[0];
    y -= mean(y)[0];
    return x.dot(y) / std::max(cv::norm(x) * cv::norm(y), 1e-300);
}

class Reference : public ::testing::TestWithParam<std::string>
{
protected:
    bool load(FileStorage& fs, std::string& dir)
    {
        const char* d = std::getenv("EXPLAIN_REFERENCE_DIR");
        const char* req = std::getenv("EXPLAIN_REQUIRE_REFERENCES");
        const bool required = req && std::string(req) == "1";
        if (!d)
        {
            if (required)
                ADD_FAILURE() << "EXPLAIN_REQUIRE_REFERENCES=1 but EXPLAIN_REFERENCE_DIR is not set";
            return false;
        }
        dir = d;
        const std::string path = dir + "/" + GetParam() + ".yml.gz";
        fs.open(path, FileStorage::READ);
        if (!fs.isOpened())
        {
            if (required)
                ADD_FAILURE() << "missing reference " << path << " (run tools/make_references.py)";
            return false;
        }
        return true;
    }
};

TEST_P(Reference, MapsMatchAutograd)
{
    FileStorage fs;
    std::string dir;
    if (!load(fs, dir))
        GTEST_SKIP() << "set EXPLAIN_REFERENCE_DIR to the output of tools/make_references.py";
    std::string model, layer;
    int classId = -1;
    Mat input, logits, gradcam, counterfactual, vanilla, guided, deconvnet, guidedGradcam;
    fs["model"] >> model;
    fs["layer"] >> layer;
    fs["class_id"] >> classId;
    fs["input"] >> input;
    fs["logits"] >> logits;
    fs["gradcam"] >> gradcam;
    fs["counterfactual"] >> counterfactual;
    fs["vanilla"] >> vanilla;
    fs["guided"] >> guided;
    fs["deconvnet"] >> deconvnet;
    fs["guided_gradcam"] >> guidedGradcam;
    ASSERT_FALSE(input.empty());

    dnn::Net net = explain::readNet(dir + "/" + model);
    Ptr<GradCAM> cam = GradCAM::create(net, layer);
    Mat scores;
    cam->forward(input, scores);
    EXPECT_LE(relL2(scores, logits), 1e-3) << "cv::dnn logits differ from PyTorch's";
    std::vector<Mat> maps, counter;
    cam->compute(classId, maps, counter);
    const double gcErr = relL2(maps[0], gradcam), cfErr = relL2(counter[0], counterfactual);
    EXPECT_LE(gcErr, 1e-3) << "Grad-CAM";
    EXPECT_LE(cfErr, 1e-3) << "counterfactual";

    // a second class whose maps are split in sign, so that the counterfactual map is not all zeros
    int altClass = -1;
    Mat altGradcam, altCounterfactual;
    fs["alt_class_id"] >> altClass;
    fs["alt_gradcam"] >> altGradcam;
    fs["alt_counterfactual"] >> altCounterfactual;
    double altGcErr = 0, altCfErr = 0;
    if (altClass >= 0)
    {
        std::vector<Mat> altMaps, altCounter;
        cam->compute(altClass, altMaps, altCounter);
        altGcErr = relL2(altMaps[0], altGradcam);
        altCfErr = relL2(altCounter[0], altCounterfactual);
        EXPECT_LE(altGcErr, 1e-3) << "Grad-CAM of class " << altClass;
        EXPECT_LE(altCfErr, 1e-3) << "counterfactual of class " << altClass;
        EXPECT_GT(cv::norm(altCounterfactual), 0.0);
    }

    Mat g;
    cam->inputGradient(classId, g, RECTIFIER_GUIDED);
    const double guidedErr = relL2(g, guided), guidedCorr = correlation(g, guided);
    EXPECT_LE(guidedErr, 5e-2) << "guided backprop";
    EXPECT_GE(guidedCorr, 0.999) << "guided backprop";
    Mat ggc;
    cam->guidedGradCAM(classId, ggc);
    const double ggcErr = relL2(ggc, guidedGradcam);
    EXPECT_LE(ggcErr, 5e-2) << "Guided Grad-CAM";

    Mat v;
    cam->inputGradient(classId, v, RECTIFIER_EXACT);
    const double vanillaCorr = correlation(v, vanilla);
    EXPECT_GE(vanillaCorr, 0.99) << "exact input gradient";
    double deconvCorr = 1;
    if (!deconvnet.empty())
    {
        Mat dc;
        cam->inputGradient(classId, dc, RECTIFIER_DECONVNET);
        deconvCorr = correlation(dc, deconvnet);
        EXPECT_GE(deconvCorr, 0.99) << "deconvnet";
    }
    std::cout << "[ reference ] " << GetParam() << " layer " << layer << " class " << classId
              << ": gradcam rel.L2 " << gcErr << ", counterfactual " << cfErr << ", class " << altClass
              << " gradcam " << altGcErr << " counterfactual " << altCfErr << ", guided rel.L2 " << guidedErr
              << " corr " << guidedCorr << ", guided grad-cam " << ggcErr << ", vanilla corr " << vanillaCorr
              << ", deconvnet corr " << deconvCorr << std::endl;
}

#ifdef EXPLAIN_SAMPLE_GRADCAM
// The sample's --raw output on the image reference (ResNet-18) equals autograd's maps.
TEST(SampleRaw, ResNet18MatchesAutograd)
{
    const char* d = std::getenv("EXPLAIN_REFERENCE_DIR");
    const char* req = std::getenv("EXPLAIN_REQUIRE_REFERENCES");
    if (!d)
    {
        if (req && std::string(req) == "1")
            FAIL() << "EXPLAIN_REQUIRE_REFERENCES=1 but EXPLAIN_REFERENCE_DIR is not set";
        GTEST_SKIP() << "set EXPLAIN_REFERENCE_DIR to the output of tools/make_references.py";
    }
    const std::string dir = d;
    FileStorage ref(dir + "/resnet18.yml.gz", FileStorage::READ);
    ASSERT_TRUE(ref.isOpened()) << "missing " << dir << "/resnet18.yml.gz";
    std::string image, layer, mean;
    double scale = 0;
    int classId = -1;
    ref["image"] >> image;
    ref["layer"] >> layer;
    ref["blob_scale"] >> scale;
    ref["blob_mean"] >> mean;
    ref["class_id"] >> classId;
    ASSERT_FALSE(image.empty()) << "the resnet18 reference has no image input";
    const std::string raw = dir + "/sample_raw.yml.gz";
    std::remove(raw.c_str());
    const std::string cmd = std::string(EXPLAIN_SAMPLE_GRADCAM) + " --model=" + dir + "/resnet18.onnx --input=" + dir +
                            "/" + image + " --width=224 --height=224 --scale=" + cv::format("%.17g", scale) +
                            " --mean=\"" + mean + "\" --rgb --layer=" + layer + " --out=" + dir + " --raw=" + raw +
                            " > " + dir + "/sample_log.txt 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    FileStorage fs(raw, FileStorage::READ);
    ASSERT_TRUE(fs.isOpened());
    int sampleClass = -1;
    std::string sampleLayer;
    fs["class_id"] >> sampleClass;
    fs["layer"] >> sampleLayer;
    EXPECT_EQ(sampleClass, classId);
    EXPECT_EQ(sampleLayer, layer);
    for (const char* key : {"gradcam", "counterfactual", "guided", "guided_gradcam"})
    {
        Mat ours, theirs;
        fs[key] >> ours;
        ref[key] >> theirs;
        ASSERT_FALSE(ours.empty()) << key;
        ASSERT_EQ(ours.total(), theirs.total()) << key;
        const double tol = std::string(key).find("guided") == 0 ? 5e-2 : 1e-3;
        EXPECT_LE(relL2(ours, theirs), tol) << key;
    }
}
#endif

INSTANTIATE_TEST_CASE_P(Zoo, Reference,
                        ::testing::Values("default", "resnet18", "resnet50", "vgg16", "mobilenet_v2",
                                          "mobilenet_v3_small", "densenet121", "googlenet", "inception_v3",
                                          "squeezenet1_1", "shufflenet_v2_x1_0", "efficientnet_b0",
                                          "regnet_x_400mf"));

}} // namespace
