// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// Scaling of time and peak memory with input size, batch size and number of classes: the plain
// cv::dnn forward pass, Grad-CAM and Guided Grad-CAM on ResNet-50 and MobileNetV2.
//
// The tests are DISABLED_ (slow: 896x896 and batch 16): scripts/perf_scaling.sh runs each case in a
// fresh process with --gtest_also_run_disabled_tests --gtest_filter='*Scaling.DISABLED_case/<name>'
// and builds the table and plot. Case names: <model>_<method>_s<size>_b<batch>_c<classes>, e.g.
// resnet50_gradcam_s448_b1_c1. Cases: size 224/448/896 (batch 1, 1 class), batch 4/16 (224, 1 class),
// classes 5/20 (224, batch 1; one forward + one compute()/guidedGradCAM() per class, the classes being
// image 0's top scores). The plain forward has no per-class work, so it runs only with 1 class.
//
// Memory, from /proc/self/status in this process (run one case per process for clean numbers):
// VmRSS before the model is read (rss0), the peak VmHWM while it is read (ONNX import: protobuf and
// weights), then the peak is reset (5 written to /proc/self/clear_refs, Linux >= 4.0), VmRSS with the
// model loaded (rss_loaded) and VmHWM after the warm-up and all samples (hwm_run). Printed increases:
//   total_kb = max(hwm_load, hwm_run) - rss0      the case's whole peak, model import included
//   run_kb   = hwm_run - rss_loaded               what running it adds to the loaded model (cv::dnn
//                                                 buffers and packed weights, kept activations,
//                                                 gradients, outputs)
// One line per test:
//   [  SCALING ] model=resnet50 method=gradcam size=224 batch=1 classes=1 median_ms=... min_ms=...
//                samples=... rss0_kb=... hwm_load_kb=... rss_loaded_kb=... hwm_run_kb=... total_kb=...
//                run_kb=... hwm_reset=1 threads=2
// Models: EXPLAIN_PERF_MODELS=DIR with DIR/<model>.onnx (as perf_gradcam.cpp).
#include "perf_framework.hpp"

#include <opencv2/explain/gradcam.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

namespace opencv_test { namespace {

using namespace cv;
using namespace cv::explain;

struct ScalingCase
{
    std::string model, method;
    int size = 224, batch = 1, classes = 1;

    std::string name() const
    {
        return model + "_" + method + "_s" + std::to_string(size) + "_b" + std::to_string(batch) + "_c" +
               std::to_string(classes);
    }
};

// gtest prints the value parameter with this (otherwise it would dump the bytes)
void PrintTo(const ScalingCase& c, std::ostream* os)
{
    *os << c.name();
}

std::vector<ScalingCase> scalingCases()
{
    std::vector<ScalingCase> cases;
    for (const char* model : {"resnet50", "mobilenet_v2"})
        for (const char* method : {"forward", "gradcam", "guided_gradcam"})
        {
            auto add = [&](int size, int batch, int classes) {
                if (classes > 1 && std::string(method) == "forward")
                    return;
                ScalingCase c;
                c.model = model;
                c.method = method;
                c.size = size;
                c.batch = batch;
                c.classes = classes;
                cases.push_back(c);
            };
            for (int size : {224, 448, 896})
                add(size, 1, 1);
            for (int batch : {4, 16})
                add(224, batch, 1);
            for (int classes : {5, 20})
                add(224, 1, classes);
        }
    return cases;
}

std::string scalingModelPath(const std::string& model)
{
    const char* dir = std::getenv("EXPLAIN_PERF_MODELS");
    if (!dir || !*dir)
        return std::string();
    std::string path = std::string(dir) + "/" + model + ".onnx";
    return std::ifstream(path).good() ? path : std::string();
}

/** A field of /proc/self/status in kB (VmRSS, VmHWM), -1 when unavailable. */
long statusKb(const char* field)
{
    std::ifstream in("/proc/self/status");
    std::string line;
    const std::string key = std::string(field) + ":";
    while (std::getline(in, line))
        if (line.compare(0, key.size(), key) == 0)
            return std::atol(line.c_str() + key.size());
    return -1;
}

/** Resets VmHWM to the current RSS (Linux >= 4.0); false when not allowed. */
bool resetPeakRss()
{
    std::ofstream out("/proc/self/clear_refs");
    if (!out)
        return false;
    out << "5" << std::flush;
    return out.good();
}

class Scaling : public perf::TestBaseWithParam<ScalingCase>
{
protected:
    void PerfTestBody() override;
};

TEST_P(Scaling, DISABLED_case)
{
    RunPerfTestBody();
}

INSTANTIATE_TEST_SUITE_P(Explain, Scaling, testing::ValuesIn(scalingCases()),
                         [](const testing::TestParamInfo<ScalingCase>& info) { return info.param.name(); });

void Scaling::PerfTestBody()
{
    const ScalingCase c = GetParam();
    const std::string path = scalingModelPath(c.model);
    if (path.empty())
        GTEST_SKIP() << "model " << c.model << ".onnx not found: set EXPLAIN_PERF_MODELS to a directory with it "
                     << "(scripts/perf_scaling.sh makes them)";
    bool reset = resetPeakRss();
    const long rss0 = statusKb("VmRSS");
    dnn::Net net = cv::explain::readNet(path);
    const long hwmLoad = statusKb("VmHWM");
    reset = resetPeakRss() && reset;
    const long rssLoaded = statusKb("VmRSS");

    Mat blob(std::vector<int>{c.batch, 3, c.size, c.size}, CV_32F);
    {
        RNG rng(0x5eed);
        rng.fill(blob, RNG::NORMAL, 0., 1.);
    }
    Mat out;
    if (c.method == "forward")
    {
        TEST_CYCLE()
        {
            net.setInput(blob);
            out = net.forward();
        }
        ASSERT_EQ(out.total(), (size_t)c.batch * 1000);
    }
    else
    {
        Ptr<GradCAM> cam = GradCAM::create(net);
        std::vector<Mat> maps;
        TEST_CYCLE()
        {
            Mat scores, order;
            cam->forward(blob, scores);
            sortIdx(scores.row(0), order, SORT_EVERY_ROW | SORT_DESCENDING);
            for (int k = 0; k < c.classes; k++)
            {
                if (c.method == "gradcam")
                    cam->compute(order.at<int>(0, k), maps);
                else
                    cam->guidedGradCAM(order.at<int>(0, k), out);
            }
        }
        if (c.method == "gradcam")
            ASSERT_EQ((int)maps.size(), c.batch);
        else
            ASSERT_EQ(out.total(), blob.total());
    }
    const long hwmRun = statusKb("VmHWM");
    tag("scaling_model", c.model);
    tag("scaling_method", c.method);
    tag("scaling_size", std::to_string(c.size));
    tag("scaling_batch", std::to_string(c.batch));
    tag("scaling_classes", std::to_string(c.classes));
    tag("scaling_rss0_kb", std::to_string(rss0));
    tag("scaling_hwm_load_kb", std::to_string(hwmLoad));
    tag("scaling_rss_loaded_kb", std::to_string(rssLoaded));
    tag("scaling_hwm_run_kb", std::to_string(hwmRun));
    tag("scaling_hwm_reset", reset ? "1" : "0");
    SANITY_CHECK_NOTHING();
}

// One machine-readable line per finished Scaling test (the metrics exist only after the body).
class ScalingLine : public ::testing::EmptyTestEventListener
{
public:
    void OnTestEnd(const ::testing::TestInfo& info) override
    {
        if (std::string(info.test_case_name()).find("Scaling") == std::string::npos || perf::records().empty())
            return;
        const perf::Record& r = perf::records().back();
        if (r.testName != info.name() || !r.tags.count("scaling_model"))
            return;
        auto kb = [&](const char* key) { return std::atol(r.tags.at(key).c_str()); };
        const long rss0 = kb("scaling_rss0_kb"), hwmLoad = kb("scaling_hwm_load_kb");
        const long rssLoaded = kb("scaling_rss_loaded_kb"), hwmRun = kb("scaling_hwm_run_kb");
        std::printf("[  SCALING ] model=%s method=%s size=%s batch=%s classes=%s median_ms=%.3f min_ms=%.3f "
                    "samples=%d rss0_kb=%ld hwm_load_kb=%ld rss_loaded_kb=%ld hwm_run_kb=%ld total_kb=%ld "
                    "run_kb=%ld hwm_reset=%s threads=%d\n",
                    r.tags.at("scaling_model").c_str(), r.tags.at("scaling_method").c_str(),
                    r.tags.at("scaling_size").c_str(), r.tags.at("scaling_batch").c_str(),
                    r.tags.at("scaling_classes").c_str(), r.metrics.ms(r.metrics.median),
                    r.metrics.ms(r.metrics.min), r.metrics.samples, rss0, hwmLoad, rssLoaded, hwmRun,
                    std::max(hwmLoad, hwmRun) - rss0, hwmRun - rssLoaded, r.tags.at("scaling_hwm_reset").c_str(),
                    cv::getNumThreads());
        std::fflush(stdout);
    }
};

const bool scalingLineInstalled =
    (::testing::UnitTest::GetInstance()->listeners().Append(new ScalingLine), true);

}} // namespace opencv_test
