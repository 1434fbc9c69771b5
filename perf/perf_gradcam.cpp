// Cost of the explanation methods relative to the plain cv::dnn forward pass, on ResNet-50 and
// MobileNetV2 (1x3x224x224, and batch 8 for the forward pass and Grad-CAM).
//
// Models: EXPLAIN_PERF_MODELS=DIR with DIR/resnet50.onnx and DIR/mobilenet_v2.onnx (scripts/perf.sh
// exports them with tools/make_references.py); the tests are skipped when they are absent.
// After the run a table gives each method's median time and its ratio to the plain forward pass of
// the same model and batch measured in the same run.
#include "perf_framework.hpp"

#include <opencv2/explain/gradcam.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <tuple>

namespace {

using namespace cv;
using namespace cv::explain;

typedef std::tuple<std::string, int> ModelBatch;  // model name, batch size
typedef perf::TestBaseWithParam<ModelBatch> Explain;

#define MODELS testing::Values(std::string("resnet50"), std::string("mobilenet_v2"))

std::string modelPath(const std::string& model)
{
    const char* dir = std::getenv("EXPLAIN_PERF_MODELS");
    if (!dir || !*dir)
        return std::string();
    std::string path = std::string(dir) + "/" + model + ".onnx";
    return std::ifstream(path).good() ? path : std::string();
}

// Loads a fresh Net per test (switching one Net between plain and all-layer forward passes would
// re-plan it each time) and fills a fixed pseudo-random input blob.
#define LOAD_MODEL_OR_SKIP(method)                                                                     \
    const std::string model = std::get<0>(GetParam());                                                 \
    const int batch = std::get<1>(GetParam());                                                         \
    const std::string path = modelPath(model);                                                         \
    if (path.empty())                                                                                  \
        GTEST_SKIP() << "model " << model << ".onnx not found: set EXPLAIN_PERF_MODELS to a directory " \
                     << "with resnet50.onnx and mobilenet_v2.onnx (scripts/perf.sh makes them)";       \
    dnn::Net net = dnn::readNet(path);                                                                 \
    Mat blob(std::vector<int>{batch, 3, 224, 224}, CV_32F);                                            \
    {                                                                                                  \
        RNG rng(0x5eed);                                                                               \
        rng.fill(blob, RNG::NORMAL, 0., 1.);                                                           \
    }                                                                                                  \
    tag("method", method);                                                                             \
    tag("model", model);                                                                               \
    tag("batch", std::to_string(batch))

PERF_TEST_P(Explain, dnn_forward, testing::Combine(MODELS, testing::Values(1, 8)))
{
    LOAD_MODEL_OR_SKIP("dnn forward");
    Mat out;
    TEST_CYCLE()
    {
        net.setInput(blob);
        out = net.forward();
    }
    ASSERT_EQ(out.total(), (size_t)batch * 1000);
    SANITY_CHECK_NOTHING();
}

// The Backprop forward pass alone: all layer outputs requested and copied.
PERF_TEST_P(Explain, cam_forward, testing::Combine(MODELS, testing::Values(1)))
{
    LOAD_MODEL_OR_SKIP("GradCAM::forward only");
    Ptr<GradCAM> cam = GradCAM::create(net);
    TEST_CYCLE()
    {
        cam->forward(blob);
    }
    ASSERT_EQ(cam->getScores().rows, batch);
    SANITY_CHECK_NOTHING();
}

PERF_TEST_P(Explain, gradcam, testing::Combine(MODELS, testing::Values(1, 8)))
{
    LOAD_MODEL_OR_SKIP("Grad-CAM");
    Ptr<GradCAM> cam = GradCAM::create(net);
    std::vector<Mat> maps;
    TEST_CYCLE()
    {
        cam->forward(blob);
        cam->compute(-1, maps);
    }
    ASSERT_EQ((int)maps.size(), batch);
    SANITY_CHECK_NOTHING();
}

PERF_TEST_P(Explain, gradcam_top5, testing::Combine(MODELS, testing::Values(1)))
{
    LOAD_MODEL_OR_SKIP("Grad-CAM top-5");
    Ptr<GradCAM> cam = GradCAM::create(net);
    std::vector<std::vector<Mat> > maps(5);
    TEST_CYCLE()
    {
        Mat scores;
        cam->forward(blob, scores);
        Mat order;
        sortIdx(scores.row(0), order, SORT_EVERY_ROW | SORT_DESCENDING);
        for (int k = 0; k < 5; k++)
            cam->compute(order.at<int>(0, k), maps[k]);
    }
    ASSERT_EQ((int)maps[4].size(), batch);
    SANITY_CHECK_NOTHING();
}

PERF_TEST_P(Explain, guided_backprop, testing::Combine(MODELS, testing::Values(1)))
{
    LOAD_MODEL_OR_SKIP("guided backprop");
    Ptr<GradCAM> cam = GradCAM::create(net);
    Mat g;
    TEST_CYCLE()
    {
        cam->forward(blob);
        cam->inputGradient(-1, g, RECTIFIER_GUIDED);
    }
    ASSERT_EQ(g.total(), blob.total());
    SANITY_CHECK_NOTHING();
}

PERF_TEST_P(Explain, guided_gradcam, testing::Combine(MODELS, testing::Values(1)))
{
    LOAD_MODEL_OR_SKIP("Guided Grad-CAM");
    Ptr<GradCAM> cam = GradCAM::create(net);
    Mat dst;
    TEST_CYCLE()
    {
        cam->forward(blob);
        cam->guidedGradCAM(-1, dst);
    }
    ASSERT_EQ(dst.total(), blob.total());
    SANITY_CHECK_NOTHING();
}

// The ratio table, printed once all tests have run.
class RatioTable : public ::testing::Environment
{
public:
    void TearDown() override
    {
        const std::vector<perf::Record>& recs = perf::records();
        if (recs.empty())
        {
            std::printf("\nexplain perf: no measurements (models missing? see EXPLAIN_PERF_MODELS)\n");
            return;
        }
        auto key = [](const perf::Record& r) { return r.tags.at("model") + "/" + r.tags.at("batch"); };
        auto medianMs = [](const perf::Record& r) { return r.metrics.ms(r.metrics.median); };
        std::map<std::string, double> base;  // model/batch -> plain forward median (ms)
        std::map<std::string, double> byMethod;  // method|model|batch -> median (ms)
        for (const perf::Record& r : recs)
        {
            if (!r.tags.count("method"))
                continue;
            if (r.tags.at("method") == "dnn forward")
                base[key(r)] = medianMs(r);
            byMethod[r.tags.at("method") + "|" + key(r)] = medianMs(r);
        }
        std::printf("\nexplain perf summary (cv::getNumThreads() = %d; medians; ratio = method / plain cv::dnn "
                    "forward of the same model and batch, same run)\n", getNumThreads());
        std::printf("%-24s %-13s %5s %12s %14s %10s\n", "method", "model", "batch", "median ms", "ms per image",
                    "x forward");
        std::printf("%s\n", std::string(83, '-').c_str());
        std::vector<std::string> models;
        for (const perf::Record& r : recs)
            if (r.tags.count("model") && std::find(models.begin(), models.end(), r.tags.at("model")) == models.end())
                models.push_back(r.tags.at("model"));
        for (const std::string& model : models)
        {
            // forward first, then the methods in run order, batch 1 before batch 8
            for (int pass = 0; pass < 2; pass++)
                for (const perf::Record& r : recs)
                {
                    if (!r.tags.count("method") || r.tags.at("model") != model)
                        continue;
                    const bool isBase = r.tags.at("method") == "dnn forward";
                    if ((pass == 0) != isBase)
                        continue;
                    const int batch = std::atoi(r.tags.at("batch").c_str());
                    const double ms = medianMs(r);
                    auto b = base.find(key(r));
                    std::string ratio = b != base.end() && b->second > 0 ? format("%.2f", ms / b->second) : "n/a";
                    std::printf("%-24s %-13s %5d %12.1f %14.1f %10s\n", r.tags.at("method").c_str(), model.c_str(),
                                batch, ms, ms / batch, ratio.c_str());
                }
        }
        // batch 8 vs batch 1, per image
        bool header = false;
        for (const std::string& model : models)
            for (const char* method : {"dnn forward", "Grad-CAM"})
            {
                auto one = byMethod.find(std::string(method) + "|" + model + "/1");
                auto eight = byMethod.find(std::string(method) + "|" + model + "/8");
                if (one == byMethod.end() || eight == byMethod.end() || one->second <= 0)
                    continue;
                if (!header)
                    std::printf("\nper-image cost, batch 8 / batch 1:\n");
                header = true;
                std::printf("  %-12s %-13s %.2f  (%.1f ms/image at batch 8, %.1f at batch 1)\n", method,
                            model.c_str(), eight->second / 8 / one->second, eight->second / 8, one->second);
            }
        std::printf("\n");
        std::fflush(stdout);
    }
};

::testing::Environment* const ratioTable = ::testing::AddGlobalTestEnvironment(new RatioTable);

} // namespace
