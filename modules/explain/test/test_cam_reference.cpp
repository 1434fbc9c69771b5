// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// The CAM family compared with pytorch-grad-cam (PyPI grad-cam) on the models and weights of
// tools/make_references.py, raw maps at the target layer's resolution made by
// tools/make_cam_references.py. Needs EXPLAIN_CAM_REFERENCE_DIR; skipped without it unless
// EXPLAIN_REQUIRE_REFERENCES=1, then a missing directory or file fails.
#include "test_common.hpp"
#include <cstdlib>
#include <opencv2/imgcodecs.hpp>
#include <set>

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
    dnn::Net net = explain::readNet(model);
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

int argMaxCol(const Mat& row)
{
    Point p;
    minMaxLoc(row, nullptr, nullptr, nullptr, &p);
    return p.x;
}

class CamReference : public ::testing::TestWithParam<std::string>
{
};

/** The full-size transformers, whose references are made only on request (make_cam_references.py
    --models vit_b_16,swin_t: half an hour on 2 cores), so that no run requires them. */
bool madeOnRequest(const std::string& name)
{
    return name == "vit_b_16" || name == "swin_t";
}

/** <EXPLAIN_CAM_REFERENCE_DIR>/<name>_cams.yml.gz, opened into fs; false when there is none (a failure
    when EXPLAIN_REQUIRE_REFERENCES=1 and the model is not made on request, else the caller skips). */
bool openCamReference(const std::string& name, FileStorage& fs, std::string& dir)
{
    const char* d = std::getenv("EXPLAIN_CAM_REFERENCE_DIR");
    const char* req = std::getenv("EXPLAIN_REQUIRE_REFERENCES");
    const bool required = req && std::string(req) == "1" && !madeOnRequest(name);
    if (!d)
    {
        if (required)
            ADD_FAILURE() << "EXPLAIN_REQUIRE_REFERENCES=1 but EXPLAIN_CAM_REFERENCE_DIR is not set";
        return false;
    }
    dir = d;
    const std::string path = dir + "/" + name + "_cams.yml.gz";
    if (!fs.open(path, FileStorage::READ) && required)
        ADD_FAILURE() << "missing reference " << path << " (run tools/make_cam_references.py)";
    return fs.isOpened();
}

/** Rel. L2 of a map to the reference's <key>; for the principal-component methods the better of <key> and
    <key>_neg (pytorch-grad-cam keeps numpy's SVD sign). */
double camError(const FileStorage& fs, const std::string& key, int method, const Mat& map, std::string& note)
{
    Mat ref;
    fs[key] >> ref;
    CV_Assert(map.size() == ref.size() && map.type() == CV_32F);
    double err = camRelL2(map, ref);
    if (method == CAM_EIGENCAM || method == CAM_EIGENGRADCAM)
    {
        // Our component's sign correlates positively with the activations' channel sum
        Mat neg;
        fs[key + "_neg"] >> neg;
        CV_Assert(!neg.empty());
        const double errNeg = camRelL2(map, neg);
        note = errNeg < err ? " (flipped component: pytorch-grad-cam's SVD sign is the other one)"
                            : " (same component sign as pytorch-grad-cam)";
        err = std::min(err, errNeg);
    }
    return err;
}

/** Every method of kCases in the reference against cam's map (the forward pass done), but those in `skip`;
    returns how many were compared. */
int compareMethods(const FileStorage& fs, GradCAM& cam, int classId, const std::string& name,
                   const std::string& version, const std::set<std::string>& skip = {})
{
    int compared = 0;
    for (const CamCase& c : kCases)
    {
        Mat ref;
        fs[c.key] >> ref;
        if (ref.empty() || skip.count(c.key))
        {
            std::cout << "[ cam-ref   ] " << name << " " << c.key << ": " << (ref.empty() ? "not in the reference" : "not compared")
                      << std::endl;
            continue;
        }
        double floor32 = -1;
        fs[std::string("floor_") + c.key] >> floor32;
        cam.setMethod(c.method);
        std::vector<Mat> maps;
        cam.compute(classId, maps);
        EXPECT_EQ(maps.size(), 1u) << c.key;
        if (maps.size() != 1u || maps[0].size() != ref.size() || maps[0].type() != CV_32F)
        {
            ADD_FAILURE() << name << " " << c.key << ": no map of the reference's size";
            continue;
        }
        std::string note;
        const double err = camError(fs, c.key, c.method, maps[0], note);
        std::cout << "[ cam-ref   ] " << name << " " << c.key << ": rel.L2 " << err
                  << " (pytorch-grad-cam float32 vs float64: " << floor32 << ")" << note << std::endl;
        EXPECT_LE(err, c.tol) << name << " " << c.key << " vs pytorch-grad-cam " << version;
        compared++;
    }
    return compared;
}

/** Token models: pytorch-grad-cam's reshape_transform as the explainer's token grid. */
void setTokenGridOf(const FileStorage& fs, GradCAM& cam)
{
    int gridH = 0, gridW = 0, prefix = 0;
    fs["grid_h"] >> gridH;
    fs["grid_w"] >> gridW;
    fs["prefix_tokens"] >> prefix;
    if (gridH > 0)
        cam.setTokenGrid(gridH, gridW, prefix);
}

/** Token models: the same Grad-CAM straight from float64 autograd, without pytorch-grad-cam (1 if compared). */
int compareAutograd(const FileStorage& fs, GradCAM& cam, int classId, const std::string& name)
{
    Mat autograd;
    fs["gradcam_autograd"] >> autograd;
    if (autograd.empty())
        return 0;
    cam.setMethod(CAM_GRADCAM);
    std::vector<Mat> maps;
    cam.compute(classId, maps);
    const double err = camRelL2(maps[0], autograd);
    std::cout << "[ cam-ref   ] " << name << " gradcam vs float64 autograd: rel.L2 " << err << std::endl;
    EXPECT_LE(err, 1e-3) << name << " Grad-CAM vs autograd";
    return 1;
}

/** pytorch-grad-cam's aug_smooth (a scaled map at the input size), when the reference has it: 1 if compared. */
int compareAugSmooth(const FileStorage& fs, GradCAM& cam, int classId, const std::string& name)
{
    Mat aug;
    fs["gradcam_aug"] >> aug;
    if (aug.empty())
        return 0;
    cam.setMethod(CAM_GRADCAM);
    std::vector<Mat> maps;
    cam.computeAugSmooth(classId, maps);
    const double err = camRelL2(maps[0], aug);
    std::cout << "[ cam-ref   ] " << name << " gradcam aug_smooth: rel.L2 " << err << std::endl;
    EXPECT_LE(err, 1e-3) << name << " aug_smooth";
    return 1;
}

const char* const kNoReference = "set EXPLAIN_CAM_REFERENCE_DIR to the output of tools/make_cam_references.py "
                                 "(build/venv-gradcam/bin/python, see tools/README.md)";

/** What every reference of a model says: where it is, the model, the target layer (empty: find it by its
    activation), the class, pytorch-grad-cam's version and the input blob. */
struct CamReferenceFile
{
    FileStorage fs;
    std::string dir, model, layer, version;
    int classId = -1;
    Mat input;

    /** False when there is none (see openCamReference). */
    bool open(const std::string& name)
    {
        if (!openCamReference(name, fs, dir))
            return false;
        fs["model"] >> model;
        fs["layer"] >> layer;
        fs["class_id"] >> classId;
        fs["grad_cam_version"] >> version;
        fs["input"] >> input;
        return true;
    }
};

TEST_P(CamReference, MatchesPytorchGradCam)
{
    CamReferenceFile ref;
    if (!ref.open(GetParam()))
        GTEST_SKIP() << kNoReference;
    FileStorage& fs = ref.fs;
    const std::string &dir = ref.dir, &model = ref.model, &version = ref.version;
    std::string layer = ref.layer;
    const int classId = ref.classId;
    const Mat& input = ref.input;
    ASSERT_FALSE(input.empty());
    ASSERT_GE(classId, 0);

    if (layer.empty())
        layer = layerWithActivation(dir + "/" + model, input, fs["activation"].mat());
    dnn::Net net = explain::readNet(dir + "/" + model);
    Ptr<GradCAM> cam = GradCAM::create(net, layer);
    setTokenGridOf(fs, *cam);
    Mat scores;
    cam->forward(input, scores);  // one forward pass serves every method
    Point top;
    minMaxLoc(scores.row(0), nullptr, nullptr, nullptr, &top);
    EXPECT_EQ(top.x, classId) << "cv::dnn's top-1 class differs from torch's";

    int compared = compareMethods(fs, *cam, classId, GetParam(), version);
    compared += compareAutograd(fs, *cam, classId, GetParam());
    // pytorch-grad-cam's aug_smooth and multi-layer Grad-CAM (scaled maps at the input size)
    Mat layers;
    std::string layer2;
    fs["gradcam_layers"] >> layers;
    fs["layer2"] >> layer2;
    cam->setMethod(CAM_GRADCAM);
    compared += compareAugSmooth(fs, *cam, classId, GetParam());
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

/** The captioner of the task models (paper's captioning section): every gradient method of the CAM family
    for each word of the bundled image's caption, the word's log-probability with the caption fed in
    (teacher forcing), against pytorch-grad-cam on the torch twin of data/tasks/caption.onnx. */
TEST(CamReferenceTasks, CaptionWordsMatchPytorchGradCam)
{
    FileStorage fs;
    std::string dir;
    if (!openCamReference("caption", fs, dir))
        GTEST_SKIP() << kNoReference;
    const std::string tasks = std::string(EXPLAIN_DATA_DIR) + "/tasks/";
    Mat words, image = imread(tasks + "caption.png", IMREAD_COLOR);
    FileStorage(tasks + "caption_words.yml", FileStorage::READ)["words"] >> words;
    ASSERT_FALSE(image.empty());
    const Mat blob = dnn::blobFromImage(image, 1.0 / 255, image.size(), Scalar(), true, false);
    Ptr<GradCAM> cam = GradCAM::create(explain::readNet(tasks + "caption.onnx"), "onnx_node!/conv3_relu/Relu",
                                       "logprobs");
    cam->forwardInputs(std::vector<Mat>{blob, words}, {"image", "words"});
    const int steps = (int)fs["words"];
    ASSERT_EQ(steps, words.rows + 1);
    int compared = 0;
    for (const CamCase& c : kCases)
        for (int t = 0; t < steps; t++)
        {
            const std::string key = cv::format("%s_%d", c.key, t);
            if (fs[key].empty())
                continue;
            const int word = t < words.rows ? argMaxCol(words.row(t)) : 0;  // the caption ends with <end>
            Mat seed(std::vector<int>{steps, 1, words.cols}, CV_32F, Scalar(0));
            seed.ptr<float>(t)[word] = 1.f;
            cam->setMethod(c.method);
            std::vector<Mat> maps;
            cam->computeFromGradient("logprobs", seed, maps);
            ASSERT_EQ(maps.size(), 1u);
            std::string note;
            const double err = camError(fs, key, c.method, maps[0], note);
            std::cout << "[ cam-ref   ] caption " << key << ": rel.L2 " << err << note << std::endl;
            EXPECT_LE(err, c.tol) << "caption " << key;
            compared++;
        }
    EXPECT_EQ(compared, 8 * steps);
}

// tiny_vit, tiny_deit: token layers read on a grid (GradCAM::setTokenGrid; tools/token_models.py)
INSTANTIATE_TEST_CASE_P(Zoo, CamReference, ::testing::Values("default", "resnet18", "mobilenet_v2", "tiny_vit", "tiny_deit"));
#if CV_VERSION_MAJOR >= 5
// torchvision's ViT, a DeiT on it and Swin: Attention, LayerNormalization and Gelu of OpenCV 5's importer
// (4.6 does not import them; tools/token_models.py)
INSTANTIATE_TEST_CASE_P(Transformers, CamReference,
                        ::testing::Values("vit_torchvision", "deit_torchvision", "swin_torchvision"));
// ViT-B/16 and Swin-T at 224 x 224 (random weights): compared when their references were made
INSTANTIATE_TEST_CASE_P(FullSize, CamReference, ::testing::Values("vit_b_16", "swin_t"));

/** A layer of a PyTorch export on the new engine, by the name of its output tensor ("onnx_node!/relu4/Relu"
    of the classic engine is "/relu4/Relu_output_0"): the new engine keeps it when it fuses the layer into
    the convolution before it. */
std::string newEngineName(const std::string& classicName)
{
    const std::string prefix = "onnx_node!";
    return (classicName.rfind(prefix, 0) == 0 ? classicName.substr(prefix.size()) : classicName) + "_output_0";
}

/** layerWithActivation on the new engine: its explainer's activations (plain layouts) of every layer. */
std::string newEngineLayerWithActivation(const dnn::Net& net, const Mat& input, const Mat& activation)
{
    Ptr<Backprop> bp = Backprop::create(net);
    bp->forward(input);
    const double tol = 1e-3 * cv::norm(activation, NORM_INF);
    for (const String& name : bp->getLayerNames())
    {
        const std::vector<MatShape>& shapes = bp->getLayerInfo(name).outputShapes;
        if (shapes.empty() || dnn::total(shapes[0]) != (int)activation.total())
            continue;
        const Mat out = bp->getActivation(name);
        if (out.depth() == CV_32F && out.total() == activation.total() &&
            cv::norm(out.reshape(1, 1), activation, NORM_INF) <= tol)
            return name;
    }
    CV_Error(Error::StsError, "no layer of the new engine's Net outputs the reference's activation");
}

class NewEngineCamReference : public ::testing::TestWithParam<std::string>
{
};

// The same references with the Net read by cv::dnn::readNet's default, OpenCV 5's new engine: every method
// but Ablation-CAM (refused there, see test_new_engine.cpp) at the reference's target layer.
TEST_P(NewEngineCamReference, MatchesPytorchGradCam)
{
    CamReferenceFile ref;
    if (!ref.open(GetParam()))
        GTEST_SKIP() << kNoReference;
    dnn::Net net = dnn::readNet(ref.dir + "/" + ref.model);
    ASSERT_FALSE(net.getMainGraph().empty()) << "readNet's default is expected to be the new engine";
    const std::string layer = ref.layer.empty() ? newEngineLayerWithActivation(net, ref.input, ref.fs["activation"].mat())
                                                : newEngineName(ref.layer);
    Ptr<GradCAM> cam = GradCAM::create(net, layer);
    setTokenGridOf(ref.fs, *cam);
    Mat scores;
    cam->forward(ref.input, scores);
    EXPECT_EQ(argMaxCol(scores.row(0)), ref.classId) << "cv::dnn's top-1 class differs from torch's";
    const std::string name = GetParam() + " (new engine)";
    int compared = compareMethods(ref.fs, *cam, ref.classId, name, ref.version, {"ablationcam"});
    compared += compareAutograd(ref.fs, *cam, ref.classId, name);
    compared += compareAugSmooth(ref.fs, *cam, ref.classId, name);
    EXPECT_GE(compared, 8);
}

INSTANTIATE_TEST_CASE_P(Zoo, NewEngineCamReference,
                        ::testing::Values("default", "resnet18", "mobilenet_v2", "tiny_vit", "tiny_deit"));
INSTANTIATE_TEST_CASE_P(Transformers, NewEngineCamReference,
                        ::testing::Values("vit_torchvision", "deit_torchvision", "swin_torchvision"));
#endif

}} // namespace
