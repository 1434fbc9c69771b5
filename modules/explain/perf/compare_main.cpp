// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// opencv_explain_compare: times the explanation methods on one model, for
// tools/compare_pytorch_grad_cam.py (which interleaves these measurements with pytorch-grad-cam's).
//
//   opencv_explain_compare --model=M.onnx [--input=X.yml] [--threads=2] [--samples=10]
//                          [--methods=forward,gradcam,gradcampp,guided,guided_gradcam] [--serve]
//
// Each method gets its own Net (read from M) and explainer, set up and warmed up once (untimed).
// A timed sample is exactly what one explanation of a new image costs:
//   forward         net.setInput(blob); net.forward()                  (plain cv::dnn inference)
//   gradcam         GradCAM::forward + compute(-1) + resizeMap to the input size (normalized to [0, 1])
//   gradcampp       the same with setMethod(CAM_GRADCAM_PLUS_PLUS)
//   guided          GradCAM::forward + inputGradient(-1, RECTIFIER_GUIDED)
//   guided_gradcam  GradCAM::forward + guidedGradCAM(-1)
//   gradcam_top5    GradCAM::forward + compute() of the 5 top-scoring classes
//   backprop_forward  Backprop::forward with every activation kept (the forward part of guided; not in
//                   the default list)
// The input blob is `input` of the FileStorage --input (1xCxHxW float32), or N(0,1) noise of 1x3x224x224.
//
// Without --serve: --samples rounds, each timing every method once in turn, then one line per method
// "median <method> <ms>". With "forward" in the list, also one line per other method
// "paired <method> <median> <q1> <q3>": quartiles over the rounds of the method's time divided by the
// forward's time in the same round. Pairing cancels the drift of a shared machine, which moves
// separately timed medians by more than the ratios being measured. With --serve: reads commands from stdin, one per line, and answers
// one line each (flushed):
//   run <method> <n>   -> "times <method> <ms> <ms> ..."  (n timed samples)
//   dump <file.yml>    -> "dumped": writes class_id, gradcam (normalized, input size), guided (1xCxHxW)
//   quit
#include <opencv2/core.hpp>
#include <opencv2/core/utility.hpp>
#include <opencv2/dnn.hpp>
#include <opencv2/explain.hpp>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

using namespace cv;

namespace {

struct Method
{
    std::string name;
    dnn::Net net;
    Ptr<explain::GradCAM> cam;
    Ptr<explain::Backprop> bp;
    Mat out;
    std::vector<Mat> maps;
};

const char* kAll = "forward,gradcam,gradcampp,guided,guided_gradcam,gradcam_top5";

void runOnce(Method& m, const Mat& blob)
{
    if (m.name == "forward")
    {
        m.net.setInput(blob);
        m.out = m.net.forward();
    }
    else if (m.name == "gradcam" || m.name == "gradcampp")
    {
        m.cam->forward(blob);
        m.cam->compute(-1, m.maps);
        explain::resizeMap(m.maps[0], Size(blob.size[3], blob.size[2]), m.out);
    }
    else if (m.name == "backprop_forward")
        m.bp->forward(blob);
    else if (m.name == "guided")
    {
        m.cam->forward(blob);
        m.cam->inputGradient(-1, m.out, explain::RECTIFIER_GUIDED);
    }
    else if (m.name == "guided_gradcam")
    {
        m.cam->forward(blob);
        m.cam->guidedGradCAM(-1, m.out);
    }
    else if (m.name == "gradcam_top5")
    {
        Mat scores, order;
        m.cam->forward(blob, scores);
        sortIdx(scores.row(0), order, SORT_EVERY_ROW | SORT_DESCENDING);
        for (int k = 0; k < 5 && k < order.cols; k++)
            m.cam->compute(order.at<int>(0, k), m.maps);
    }
    else
        CV_Error(Error::StsBadArg, "unknown method " + m.name);
}

double timeOnce(Method& m, const Mat& blob)
{
    TickMeter tm;
    tm.start();
    runOnce(m, blob);
    tm.stop();
    return tm.getTimeMilli();
}

/** The q-quantile of v (0.5: the median), linear between the two nearest ranks. */
double quantile(std::vector<double> v, double q)
{
    if (v.empty())
        return 0;
    std::sort(v.begin(), v.end());
    const double pos = q * (v.size() - 1);
    const size_t lo = (size_t)pos, hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (pos - lo) * (v[hi] - v[lo]);
}

double median(const std::vector<double>& v)
{
    return quantile(v, 0.5);
}

/** Each method's time over the forward's, round by round: "paired <method> <median> <q1> <q3>". */
void printPairedRatios(const std::vector<Method>& methods, std::map<std::string, std::vector<double> >& times)
{
    if (!times.count("forward"))
        return;
    const std::vector<double>& forward = times["forward"];
    for (const Method& m : methods)
    {
        if (m.name == "forward")
            continue;
        std::vector<double> ratios;
        for (size_t i = 0; i < forward.size(); i++)
            ratios.push_back(times[m.name][i] / forward[i]);
        std::printf("paired %s %.3f %.3f %.3f\n", m.name.c_str(), median(ratios), quantile(ratios, 0.25),
                    quantile(ratios, 0.75));
    }
}

/** The input blob: `input` from a FileStorage, or N(0,1) 1x3x224x224; empty on error (printed). */
Mat loadInput(const std::string& inputPath)
{
    Mat blob;
    if (inputPath.empty())
    {
        blob.create(std::vector<int>{1, 3, 224, 224}, CV_32F);
        RNG rng(0x5eed);
        rng.fill(blob, RNG::NORMAL, 0., 1.);
        return blob;
    }
    FileStorage fs(inputPath, FileStorage::READ);
    fs["input"] >> blob;
    if (blob.empty() || blob.dims != 4 || blob.type() != CV_32F)
    {
        std::fprintf(stderr, "error: %s has no 4D float32 `input`\n", inputPath.c_str());
        return Mat();
    }
    return blob;
}

/** One Method per name of the comma-separated list, each on its own Net, warmed up; false on error. */
bool makeMethods(const std::string& methodList, const std::string& modelPath, const Mat& blob,
                 std::vector<Method>& methods)
{
    std::stringstream ss(methodList);
    std::string name;
    while (std::getline(ss, name, ','))
    {
        if (name.empty())
            continue;
        Method m;
        m.name = name;
        m.net = cv::explain::readNet(modelPath);
        if (name == "backprop_forward")
            m.bp = explain::Backprop::create(m.net);
        else if (name != "forward")
        {
            m.cam = explain::GradCAM::create(m.net);
            if (name == "gradcampp")
                m.cam->setMethod(explain::CAM_GRADCAM_PLUS_PLUS);
        }
        try
        {
            runOnce(m, blob);  // warm-up: net setup, plan widening, rule creation
            runOnce(m, blob);
        }
        catch (const cv::Exception& e)
        {
            std::fprintf(stderr, "error: %s: %s\n", name.c_str(), e.what());
            return false;
        }
        methods.push_back(m);
    }
    return true;
}

/** "run NAME N": N timings of one method. */
void runCommand(std::stringstream& ss, std::vector<Method>& methods, const Mat& blob)
{
    std::string name;
    int n = 1;
    ss >> name >> n;
    auto it = std::find_if(methods.begin(), methods.end(), [&](const Method& m) { return m.name == name; });
    if (it == methods.end())
    {
        std::printf("error unknown method %s\n", name.c_str());
        return;
    }
    std::string reply = "times " + name;
    for (int i = 0; i < n; i++)
        reply += format(" %.3f", timeOnce(*it, blob));
    std::printf("%s\n", reply.c_str());
}

/** "dump PATH": every method's output to a FileStorage. */
void dumpCommand(std::stringstream& ss, std::vector<Method>& methods, const Mat& blob)
{
    std::string path;
    ss >> path;
    FileStorage fs(path, FileStorage::WRITE);
    for (Method& m : methods)
    {
        runOnce(m, blob);
        if (m.name == "gradcam")
        {
            Mat scores = m.cam->getScores();
            Point top;
            minMaxLoc(scores.row(0), nullptr, nullptr, nullptr, &top);
            fs << "class_id" << top.x << "layer" << m.cam->getLayerName() << "gradcam" << m.out;
        }
        else if (m.name == "gradcampp" || m.name == "guided" || m.name == "guided_gradcam")
            fs << m.name << m.out;
    }
    std::printf("dumped\n");
}

/** Commands from stdin, one per line: run NAME N, dump PATH, quit. */
void serve(std::vector<Method>& methods, const Mat& blob)
{
    std::string line;
    while (std::getline(std::cin, line))
    {
        std::stringstream ss(line);
        std::string cmd;
        ss >> cmd;
        if (cmd == "quit")
            break;
        if (cmd == "run")
            runCommand(ss, methods, blob);
        else if (cmd == "dump")
            dumpCommand(ss, methods, blob);
        else
            std::printf("error unknown command %s\n", cmd.c_str());
        std::fflush(stdout);
    }
}

} // namespace

int main(int argc, char** argv)
{
    const String keys =
        "{help h  |      | print this help }"
        "{model   |<none>| ONNX (or any cv::dnn) model }"
        "{input   |      | FileStorage with `input` (1xCxHxW float32); default N(0,1) 1x3x224x224 }"
        "{threads | 2    | cv::setNumThreads }"
        "{samples | 10   | rounds: samples per method (without --serve) }"
        "{methods | forward,gradcam,gradcampp,guided,guided_gradcam | comma-separated methods }"
        "{serve   | false| read commands from stdin (see the source) }";
    CommandLineParser parser(argc, argv, keys);
    parser.about("Times the explanation methods on one model (see modules/explain/perf/compare_main.cpp)");
    if (parser.has("help"))
    {
        parser.printMessage();
        std::printf("methods: %s, backprop_forward\n", kAll);
        return 0;
    }
    const std::string modelPath = parser.get<String>("model");
    const std::string inputPath = parser.get<String>("input");
    const int threads = parser.get<int>("threads");
    const int samples = parser.get<int>("samples");
    const std::string methodList = parser.get<String>("methods");
    const bool serveMode = parser.get<bool>("serve");
    if (!parser.check())
    {
        parser.printErrors();
        return 2;
    }
    setNumThreads(threads);
    const Mat blob = loadInput(inputPath);
    std::vector<Method> methods;
    if (blob.empty() || !makeMethods(methodList, modelPath, blob, methods))
        return 2;
    if (methods.empty())
    {
        std::fprintf(stderr, "error: no methods (known: %s)\n", kAll);
        return 2;
    }
    std::printf("ready threads=%d methods=%d input=%dx%dx%dx%d opencv=%s\n", getNumThreads(), (int)methods.size(),
                blob.size[0], blob.size[1], blob.size[2], blob.size[3], CV_VERSION);
    std::fflush(stdout);
    if (serveMode)
    {
        serve(methods, blob);
        return 0;
    }
    std::map<std::string, std::vector<double> > times;
    for (int i = 0; i < samples; i++)
        for (Method& m : methods)
            times[m.name].push_back(timeOnce(m, blob));
    for (Method& m : methods)
        std::printf("median %s %.3f\n", m.name.c_str(), median(times[m.name]));
    printPairedRatios(methods, times);
    return 0;
}
