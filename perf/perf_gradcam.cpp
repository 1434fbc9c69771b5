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

// The ratio table, printed once at the end of the program. With --gtest_repeat, each row takes the
// smallest median (and smallest min) over the iterations: on a shared machine that is the least
// disturbed measurement.
class RatioTable : public ::testing::EmptyTestEventListener
{
public:
    void OnTestProgramEnd(const ::testing::UnitTest&) override
    {
        struct Row
        {
            std::string method, model;
            int batch = 1, runs = 0;
            double median = 0, min = 0;  // ms
        };
        std::vector<Row> rows;  // in run order
        for (const perf::Record& r : perf::records())
        {
            if (!r.tags.count("method") || !r.tags.count("model") || !r.tags.count("batch"))
                continue;
            Row x;
            x.method = r.tags.at("method");
            x.model = r.tags.at("model");
            x.batch = std::atoi(r.tags.at("batch").c_str());
            x.runs = 1;
            x.median = r.metrics.ms(r.metrics.median);
            x.min = r.metrics.ms(r.metrics.min);
            auto it = std::find_if(rows.begin(), rows.end(), [&](const Row& y) {
                return y.method == x.method && y.model == x.model && y.batch == x.batch;
            });
            if (it == rows.end())
                rows.push_back(x);
            else
            {
                it->runs++;
                it->median = std::min(it->median, x.median);
                it->min = std::min(it->min, x.min);
            }
        }
        if (rows.empty())
        {
            std::printf("\nexplain perf: no measurements (models missing? see EXPLAIN_PERF_MODELS)\n");
            return;
        }
        auto find = [&](const std::string& method, const std::string& model, int batch) -> const Row* {
            for (const Row& y : rows)
                if (y.method == method && y.model == model && y.batch == batch)
                    return &y;
            return nullptr;
        };
        auto ratio = [](double a, double b) { return b > 0 ? format("%.2f", a / b) : std::string("n/a"); };
        std::vector<std::string> models;
        for (const Row& x : rows)
            if (std::find(models.begin(), models.end(), x.model) == models.end())
                models.push_back(x.model);

        std::printf("\nexplain perf summary: %d thread(s); x forward = time / plain cv::dnn forward of the same model "
                    "and batch in this run\n", getNumThreads());
        std::printf("%-22s %-13s %5s %10s %10s %11s %10s %10s\n", "method", "model", "batch", "median ms", "min ms",
                    "median/img", "x forward", "(by min)");
        std::printf("%s\n", std::string(98, '-').c_str());
        for (const std::string& model : models)
            for (int pass = 0; pass < 2; pass++)  // the plain forward first
                for (const Row& x : rows)
                {
                    if (x.model != model || (pass == 0) != (x.method == "dnn forward"))
                        continue;
                    const Row* base = find("dnn forward", x.model, x.batch);
                    std::printf("%-22s %-13s %5d %10.1f %10.1f %11.1f %10s %10s\n", x.method.c_str(), x.model.c_str(),
                                x.batch, x.median, x.min, x.median / x.batch,
                                base ? ratio(x.median, base->median).c_str() : "n/a",
                                base ? ratio(x.min, base->min).c_str() : "n/a");
                }
        bool header = false;
        for (const std::string& model : models)
            for (const char* method : {"dnn forward", "Grad-CAM"})
            {
                const Row* one = find(method, model, 1);
                const Row* eight = find(method, model, 8);
                if (!one || !eight || one->median <= 0)
                    continue;
                if (!header)
                    std::printf("\nper-image time, batch 8 / batch 1 (medians):\n");
                header = true;
                std::printf("  %-12s %-13s %.2f  (%.1f ms/image at batch 8, %.1f at batch 1)\n", method, model.c_str(),
                            eight->median / 8 / one->median, eight->median / 8, one->median);
            }
        if (rows.front().runs > 1)
            std::printf("(%d repeats: smallest median and min of each)\n", rows.front().runs);
        std::printf("\n");
        std::fflush(stdout);
    }
};

// gtest owns the listener
const bool ratioTableInstalled = (::testing::UnitTest::GetInstance()->listeners().Append(new RatioTable), true);

} // namespace
