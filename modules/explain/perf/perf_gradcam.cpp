// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// Cost of the explanation methods relative to the plain cv::dnn forward pass, on ResNet-50 and
// MobileNetV2 (1x3x224x224, and batch 8 for the forward pass, Grad-CAM, guided backprop and Guided
// Grad-CAM), on the CPU and, where OpenCL is in use, with the Net on DNN_TARGET_OPENCL and the results
// kept on the device (UMat).
//
// Models: EXPLAIN_PERF_MODELS=DIR with DIR/resnet50.onnx and DIR/mobilenet_v2.onnx (scripts/perf.sh
// exports them with tools/make_references.py); the tests are skipped when they are absent.
// OpenCL cases ("ocl"): skipped without an OpenCL device; cv::dnn runs its OpenCL target only on
// Intel GPUs unless OPENCV_DNN_OPENCL_ALLOW_ALL_DEVICES=1 (scripts/perf.sh sets it); on a machine
// without a GPU, OPENCV_OPENCL_DEVICE=:CPU: runs them on PoCL (timings for the record only).
// EXPLAIN_PERF_TARGET=ocl (or cpu) runs only the cases of that target.
// After the run a table gives each method's median time and its ratio to the plain forward pass of
// the same model, batch and target measured in the same run.
#include "perf_framework.hpp"

#include <opencv2/core/ocl.hpp>
#include <opencv2/explain/gradcam.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <tuple>

namespace opencv_test { namespace {

using namespace cv;
using namespace cv::explain;

typedef std::tuple<std::string, int, std::string> ModelBatchTarget;  // model, batch size, "cpu"/"ocl"
typedef perf::TestBaseWithParam<ModelBatchTarget> Explain;

/** Both models at these batch sizes on the CPU, and at batch 1 on OpenCL. */
std::vector<ModelBatchTarget> cases(std::vector<int> cpuBatches)
{
    std::vector<ModelBatchTarget> v;
    for (const char* target : {"cpu", "ocl"})
        for (const char* model : {"resnet50", "mobilenet_v2"})
            for (int batch : cpuBatches)
                if (std::string(target) == "cpu" || batch == 1)
                    v.push_back(ModelBatchTarget(model, batch, target));
    return v;
}
#define CASES(...) testing::ValuesIn(cases({__VA_ARGS__}))

/** EXPLAIN_PERF_TARGET=cpu or =ocl runs only that target's cases (unset: both). */
bool targetSelected(const std::string& target)
{
    const char* only = std::getenv("EXPLAIN_PERF_TARGET");
    return !only || !*only || target == only;
}

std::string modelPath(const std::string& model)
{
    const char* dir = std::getenv("EXPLAIN_PERF_MODELS");
    if (!dir || !*dir)
        return std::string();
    std::string path = std::string(dir) + "/" + model + ".onnx";
    return std::ifstream(path).good() ? path : std::string();
}

/** After a warm-up forward pass: whether cv::dnn really runs the Net's layers on OpenCL (it falls
    back to the CPU target on devices it does not allow). */
bool runsOnOpenCL(dnn::Net& net, const Mat& blob)
{
    net.setInput(blob);
    net.forward();
    for (const String& name : net.getLayerNames())
        if (net.getLayer(name)->preferableTarget == dnn::DNN_TARGET_OPENCL)
            return true;
    return false;
}

/** The fixed pseudo-random input of every case: batch x 3 x 224 x 224. */
Mat fixedBlob(int batch)
{
    Mat blob(std::vector<int>{batch, 3, 224, 224}, CV_32F);
    RNG rng(0x5eed);
    rng.fill(blob, RNG::NORMAL, 0., 1.);
    return blob;
}

// Loads a fresh Net per test (switching one Net between plain and all-layer forward passes would
// re-plan it each time) and fills a fixed pseudo-random input blob. `ocl`: the OpenCL case, whose
// cycles end with cv::ocl::finish() (OpenCL calls return before the device is done).
#define LOAD_MODEL_OR_SKIP(method)                                                                     \
    const std::string model = std::get<0>(GetParam());                                                 \
    const int batch = std::get<1>(GetParam());                                                         \
    const bool ocl = std::get<2>(GetParam()) == "ocl";                                                 \
    if (!targetSelected(std::get<2>(GetParam())))                                                      \
        GTEST_SKIP() << "EXPLAIN_PERF_TARGET=" << std::getenv("EXPLAIN_PERF_TARGET");                  \
    const std::string path = modelPath(model);                                                         \
    if (path.empty())                                                                                  \
        GTEST_SKIP() << "model " << model << ".onnx not found: set EXPLAIN_PERF_MODELS to a directory " \
                     << "with resnet50.onnx and mobilenet_v2.onnx (scripts/perf.sh makes them)";       \
    if (ocl && !ocl::useOpenCL())                                                                      \
        GTEST_SKIP() << "no OpenCL device in use (without a GPU: OPENCV_OPENCL_DEVICE=:CPU: for PoCL)"; \
    dnn::Net net = cv::explain::readNet(path);                                                                 \
    const Mat blob = fixedBlob(batch);                                                                 \
    if (ocl)                                                                                           \
    {                                                                                                  \
        net.setPreferableTarget(dnn::DNN_TARGET_OPENCL);                                               \
        if (!runsOnOpenCL(net, blob))                                                                  \
            GTEST_SKIP() << "cv::dnn fell back to its CPU target on this OpenCL device "               \
                         << "(set OPENCV_DNN_OPENCL_ALLOW_ALL_DEVICES=1)";                             \
    }                                                                                                  \
    tag("method", method);                                                                             \
    tag("model", ocl ? model + " ocl" : model);                                                        \
    tag("batch", std::to_string(batch))

/** Waits for the OpenCL queue in OpenCL cases (a no-op on the CPU). */
void finishCycle(bool ocl)
{
    if (ocl)
        ocl::finish();
}

PERF_TEST_P(Explain, dnn_forward, CASES(1, 8))
{
    LOAD_MODEL_OR_SKIP("dnn forward");
    Mat out;
    UMat deviceOut;
    TEST_CYCLE()
    {
        net.setInput(blob);
        if (ocl)
            net.forward(deviceOut);  // the scores stay on the device, like the explanations below
        else
            out = net.forward();
        finishCycle(ocl);
    }
    ASSERT_EQ(ocl ? deviceOut.total() : out.total(), (size_t)batch * 1000);
    SANITY_CHECK_NOTHING();
}

// The GradCAM forward pass alone: the outputs between the target layer and the scores requested.
PERF_TEST_P(Explain, cam_forward, CASES(1))
{
    LOAD_MODEL_OR_SKIP("GradCAM::forward only");
    Ptr<GradCAM> cam = GradCAM::create(net);
    TEST_CYCLE()
    {
        cam->forward(blob);
        finishCycle(ocl);
    }
    ASSERT_EQ(cam->getScores().rows, batch);
    SANITY_CHECK_NOTHING();
}

PERF_TEST_P(Explain, gradcam, CASES(1, 8))
{
    LOAD_MODEL_OR_SKIP("Grad-CAM");
    Ptr<GradCAM> cam = GradCAM::create(net);
    std::vector<Mat> maps;
    std::vector<UMat> deviceMaps;
    TEST_CYCLE()
    {
        cam->forward(blob);
        if (ocl)
            cam->compute(-1, deviceMaps);
        else
            cam->compute(-1, maps);
        finishCycle(ocl);
    }
    ASSERT_EQ((int)(ocl ? deviceMaps.size() : maps.size()), batch);
    SANITY_CHECK_NOTHING();
}

PERF_TEST_P(Explain, gradcam_top5, CASES(1))
{
    LOAD_MODEL_OR_SKIP("Grad-CAM top-5");
    Ptr<GradCAM> cam = GradCAM::create(net);
    std::vector<std::vector<Mat> > maps(5);
    std::vector<std::vector<UMat> > deviceMaps(5);
    TEST_CYCLE()
    {
        Mat scores;
        cam->forward(blob, scores);
        Mat order;
        sortIdx(scores.row(0), order, SORT_EVERY_ROW | SORT_DESCENDING);
        for (int k = 0; k < 5; k++)
            if (ocl)
                cam->compute(order.at<int>(0, k), deviceMaps[k]);
            else
                cam->compute(order.at<int>(0, k), maps[k]);
        finishCycle(ocl);
    }
    ASSERT_EQ((int)(ocl ? deviceMaps[4].size() : maps[4].size()), batch);
    SANITY_CHECK_NOTHING();
}

PERF_TEST_P(Explain, guided_backprop, CASES(1, 8))
{
    LOAD_MODEL_OR_SKIP("guided backprop");
    Ptr<GradCAM> cam = GradCAM::create(net);
    Mat g;
    UMat deviceG;
    TEST_CYCLE()
    {
        cam->forward(blob);
        if (ocl)
            cam->inputGradient(-1, deviceG, RECTIFIER_GUIDED);
        else
            cam->inputGradient(-1, g, RECTIFIER_GUIDED);
        finishCycle(ocl);
    }
    ASSERT_EQ(ocl ? deviceG.total() : g.total(), blob.total());
    SANITY_CHECK_NOTHING();
}

/** A GradCAM on `net` whose plan keeps what guided backprop reads (one input gradient taken). */
Ptr<GradCAM> guidedPlannedCam(const dnn::Net& net, const Mat& blob)
{
    Ptr<GradCAM> cam = GradCAM::create(net);
    Mat g;
    cam->forward(blob);
    cam->inputGradient(-1, g, RECTIFIER_GUIDED);
    return cam;
}

// Guided backprop's forward pass alone: the outputs its rules read requested (on OpenCL, cv::dnn copies
// each to the host and back). Guided backprop's time less this one is its backward pass.
PERF_TEST_P(Explain, guided_forward, CASES(1))
{
    LOAD_MODEL_OR_SKIP("guided forward only");
    Ptr<GradCAM> cam = guidedPlannedCam(net, blob);
    TEST_CYCLE()
    {
        cam->forward(blob);
        finishCycle(ocl);
    }
    ASSERT_EQ(cam->getScores().rows, batch);
    SANITY_CHECK_NOTHING();
}

/** The layers whose outputs guided backprop's plan keeps (those the Backprop gives after an input gradient). */
std::vector<String> guidedPlanOutputs(const dnn::Net& net, const Mat& blob)
{
    Ptr<GradCAM> cam = guidedPlannedCam(net, blob);
    cam->forward(blob);
    Ptr<Backprop> bp = cam->getBackprop();
    std::vector<String> kept;
    for (const String& name : bp->getLayerNames())
    {
        try
        {
            bp->getActivation(name);
            kept.push_back(name);
        }
        catch (const cv::Exception&)
        {
            // not kept by the plan
        }
    }
    return kept;
}

/** One cv::dnn forward pass requesting `names`, into host Mats or UMats (a timed cycle). */
template <typename Outputs>
void forwardRequesting(dnn::Net& net, const Mat& blob, const std::vector<String>& names, Outputs& outs, bool ocl)
{
    net.setInput(blob);
    net.forward(outs, names);
    finishCycle(ocl);
}

// cv::dnn alone, with the outputs guided backprop's plan keeps requested: as host Mats (on OpenCL, each is
// copied to the host) and as UMats (copied to the host and back, what the device path gets)
PERF_TEST_P(Explain, dnn_forward_guided_outputs, CASES(1))
{
    LOAD_MODEL_OR_SKIP("fwd, guided outs: Mat");
    const std::vector<String> names = guidedPlanOutputs(net, blob);
    std::vector<std::vector<Mat> > outs;
    TEST_CYCLE() forwardRequesting(net, blob, names, outs, ocl);
    ASSERT_EQ(outs.size(), names.size());
    SANITY_CHECK_NOTHING();
}

PERF_TEST_P(Explain, dnn_forward_guided_outputs_umat, CASES(1))
{
    LOAD_MODEL_OR_SKIP("fwd, guided outs: UMat");
    if (!ocl)
        GTEST_SKIP() << "the OpenCL cases only";
    const std::vector<String> names = guidedPlanOutputs(net, blob);
    std::vector<UMat> outs;
    TEST_CYCLE() forwardRequesting(net, blob, names, outs, ocl);
    ASSERT_EQ(outs.size(), names.size());
    SANITY_CHECK_NOTHING();
}

PERF_TEST_P(Explain, guided_gradcam, CASES(1, 8))
{
    LOAD_MODEL_OR_SKIP("Guided Grad-CAM");
    Ptr<GradCAM> cam = GradCAM::create(net);
    Mat dst;
    UMat deviceDst;
    TEST_CYCLE()
    {
        cam->forward(blob);
        if (ocl)
            cam->guidedGradCAM(-1, deviceDst);
        else
            cam->guidedGradCAM(-1, dst);
        finishCycle(ocl);
    }
    ASSERT_EQ(ocl ? deviceDst.total() : dst.total(), blob.total());
    SANITY_CHECK_NOTHING();
}

// OpenCV 5's new engine (cv::dnn::readNet's default): its forward pass, and Grad-CAM on such a Net (the
// explainer runs the Net's program layer by layer, keeping every output). Rows "<model> new engine", so
// that Grad-CAM divides by the new engine's own forward pass.
typedef perf::TestBaseWithParam<std::tuple<std::string, int> > ExplainNewEngine;
#define NEW_ENGINE_CASES testing::Combine(testing::Values("resnet50", "mobilenet_v2"), testing::Values(1, 8))

#define LOAD_NEW_ENGINE_MODEL_OR_SKIP(method)                                                          \
    const std::string model = std::get<0>(GetParam());                                                 \
    const int batch = std::get<1>(GetParam());                                                         \
    const std::string path = modelPath(model);                                                         \
    if (CV_VERSION_MAJOR < 5)                                                                          \
        GTEST_SKIP() << "OpenCV " CV_VERSION " has no new DNN engine";                                \
    if (path.empty())                                                                                  \
        GTEST_SKIP() << "model " << model << ".onnx not found: set EXPLAIN_PERF_MODELS";               \
    dnn::Net net = dnn::readNet(path);                                                                 \
    const Mat blob = fixedBlob(batch);                                                                 \
    tag("method", method);                                                                             \
    tag("model", model + " new engine");                                                               \
    tag("batch", std::to_string(batch))

PERF_TEST_P(ExplainNewEngine, dnn_forward, NEW_ENGINE_CASES)
{
    LOAD_NEW_ENGINE_MODEL_OR_SKIP("dnn forward");
    Mat out;
    TEST_CYCLE()
    {
        net.setInput(blob);
        out = net.forward();
    }
    ASSERT_EQ(out.total(), (size_t)batch * 1000);
    SANITY_CHECK_NOTHING();
}

PERF_TEST_P(ExplainNewEngine, gradcam, NEW_ENGINE_CASES)
{
    LOAD_NEW_ENGINE_MODEL_OR_SKIP("Grad-CAM");
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

// The ratio table, printed once at the end of the program. With --gtest_repeat, each row takes the
// smallest median (and smallest min) over the iterations: on a shared machine that is the least
// disturbed measurement.
struct RatioRow
{
    std::string method, model;
    int batch = 1, runs = 0;
    double median = 0, min = 0;  // ms
};

/** One row per (method, model, batch), in run order. */
std::vector<RatioRow> collectRatioRows()
{
    std::vector<RatioRow> rows;
    for (const perf::Record& r : perf::records())
    {
        if (!r.tags.count("method") || !r.tags.count("model") || !r.tags.count("batch"))
            continue;
        RatioRow x;
        x.method = r.tags.at("method");
        x.model = r.tags.at("model");
        x.batch = std::atoi(r.tags.at("batch").c_str());
        x.runs = 1;
        x.median = r.metrics.ms(r.metrics.median);
        x.min = r.metrics.ms(r.metrics.min);
        auto it = std::find_if(rows.begin(), rows.end(), [&](const RatioRow& y) {
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
    return rows;
}

const RatioRow* findRow(const std::vector<RatioRow>& rows, const std::string& method, const std::string& model, int batch)
{
    for (const RatioRow& y : rows)
        if (y.method == method && y.model == model && y.batch == batch)
            return &y;
    return nullptr;
}

void printRatios(const std::vector<RatioRow>& rows, const std::vector<std::string>& models)
{
    auto ratio = [](double a, double b) { return b > 0 ? format("%.2f", a / b) : std::string("n/a"); };
    std::printf("\nexplain perf summary: %d thread(s); x forward = time / plain cv::dnn forward of the same model "
                "and batch in this run\n", getNumThreads());
    if (ocl::useOpenCL())
        std::printf("OpenCL device (\"ocl\" rows): %s, %s, OpenCL C %s\n", ocl::Device::getDefault().name().c_str(),
                    ocl::Device::getDefault().vendorName().c_str(), ocl::Device::getDefault().OpenCL_C_Version().c_str());
    std::printf("%-22s %-17s %5s %10s %10s %11s %10s %10s\n", "method", "model", "batch", "median ms", "min ms",
                "median/img", "x forward", "(by min)");
    std::printf("%s\n", std::string(102, '-').c_str());
    for (const std::string& model : models)
        for (int pass = 0; pass < 2; pass++)  // the plain forward first
            for (const RatioRow& x : rows)
            {
                if (x.model != model || (pass == 0) != (x.method == "dnn forward"))
                    continue;
                const RatioRow* base = findRow(rows, "dnn forward", x.model, x.batch);
                std::printf("%-22s %-17s %5d %10.1f %10.1f %11.1f %10s %10s\n", x.method.c_str(), x.model.c_str(),
                            x.batch, x.median, x.min, x.median / x.batch,
                            base ? ratio(x.median, base->median).c_str() : "n/a",
                            base ? ratio(x.min, base->min).c_str() : "n/a");
            }
}

void printBatchScaling(const std::vector<RatioRow>& rows, const std::vector<std::string>& models)
{
    bool header = false;
    for (const std::string& model : models)
        for (const char* method : {"dnn forward", "Grad-CAM", "guided backprop", "Guided Grad-CAM"})
        {
            const RatioRow* one = findRow(rows, method, model, 1);
            const RatioRow* eight = findRow(rows, method, model, 8);
            if (!one || !eight || one->median <= 0)
                continue;
            if (!header)
                std::printf("\nper-image time, batch 8 / batch 1 (medians):\n");
            header = true;
            std::printf("  %-16s %-17s %.2f  (%.1f ms/image at batch 8, %.1f at batch 1)\n", method, model.c_str(),
                        eight->median / 8 / one->median, eight->median / 8, one->median);
        }
}

class RatioTable : public ::testing::EmptyTestEventListener
{
public:
    void OnTestProgramEnd(const ::testing::UnitTest&) override
    {
        const std::vector<RatioRow> rows = collectRatioRows();
        if (rows.empty())
        {
            std::printf("\nexplain perf: no measurements (models missing? see EXPLAIN_PERF_MODELS)\n");
            return;
        }
        std::vector<std::string> models;
        for (const RatioRow& x : rows)
            if (std::find(models.begin(), models.end(), x.model) == models.end())
                models.push_back(x.model);
        printRatios(rows, models);
        printBatchScaling(rows, models);
        if (rows.front().runs > 1)
            std::printf("(%d repeats: smallest median and min of each)\n", rows.front().runs);
        std::printf("\n");
        std::fflush(stdout);
    }
};

// gtest owns the listener
const bool ratioTableInstalled = (::testing::UnitTest::GetInstance()->listeners().Append(new RatioTable), true);

}} // namespace opencv_test
