// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// The operator sweep: one tiny ONNX model per operator (data/operators/, written by
// tools/make_operator_models.py). For every model that cv::dnn 4.6 imports and runs, the input gradient
// of each variable input either matches central differences through cv::dnn, or backward() is refused
// with a cv::Exception that starts with "explain: " and names the layer and its type. Never a wrong
// gradient, a crash or a bare assertion. A table (operator, cv::dnn types, result) is printed.
#include "test_common.hpp"
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

namespace opencv_test { namespace {

struct SweepInput
{
    String name;
    std::vector<int> shape;
    float lo = -2.f, hi = 2.f;
};

struct SweepModel
{
    String name, file;
    std::vector<SweepInput> inputs;
};

std::vector<String> splitOn(const String& s, char sep)
{
    std::vector<String> parts;
    std::stringstream ss(s);
    String part;
    while (std::getline(ss, part, sep))
        parts.push_back(part);
    return parts;
}

std::vector<SweepModel> readManifest(const String& dir)
{
    std::ifstream f(dir + "/operators.txt");
    std::vector<SweepModel> models;
    String line;
    while (std::getline(f, line))
    {
        if (line.empty())
            continue;
        std::vector<String> cols = splitOn(line, '\t');
        if (cols.size() < 3)
        {
            ADD_FAILURE() << "bad manifest line: " << line;
            continue;
        }
        SweepModel m;
        m.name = cols[0];
        m.file = cols[1];
        for (size_t c = 2; c < cols.size(); c++)
        {
            std::vector<String> f4 = splitOn(cols[c], ':');
            SweepInput in;
            in.name = f4.at(0);
            for (const String& d : splitOn(f4.at(1), 'x'))
                in.shape.push_back(std::stoi(d));
            in.lo = std::stof(f4.at(2));
            in.hi = std::stof(f4.at(3));
            m.inputs.push_back(in);
        }
        models.push_back(m);
    }
    return models;
}

/** The operators whose refusal is the expected answer (not differentiable, or no rule yet: see
    doc/coverage.md). Every other operator that cv::dnn imports and runs must pass the gradient check. */
const std::set<String>& expectedRefusals()
{
    static const std::set<String> s = {
        "Ceil", "Floor", "Round", "Sign",          // piecewise constant: refused as not differentiable
        "Equal", "Greater", "Less",                // comparisons (4.6: Scale layers that compare)
        "CumSum_exclusive", "CumSum_exclusive_reverse",  // cv::dnn computes them wrong when run in place
#if CV_VERSION_MAJOR == 4 && CV_VERSION_MINOR < 7
        "MatMul_two_inputs", "Attention_single_head",  // 4.6: an InnerProduct of two variable inputs, no rule
        "Split_negative_axis",                     // cv::dnn 4.6 reports wrong output shapes for it
        "InstanceNormalization",  // MVN + BatchNorm: the sweep's plain forward pass folds the BatchNorm into the
                                  // MVN, and cv::dnn 4.6 keeps it folded in the next pass that requests both:
                                  // the MVN rule sees an output that is not its input normalized and refuses
#endif
    };
    return s;
}

/** The models whose plain forward cv::dnn runs but whose forward that also returns the intermediate outputs
    it fails itself (an assertion inside cv::dnn, which the explainer reports as a failed forward pass). */
bool cvdnnFailsWithIntermediateOutputs(const String& model, const String& msg)
{
#if CV_VERSION_MAJOR == 4 && CV_VERSION_MINOR < 7
    // 4.6 infers a wrong shape for the head Reshape of torch's multi-head attention (4.9+ and 5.0 fuse the
    // block into one Attention layer)
    static const std::set<String> s = {"Attention_torch_mha"};
#else
    static const std::set<String> s;
#endif
    return s.count(model) && msg.rfind("explain: the forward pass failed", 0) == 0;
}

/** How the gradient of one input came out, and the table's result column. */
struct SweepResult
{
    enum Outcome { CHECKED, WRONG_GRADIENT, REFUSED, UNCLEAR_ERROR, FORWARD_FAILED } outcome;
    String text;
};

/** One explained input: the gradient check, or the refusal. */
SweepResult sweepOne(dnn::Net& net, const SweepModel& m, const std::vector<Mat>& blobs, size_t explained,
                     const std::vector<std::pair<String, String>>& layers)
{
    std::vector<String> names{m.inputs[explained].name};
    std::vector<Mat> others;
    for (size_t i = 0; i < m.inputs.size(); i++)
        if (i != explained)
        {
            names.push_back(m.inputs[i].name);
            others.push_back(blobs[i]);
        }
    const String outName = net.getUnconnectedOutLayersNames().at(0);
    try
    {
        GradientCheckResult res = checkInputGradient(net, blobs[explained], outName, 0x5eed, 1e-2, 200, Mat(),
                                                     others, m.inputs.size() > 1 ? names : std::vector<String>());
        // enough smooth points: more than the kinks, and at least 4 (or every element of a smaller input)
        const int enough = std::min(4, (int)blobs[explained].total());
        const bool ok = res.checked > res.kinks && res.checked >= enough && res.maxError <= 2e-2;
        EXPECT_TRUE(res.checked > res.kinks && res.checked >= enough)
            << m.name << ": too many kinks (" << res.checked << " checked, " << res.kinks << " kinks)";
        EXPECT_LE(res.maxError, 2e-2) << m.name << " d/d" << names[0] << ": wrong gradient";
        return {ok ? SweepResult::CHECKED : SweepResult::WRONG_GRADIENT,
                format("%s (%d points, max err %.1e)", ok ? "gradient ok" : "WRONG GRADIENT", res.checked, res.maxError)};
    }
    catch (const cv::Exception& e)
    {
        const String msg = e.err;
        if (cvdnnFailsWithIntermediateOutputs(m.name, msg))
            return {SweepResult::FORWARD_FAILED, "cv::dnn forward fails: " + msg.substr(0, 120)};
        bool namesLayer = false;
        for (const auto& l : layers)
            namesLayer = namesLayer || (msg.find("'" + l.first + "'") != String::npos &&
                                        msg.find("(" + l.second + ")") != String::npos);
        const bool clear = msg.rfind("explain: ", 0) == 0 && namesLayer;
        EXPECT_TRUE(clear) << m.name << ": the refusal must start with \"explain: \" and name the layer and its type: "
                           << msg;
        return {clear ? SweepResult::REFUSED : SweepResult::UNCLEAR_ERROR,
                String(clear ? "refused: " : "UNCLEAR ERROR: ") + msg.substr(0, 150)};
    }
}

/** The counts of a sweep over every operator model. */
struct SweepCounts
{
    int models = 0, notImported = 0, forwardFails = 0, checked = 0, refused = 0, failed = 0;
    std::vector<String> refusedModels, answeredModels;  // refused; checked, wrong or failing in cv::dnn
};

/** Reads each operator model with `read` and checks or refuses the gradient of each input (sweepOne),
    printing the table. */
SweepCounts sweepAll(const std::function<dnn::Net(const String&)>& read)
{
    const String dir = String(EXPLAIN_DATA_DIR) + "/operators";
    const std::vector<SweepModel> models = readManifest(dir);
    EXPECT_GT(models.size(), 50u) << "no operator models in " << dir << " (tools/make_operator_models.py)";
    SweepCounts n;
    n.models = (int)models.size();
    std::ostringstream table;
    table << format("%-34s | %-44s | %s\n", "operator", "cv::dnn layer types", "result");
    for (const SweepModel& m : models)
    {
        SCOPED_TRACE(m.name);
        dnn::Net net;
        try
        {
            net = read(dir + "/" + m.file);
        }
        catch (const cv::Exception&)
        {
            n.notImported++;
            table << format("%-34s | %-44s | %s\n", m.name.c_str(), "-", "not imported by cv::dnn");
            continue;
        }
        std::vector<std::pair<String, String>> layers;
        String types;
        for (const String& name : net.getLayerNames())
        {
            Ptr<dnn::Layer> l = net.getLayer(name);
            layers.emplace_back(name, l->type);
            types += (types.empty() ? "" : " ") + l->type;
        }
        RNG rng(0xC0FFEE);
        std::vector<Mat> blobs;
        std::vector<String> names;
        for (const SweepInput& in : m.inputs)
        {
            blobs.push_back(randomBlob(in.shape, rng, in.lo, in.hi));
            names.push_back(in.name);
        }
        try
        {
            for (size_t i = 0; i < blobs.size(); i++)
                net.setInput(blobs[i], names[i]);
            net.forward();
        }
        catch (const cv::Exception& e)
        {
            n.forwardFails++;
            String msg = e.err;
            table << format("%-34s | %-44s | %s\n", m.name.c_str(), types.c_str(),
                            ("cv::dnn forward fails: " + msg.substr(0, 80)).c_str());
            continue;
        }
        for (size_t i = 0; i < m.inputs.size(); i++)
        {
            const SweepResult r = sweepOne(net, m, blobs, i, layers);
            switch (r.outcome)
            {
            case SweepResult::CHECKED: n.checked++; break;
            case SweepResult::WRONG_GRADIENT:
            case SweepResult::UNCLEAR_ERROR: n.failed++; break;
            case SweepResult::REFUSED: n.refused++; break;
            case SweepResult::FORWARD_FAILED: n.forwardFails++; break;
            }
            if (r.outcome == SweepResult::REFUSED)
                n.refusedModels.push_back(m.name);
            else if (r.outcome != SweepResult::UNCLEAR_ERROR)
                n.answeredModels.push_back(m.name);
            const String op = m.inputs.size() > 1 ? m.name + " d/d" + m.inputs[i].name : m.name;
            table << format("%-34s | %-44s | %s\n", op.c_str(), types.c_str(), r.text.c_str());
        }
    }
    std::cout << table.str()
              << format("operator sweep: %d models; %d not imported, %d fail in cv::dnn's forward; "
                        "%d input gradients checked, %d refused, %d failed\n",
                        n.models, n.notImported, n.forwardFails, n.checked, n.refused, n.failed);
    return n;
}

TEST(OperatorSweep, EveryImportedOperatorIsCheckedOrRefused)
{
    const SweepCounts n = sweepAll([](const String& path) { return explain::readNet(path); });
    EXPECT_EQ(n.failed, 0);
    for (const String& m : n.refusedModels)
        EXPECT_TRUE(expectedRefusals().count(m)) << m << " was refused";
    for (const String& m : n.answeredModels)
        EXPECT_FALSE(expectedRefusals().count(m)) << m << " is listed as refused but was not";
}

}} // namespace

namespace opencv_test { namespace {

// The imported InstanceNormalization (4.6: MVN + BatchNorm): exact on a Net explained before any plain
// forward pass; after one, cv::dnn 4.6 applies the folded BatchNorm twice, and the MVN rule refuses.
// From 4.9 on it is one layer, exact in both orders.
TEST(OperatorSweep, InstanceNormalizationBeforeAndAfterAPlainForward)
{
    const String path = String(EXPLAIN_DATA_DIR) + "/operators/InstanceNormalization.onnx";
    RNG rng(501);
    Mat x = randomBlob({1, 3, 4, 5}, rng);
    dnn::Net fresh = explain::readNet(path);
    const String out = fresh.getUnconnectedOutLayersNames().at(0);
    GradientCheckResult res = checkInputGradient(fresh, x, out, 0x5eed, 1e-2, 60);
    EXPECT_GT(res.checked, 20);
    EXPECT_LE(res.maxError, 2e-2);

    dnn::Net used = explain::readNet(path);
    used.setInput(x);
    used.forward();  // the user's plain forward pass: cv::dnn 4.6 folds the BatchNorm into the MVN
#if CV_VERSION_MAJOR > 4 || CV_VERSION_MINOR >= 9
    // one InstanceNormalization layer there, nothing folded into it: exact after a plain forward pass too
    res = checkInputGradient(used, x, out, 0x5eed, 1e-2, 60);
    EXPECT_GT(res.checked, 20);
    EXPECT_LE(res.maxError, 2e-2);
    return;
#endif
    Ptr<Backprop> bp = Backprop::create(used);
    bp->forward(x);
    Mat seed = randomBlob({1, 3, 4, 5}, rng);
    std::vector<Mat> grads;
    try
    {
        bp->backward({out}, {seed}, {""}, grads);
        ADD_FAILURE() << "no exception";
    }
    catch (const cv::Exception& e)
    {
        EXPECT_NE(e.err.find("(MVN) is not its input normalized: cv::dnn kept a layer folded into it"), String::npos)
            << e.err;
    }
}

/** A sweep model's Net, or an empty one when cv::dnn does not import it (OpenCV 5's classic ONNX importer
    fails on the dynamic-axes classifier's Gemm); says which. */
dnn::Net importedOrEmpty(const String& path)
{
    try
    {
        return explain::readNet(path);
    }
    catch (const cv::Exception& e)
    {
        std::cout << "not imported by cv::dnn " << CV_VERSION << ": " << path << "\n";
        return dnn::Net();
    }
}

/** A model with dynamic (symbolic) axes, explained before any plain forward pass of its Net: cv::dnn infers
    some shapes wrongly until its layers have run at the input's shape (a global pooling keeps its input's
    H x W), so the recorded shapes are taken after the explainer's own pass. Then again at another batch
    and size on the same Net, whose layers still hold the first shapes. */
TEST(OperatorSweep, DynamicAxesOnAFreshNet)
{
    const String dir = String(EXPLAIN_DATA_DIR) + "/operators";
    for (const char* name : {"Dynamic_axes_classifier", "Dynamic_axes_conv_pool"})
    {
        SCOPED_TRACE(name);
        dnn::Net net = importedOrEmpty(dir + "/" + name + ".onnx");
        if (net.empty())
            continue;
        const String out = net.getUnconnectedOutLayersNames().at(0);
        RNG rng(0xD1A);
        for (const std::vector<int>& shape : {std::vector<int>{2, 3, 5, 6}, std::vector<int>{3, 3, 9, 11}})
        {
            SCOPED_TRACE(cv::format("input %d x %d x %d x %d", shape[0], shape[1], shape[2], shape[3]));
            const GradientCheckResult res = checkInputGradient(net, randomBlob(shape, rng), out);
            EXPECT_GT(res.checked, std::max(3, res.kinks));
            EXPECT_LE(res.maxError, 2e-2);
        }
    }
}

/** The default Grad-CAM layer of a fresh Net with dynamic axes is read from the shapes of a pass at the
    input: the last convolution's ReLU (5 x 6), not a layer whose shape cv::dnn infers wrongly before that
    pass (the global pooling, said to keep its 5 x 6 input). Its gradient is the classifier's weight over the
    pooled area, and the map is Grad-CAM's of that gradient. */
TEST(OperatorSweep, DynamicAxesDefaultGradCAMLayer)
{
    dnn::Net net = importedOrEmpty(String(EXPLAIN_DATA_DIR) + "/operators/Dynamic_axes_classifier.onnx");
    if (net.empty())
        return;
    const String out = net.getUnconnectedOutLayersNames().at(0);
    Mat fw;  // Gemm with transB: 5 classes x 4 channels
    for (const String& n : net.getLayerNames())
        if (net.getLayer(n)->type == "InnerProduct")
            fw = net.getLayer(n)->blobs[0].reshape(1, 5);
    ASSERT_EQ(fw.total(), 20u);
    RNG rng(0xD1B);
    const Mat x = randomBlob({2, 3, 5, 6}, rng);
    Ptr<GradCAM> cam = GradCAM::create(net);
    cam->forward(x);
    const String layer = cam->getLayerName();
    ASSERT_EQ(cam->getBackprop()->getLayerInfo(layer).type, "ReLU") << layer;
    std::vector<Mat> maps, grads, expected;
    cam->compute(1, maps);
    Mat seed = Mat::zeros(2, 5, CV_32F);
    seed.col(1).setTo(1.f);
    cam->getBackprop()->backward({out}, {seed}, {layer}, grads);
    ASSERT_EQ(grads[0].dims, 4);
    ASSERT_EQ(grads[0].size[2] * grads[0].size[3], 30);
    for (int n = 0; n < 2; n++)
        for (int k = 0; k < 4; k++)
            EXPECT_NEAR(grads[0].ptr<float>(n, k)[2 * 6 + 3], fw.at<float>(1, k) / 30, 1e-6);
    computeCAM(CAM_GRADCAM, cam->getBackprop()->getActivation(layer), grads[0], expected);
    ASSERT_EQ(maps.size(), 2u);
    for (int n = 0; n < 2; n++)
        EXPECT_LE(cv::norm(maps[n], expected[n], NORM_INF), 1e-6) << "image " << n;
}

/** A class score's gradient is one-hot, and the classifier's rule then sums the rows of its weights that the
    seed picks instead of a full product: that path, with Gemm's alpha and op(A) = A^T, against finite
    differences. */
TEST(OperatorSweep, GemmOneHotSeed)
{
    for (const char* name : {"Gemm", "Gemm_transA"})
    {
        SCOPED_TRACE(name);
        dnn::Net net = importedOrEmpty(String(EXPLAIN_DATA_DIR) + "/operators/" + name + ".onnx");
        if (net.empty())
            continue;
        const String out = net.getUnconnectedOutLayersNames().at(0);
        RNG rng(0xD1E);
        const Mat x = randomBlob(String(name) == "Gemm" ? std::vector<int>{2, 6} : std::vector<int>{6, 2}, rng);
        Mat seed = Mat::zeros(2, 4, CV_32F);
        seed.at<float>(1, 2) = 1.f;
        const GradientCheckResult res = checkInputGradient(net, x, out, 0x1234, 1e-2, 120, seed);
        EXPECT_EQ(res.checked, 12);
        EXPECT_LE(res.maxError, 1e-3);
    }
}

/** A Reduce imported for a fixed input size, fed another: cv::dnn 4.6 reduces blocks of the imported sizes
    (its output is wrong there) and the rule refuses, naming both; later versions reduce the given axes at
    any size, and the gradient is checked. */
TEST(OperatorSweep, ReduceAtAnotherInputSize)
{
    dnn::Net net = explain::readNet(String(EXPLAIN_DATA_DIR) + "/operators/ReduceMean_axes23.onnx");
    const String out = net.getUnconnectedOutLayersNames().at(0);
    RNG rng(0xD1C);
    const Mat x = randomBlob({1, 3, 6, 7}, rng);  // imported as 1 x 3 x 4 x 5
#if CV_VERSION_MAJOR == 4 && CV_VERSION_MINOR < 8
    String reduce;
    for (const String& n : net.getLayerNames())
        if (net.getLayer(n)->type == "Reduce")
            reduce = n;
    Ptr<Backprop> bp = Backprop::create(net);
    bp->forward(x);
    const Mat y = bp->getActivation(out);
    std::vector<Mat> grads;
    expectError([&] { bp->backward({out}, {Mat::ones(y.dims, y.size.p, CV_32F)}, {""}, grads); },
                "explain: layer '" + reduce + "' (Reduce) reduces blocks of [4 x 5], the sizes the model was imported "
                "with, but its input is [1 x 3 x 6 x 7]: cv::dnn 4.6 does not compute this Reduce at another input "
                "size; feed the input size the model was exported with");
#else
    const GradientCheckResult res = checkInputGradient(net, x, out);
    EXPECT_GT(res.checked, std::max(3, res.kinks));
    EXPECT_LE(res.maxError, 2e-2);
#endif
}

}} // namespace

namespace opencv_test { namespace {

#if CV_VERSION_MAJOR >= 5
// The same models on OpenCV 5's new engine (cv::dnn::readNet's default), whose program the explainers run
// layer by layer: each input gradient is checked or refused with a message naming the layer (convolutions
// keep their weights private there; doc/coverage.md lists the engine's layer types). Never a wrong gradient.
TEST(OperatorSweep, NewEngineChecksOrRefuses)
{
    const SweepCounts n = sweepAll([](const String& path) { return dnn::readNet(path); });
    EXPECT_EQ(n.failed, 0);
}
#endif

}} // namespace
