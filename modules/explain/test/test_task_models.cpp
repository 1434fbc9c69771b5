// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// The bundled task models (data/tasks/, made by tools/train_task_models.py): segmentation-mask,
// detection-cell and multi-input targets on trained nets, and numerical gradient checks on each.
#include "test_common.hpp"

#include <opencv2/imgcodecs.hpp>

namespace opencv_test { namespace {

const std::string kTasks = EXPLAIN_DATA_DIR "/tasks/";

dnn::Net readTaskModel(const std::string& name)
{
    dnn::Net net = explain::readNet(kTasks + name + ".onnx");
    EXPECT_FALSE(net.empty()) << name;
    return net;
}

/** The blob of a bundled 64x64 image as the models were trained: RGB in [0, 1]. */
Mat taskBlob(const std::string& png)
{
    Mat img = imread(kTasks + png, IMREAD_COLOR);
    EXPECT_EQ(img.size(), Size(64, 64)) << png;
    return dnn::blobFromImage(img, 1.0 / 255, Size(64, 64), Scalar(), true, false);
}

Point argMax(const Mat& m)
{
    Point p;
    minMaxLoc(m, nullptr, nullptr, nullptr, &p);
    return p;
}

TEST(TaskModels, SegmentationMaskTargetPointsIntoTheMask)
{
    dnn::Net net = readTaskModel("segmentation");
    Mat blob = taskBlob("segmentation.png");
    Mat mask = imread(kTasks + "segmentation_mask.png", IMREAD_GRAYSCALE);
    ASSERT_EQ(mask.size(), Size(64, 64));
    Ptr<GradCAM> cam = GradCAM::create(net, "onnx_node!/enc4_relu/Relu", "logits");
    cam->forward(blob);
    Mat logits = cam->getBackprop()->getActivation("logits");
    ASSERT_EQ(dnn::shape(logits), explain::MatShape({1, 5, 64, 64}));
    // the net segments the triangle (class 3; 0 is background): most mask pixels are triangle pixels
    const int cls = 3;
    int hits = 0;
    for (int y = 0; y < 64; y++)
        for (int x = 0; x < 64; x++)
        {
            int best = 0;
            for (int c = 1; c < 5; c++)
                if (logits.ptr<float>(0, c, y)[x] > logits.ptr<float>(0, best, y)[x])
                    best = c;
            hits += mask.at<uchar>(y, x) && best == cls;
        }
    EXPECT_GT(hits, 0.9 * countNonZero(mask));
    // pytorch-grad-cam's SemanticSegmentationTarget: the sum of class-3 logits over the mask
    Mat seed(std::vector<int>{1, 5, 64, 64}, CV_32F, Scalar(0));
    Mat(64, 64, CV_32F, seed.ptr<float>(0, cls)).setTo(1.f, mask);
    std::vector<Mat> maps;
    cam->computeFromGradient("logits", seed, maps);
    ASSERT_EQ(maps.size(), 1u);
    EXPECT_EQ(maps[0].size(), Size(8, 8));
    EXPECT_GT(cv::norm(maps[0], NORM_INF), 0);
    EXPECT_TRUE(pointingGame(maps[0], mask)) << "Grad-CAM maximum outside the mask:\n" << maps[0];
    // the same map through the HiResCAM variant points there too
    cam->setMethod(CAM_HIRESCAM);
    cam->computeFromGradient("logits", seed, maps);
    EXPECT_TRUE(pointingGame(maps[0], mask)) << maps[0];
}

TEST(TaskModels, DetectionCellTargetPointsAtTheCell)
{
    dnn::Net net = readTaskModel("detection");
    Ptr<GradCAM> cam = GradCAM::create(net, "onnx_node!/conv4_relu/Relu", "raw");
    cam->forward(taskBlob("detection.png"));
    Mat raw = cam->getBackprop()->getActivation("raw");
    ASSERT_EQ(dnn::shape(raw), explain::MatShape({1, 9, 8, 8}));
    // the detection: the cell of highest objectness, its top class
    const Point cell = argMax(Mat(8, 8, CV_32F, raw.ptr<float>(0, 0)));
    EXPECT_GT(raw.ptr<float>(0, 0, cell.y)[cell.x], 0.f) << "objectness below 0.5";
    int cls = 0;
    for (int k = 1; k < 4; k++)
        if (raw.ptr<float>(0, 5 + k, cell.y)[cell.x] > raw.ptr<float>(0, 5 + cls, cell.y)[cell.x])
            cls = k;
    EXPECT_EQ(cls, 3) << "the bundled detection image shows a cross";
    // decoded box (x0, y0, x1, y1) = the object's, (3, 2)-(25, 24), within 4 pixels
    auto sig = [&](int v) { return 1.0 / (1.0 + std::exp(-raw.ptr<float>(0, v, cell.y)[cell.x])); };
    const double cx = 8 * (cell.x + sig(1)), cy = 8 * (cell.y + sig(2)), w = 64 * sig(3), h = 64 * sig(4);
    EXPECT_NEAR(cx - w / 2, 3, 4);
    EXPECT_NEAR(cy - h / 2, 2, 4);
    EXPECT_NEAR(cx + w / 2, 25, 4);
    EXPECT_NEAR(cy + h / 2, 24, 4);

    Mat seed(std::vector<int>{1, 9, 8, 8}, CV_32F, Scalar(0));
    seed.ptr<float>(0, 5 + cls, cell.y)[cell.x] = 1.f;
    std::vector<Mat> maps;
    cam->computeFromGradient("raw", seed, maps);
    ASSERT_EQ(maps[0].size(), Size(8, 8));
    const Point peak = argMax(maps[0]);
    EXPECT_LE(std::max(std::abs(peak.x - cell.x), std::abs(peak.y - cell.y)), 1)
        << "Grad-CAM peak " << peak << ", detection cell " << cell << "\n" << maps[0];
    // the guided input gradient of the same target is finite and lies mostly around the cell
    Mat guided;
    cam->inputGradientFromGradient("raw", seed, guided, RECTIFIER_GUIDED);
    ASSERT_TRUE(checkRange(guided));
    Mat sal;
    gradientToSaliency(guided, sal);
    const Rect near(std::max(0, 8 * cell.x - 12), std::max(0, 8 * cell.y - 12), 32, 32);
    EXPECT_GT(sum(sal(near & Rect(0, 0, 64, 64)))[0], 0.5 * sum(sal)[0]);
}

TEST(TaskModels, MultiInputAnswerFollowsTheQuestion)
{
    dnn::Net net = readTaskModel("vqa");
    Mat image = taskBlob("vqa.png");
    Ptr<GradCAM> cam = GradCAM::create(net, "onnx_node!/conv4_relu/Relu", "answer");
    const char* shapes[] = {"circle", "square", "triangle", "cross"};
    for (int q = 0; q < 4; q++)
    {
        Mat question(1, 4, CV_32F, Scalar(0));
        question.at<float>(q) = 1.f;
        Mat scores;
        cam->forwardInputs(std::vector<Mat>{image, question}, {"image", "question"}, scores);
        ASSERT_EQ(scores.size(), Size(2, 1));
        // "is there a <shape>?": yes (1) only for the square in vqa.png
        const int answer = scores.at<float>(0, 1) > scores.at<float>(0, 0) ? 1 : 0;
        EXPECT_EQ(answer, q == 1 ? 1 : 0) << shapes[q] << ": " << scores;
        Mat g;
        cam->inputGradient(1, g, RECTIFIER_EXACT);  // d(yes)/d(image), the question held fixed
        EXPECT_EQ(dnn::shape(g), dnn::shape(image));
        EXPECT_TRUE(checkRange(g)) << shapes[q];
        EXPECT_GT(cv::norm(g, NORM_INF), 0) << shapes[q];
        std::vector<Mat> maps;
        cam->compute(1, maps);
        EXPECT_TRUE(checkRange(maps[0]));
    }
    // the question is differentiable too (by its input name)
    std::vector<Mat> grads;
    cam->getBackprop()->backward({"answer"}, {Mat((Mat_<float>(1, 2) << 0, 1))}, {"question"}, grads);
    EXPECT_GT(cv::norm(grads[0], NORM_INF), 0);
}

/** The numerical gradient check of each model's own target (as the sample seeds it): the mask sum of
    class-3 logits, the detected cell's class logit and the "yes" logit. Trained nets are far from
    linear over the step (ReLU and max-pool switches within a few 1e-3 that the kink test does not
    always catch): the central differences approach our gradient as the step shrinks, until float32
    noise takes over below about 3e-4; at h = 1e-3 the largest error over 40 points was 2.2e-2
    (segmentation), 0.9e-2 (detection) and 2.1e-2 (vqa), hence the tolerance of 5e-2. */
TEST(TaskModels, GradientCheck)
{
    Mat maskSeed(std::vector<int>{1, 5, 64, 64}, CV_32F, Scalar(0));
    Mat(64, 64, CV_32F, maskSeed.ptr<float>(0, 3)).setTo(1.f, imread(kTasks + "segmentation_mask.png", IMREAD_GRAYSCALE));
    Mat cellSeed(std::vector<int>{1, 9, 8, 8}, CV_32F, Scalar(0));
    cellSeed.ptr<float>(0, 5 + 3, 1)[1] = 1.f;  // class 3 (cross) of cell (1, 1), the detection
    Mat yesSeed = (Mat_<float>(1, 2) << 0.f, 1.f);
    Mat question(1, 4, CV_32F, Scalar(0));
    question.at<float>(1) = 1.f;
    Mat wordSeed(std::vector<int>{5, 1, 7}, CV_32F, Scalar(0));
    wordSeed.ptr<float>(3)[1] = 1.f;  // the caption's fourth word, "circle"
    Mat words;
    FileStorage(kTasks + "caption_words.yml", FileStorage::READ)["words"] >> words;
    struct Case { const char* model; const char* png; const char* output; Mat seed; Mat second; const char* name; };
    for (const Case& c : {Case{"segmentation", "segmentation.png", "logits", maskSeed, Mat(), ""},
                          Case{"detection", "detection.png", "raw", cellSeed, Mat(), ""},
                          Case{"vqa", "vqa.png", "answer", yesSeed, question, "question"},
                          Case{"caption", "caption.png", "logprobs", wordSeed, words, "words"}})
    {
        SCOPED_TRACE(c.model);
        dnn::Net net = readTaskModel(c.model);
        const bool twoInputs = !c.second.empty();
        GradientCheckResult res = checkInputGradient(net, taskBlob(c.png), c.output, 0x7a5c, 1e-3, 40, c.seed,
                                                     twoInputs ? std::vector<Mat>{c.second} : std::vector<Mat>(),
                                                     twoInputs ? std::vector<String>{"image", c.name} : std::vector<String>());
        EXPECT_GE(res.checked, 30) << "kinks: " << res.kinks;
        EXPECT_LE(res.maxError, 5e-2);
    }
}

/** The captioner (paper's captioning section): Grad-CAM for each word of the bundled image's caption, the
    word's log-probability with the caption fed word by word (teacher forcing), through the LSTM back to
    the last convolution. Equals float64 autograd's map (tools/train_caption_model.py writes it); the map of
    the left shape's word peaks in the left half (on the triangle), the right shape's in the right half. */
TEST(TaskModels, CaptionWordGradCAMMatchesAutograd)
{
    dnn::Net net = readTaskModel("caption");
    FileStorage fs(kTasks + "caption_words.yml", FileStorage::READ);
    Mat words;
    fs["words"] >> words;
    ASSERT_EQ(words.size(), Size(7, 4));
    FileStorage ref(kTasks + "caption_gradcam.yml", FileStorage::READ);
    ASSERT_TRUE(ref.isOpened());
    Ptr<GradCAM> cam = GradCAM::create(net, "onnx_node!/conv3_relu/Relu", "logprobs");
    cam->forwardInputs(std::vector<Mat>{taskBlob("caption.png"), words}, {"image", "words"});
    const Mat logprobs = cam->getBackprop()->getActivation("logprobs");
    ASSERT_EQ(dnn::shape(logprobs), explain::MatShape({5, 1, 7}));
    for (int t = 0; t < 5; t++)
    {
        SCOPED_TRACE(cv::format("word %d", t));
        const int word = t < 4 ? argMax(words.row(t)).x : 0;  // the caption ends with <end>
        EXPECT_GT(logprobs.ptr<float>(t)[word], std::log(0.9f)) << "the model does not say this caption";
        Mat seed(std::vector<int>{5, 1, 7}, CV_32F, Scalar(0));
        seed.ptr<float>(t)[word] = 1.f;
        std::vector<Mat> maps;
        cam->computeFromGradient("logprobs", seed, maps);
        Mat expected;
        ref[cv::format("gradcam_%d", t)] >> expected;
        ASSERT_EQ(maps.size(), 1u);
        ASSERT_EQ(maps[0].size(), expected.size());
        expected.convertTo(expected, CV_32F);
        EXPECT_LE(cv::norm(maps[0], expected, NORM_L2), 1e-4 * std::max(cv::norm(expected, NORM_L2), 1e-12));
        if (t == 0 || t == 3)  // the shape words peak on their shape: the triangle left, the circle right
        {
            const Point peak = argMax(maps[0]);
            EXPECT_EQ(peak.x < 8, t == 0) << "peak at " << peak;
        }
    }
}

}} // namespace
