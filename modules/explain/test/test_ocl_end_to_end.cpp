// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// The OpenCL path against the CPU path end to end, OpenCV's OCL_ON / OCL_OFF way: one forward pass of
// a Net on DNN_TARGET_OPENCL, then every explanation computed twice from the same activations, with
// OpenCL on (device rules and kernels; the results stay on the device as UMats) and with OpenCL off
// (host rules). Comparing after one shared forward pass isolates our backward path from cv::dnn's own
// OpenCL forward, which differs from its CPU forward by ~1e-6.
#include "test_ocl_common.hpp"
#include <opencv2/explain/gradcam.hpp>
#include "../src/ocl_ops.hpp"  // hostRoundTrips, internal

namespace opencv_test { namespace {

const double kTolerance = 1e-5;  // relative L2, as the kernels alone

/** Every explanation of one class, as UMats (OpenCL on) or Mats (OpenCL off). */
template <typename M>
struct AllMaps
{
    std::vector<M> maps, counter;
    M guided, exact, deconv, ggc;
};

template <typename M>
void computeAll(GradCAM& cam, int classId, AllMaps<M>& out)
{
    cam.compute(classId, out.maps, out.counter);
    cam.inputGradient(classId, out.guided, RECTIFIER_GUIDED);
    cam.inputGradient(classId, out.exact, RECTIFIER_EXACT);
    cam.inputGradient(classId, out.deconv, RECTIFIER_DECONVNET);
    cam.guidedGradCAM(classId, out.ggc);
}

/** All maps of one class with OpenCL on (UMat results) and off (Mat results), compared. */
void expectDeviceEqualsHost(dnn::Net net, const Mat& blob, const String& layer, int classId, const std::string& what)
{
    net.setPreferableTarget(dnn::DNN_TARGET_OPENCL);
    Ptr<GradCAM> cam = GradCAM::create(net, layer);
    cam->forward(blob);
    ASSERT_TRUE(cam->getBackprop()->isOnDevice()) << what << ": activations not kept on the device";
    // first: input gradients widen the kept plan, which re-runs the forward pass (cv::dnn's OpenCL
    // forward then fuses differently, changing activations by ~1e-6); every call below uses that pass
    UMat warmUp;
    cam->inputGradient(classId, warmUp, RECTIFIER_GUIDED);
    AllMaps<UMat> dev;
    AllMaps<Mat> host;
    const size_t copiesBefore = hostRoundTrips();
    OCL_ON(computeAll(*cam, classId, dev));
    const size_t copies = hostRoundTrips() - copiesBefore;
    OCL_OFF(computeAll(*cam, classId, host));
    ocl::setUseOpenCL(true);
    std::vector<UMat>& mapsDev = dev.maps;
    std::vector<Mat>& mapsHost = host.maps;

    // A map is a sum over channels, alpha_k A_k, that cancels: its float32 rounding scales with the
    // terms, sum_k |alpha_k A_k|, not with the (much smaller) map. The maps are compared relative to that.
    const String target = layer.empty() ? cam->getLayerName() : layer;
    Mat seed = Mat::zeros(cam->getScores().size(), CV_32F);
    seed.col(classId).setTo(1.f);
    std::vector<Mat> gradAtTarget;
    cam->getBackprop()->backward({cam->getScoreLayerName()}, {seed}, {target}, gradAtTarget);
    const Mat act = cam->getBackprop()->getActivation(target);
    ASSERT_EQ(mapsDev.size(), mapsHost.size());
    double worst = 0;
    for (int n = 0; n < (int)mapsDev.size(); n++)
    {
        const int k = act.size[1], plane = act.size[2] * act.size[3];
        Mat a(k, plane, CV_32F, (void*)act.ptr<float>(n)), g(k, plane, CV_32F, gradAtTarget[0].ptr<float>(n)), alpha;
        reduce(g, alpha, 1, REDUCE_AVG);
        Mat terms = Mat(abs(alpha)).t() * abs(a);  // 1 x plane
        const double scale = std::max(cv::norm(terms, NORM_L2), 1e-12);
        const double dMap = cv::norm(mapsDev[n].getMat(ACCESS_READ).reshape(1, 1), mapsHost[n].reshape(1, 1)) / scale;
        const double dCounter = cv::norm(dev.counter[n].getMat(ACCESS_READ).reshape(1, 1), host.counter[n].reshape(1, 1)) / scale;
        EXPECT_LE(dMap, kTolerance) << what << " Grad-CAM image " << n;
        EXPECT_LE(dCounter, kTolerance) << what << " counterfactual image " << n;
        worst = std::max({worst, dMap, dCounter});
    }
    // Guided Grad-CAM: the device's upsampling and products against the CPU's on the same parts (the
    // maps' own differences are checked above)
    std::vector<Mat> mapsDevOnHost;
    for (const UMat& m : mapsDev)
        mapsDevOnHost.push_back(m.getMat(ACCESS_READ).clone());
    Mat ggcFromDeviceParts;
    combineGuidedGradCAM(mapsDevOnHost, dev.guided.getMat(ACCESS_READ).clone(), ggcFromDeviceParts);
    const double guided = relDiff(dev.guided, host.guided), exact = relDiff(dev.exact, host.exact),
                 deconv = relDiff(dev.deconv, host.deconv), ggc = relDiff(dev.ggc, ggcFromDeviceParts);
    EXPECT_LE(guided, kTolerance) << what << " guided backprop";
    EXPECT_LE(exact, kTolerance) << what << " exact input gradient";
    EXPECT_LE(deconv, kTolerance) << what << " deconvnet";
    EXPECT_LE(ggc, kTolerance) << what << " Guided Grad-CAM";
    EXPECT_LE(relDiff(host.ggc, ggcFromDeviceParts), 100 * kTolerance) << what << " Guided Grad-CAM, end to end";
    std::cout << "[ ocl e2e  ] " << what << ": device vs host: maps (rel. to sum |alpha_k A_k|) " << worst << ", guided " << guided
              << ", exact " << exact << ", deconvnet " << deconv << ", Guided Grad-CAM " << ggc
              << "; host<->device copies " << copies << " in 5 calls" << std::endl;
}

/** conv -> leaky ReLU -> strided conv -> ReLU6 -> max pool -> conv -> BN -> ReLU ("target") -> GAP -> FC */
dnn::Net builtNet()
{
    RNG rng(741);
    dnn::Net net;
    int c1 = addLayer(net, "conv1", "Convolution", convParams(6, 3, 3, rng, 1, 1, 1), {0});
    dnn::LayerParams leaky;
    leaky.set("negative_slope", 0.1f);
    int r1 = addLayer(net, "relu1", "ReLU", leaky, {c1});
    int c2 = addLayer(net, "conv2", "Convolution", convParams(8, 6, 3, rng, 1, 2, 1), {r1});
    dnn::LayerParams six;
    six.set("min_value", 0.f);
    six.set("max_value", 6.f);
    int r2 = addLayer(net, "relu6", "ReLU6", six, {c2});
    dnn::LayerParams mp;
    mp.set("pool", "max");
    mp.set("kernel_size", 2);
    mp.set("stride", 2);
    int p = addLayer(net, "pool", "Pooling", mp, {r2});
    int c3 = addLayer(net, "conv3", "Convolution", convParams(8, 8, 3, rng, 1, 1, 1), {p});
    dnn::LayerParams bn;
    bn.set("has_weight", true);
    bn.set("has_bias", true);
    bn.set("eps", 1e-5f);
    bn.blobs = {randomBlob({8}, rng), randomBlob({8}, rng, 0.5f, 2.f), randomBlob({8}, rng), randomBlob({8}, rng)};
    int b3 = addLayer(net, "bn", "BatchNorm", bn, {c3});
    int r3 = addLayer(net, "target", "ReLU", dnn::LayerParams(), {b3});
    addGapFcHead(net, r3, 8, 5, rng);
    return net;
}

/** ShuffleNet's channel split: conv -> ReLU -> Slice into equal halves (which half feeds which layer is
    found by replaying a consumer) -> conv on one half, ReLU on the other -> Concat -> conv -> ReLU
    ("target") -> GAP -> FC. Slice has two outputs: the UMat forward pass returns only the first, the
    engine recomputes both on the device. */
dnn::Net slicedNet()
{
    RNG rng(744);
    dnn::Net net;
    int c1 = addLayer(net, "conv1", "Convolution", convParams(8, 3, 3, rng, 1, 1, 1), {0});
    int r1 = addLayer(net, "relu1", "ReLU", dnn::LayerParams(), {c1});
    dnn::LayerParams sl;
    sl.set("axis", 1);
    sl.set("num_split", 2);
    int slice = addLayer(net, "slice", "Slice", sl, {r1});
    int b = addLayer(net, "b", "Convolution", convParams(4, 4, 3, rng, 1, 1, 1), {slice}, {1});
    int a = addLayer(net, "a", "ReLU", dnn::LayerParams(), {slice}, {0});
    dnn::LayerParams cp;
    cp.set("axis", 1);
    int cat = addLayer(net, "concat", "Concat", cp, {a, b});
    int c2 = addLayer(net, "conv2", "Convolution", convParams(6, 8, 3, rng, 1, 1, 1), {cat});
    int r2 = addLayer(net, "target", "ReLU", dnn::LayerParams(), {c2});
    addGapFcHead(net, r2, 6, 5, rng);
    return net;
}

/** One net of the comparison: the net, its input, the target layer ("" for the default) and the classes. */
struct EndToEndCase
{
    dnn::Net net;
    Mat input;
    String layer;
    std::vector<int> classes;
};

EndToEndCase endToEndCase(const std::string& name)
{
    if (name == "built_net")
    {
        RNG rng(751);
        return {builtNet(), randomBlob({2, 3, 16, 16}, rng), "target", {0, 3}};
    }
    if (name == "sliced_net")
    {
        RNG rng(754);
        return {slicedNet(), randomBlob({2, 3, 10, 10}, rng), "target", {2}};
    }
    if (name == "bundled_model")
    {
        RNG rng(743);  // no image codecs: these tests also run on GPU hosts
        return {explain::readNet(EXPLAIN_DATA_DIR "/default_model.onnx"), randomBlob({1, 3, 64, 64}, rng, 0.f, 1.f),
                String(), {1}};
    }
    // importers/tiny.onnx: conv + BN + leaky ReLU, residual sum, concat, nearest upsampling, GAP, FC
    CV_Assert(name == "importer_model");
    RNG rng(742);
    return {explain::readNet(EXPLAIN_DATA_DIR "/importers/tiny.onnx"), randomBlob({1, 3, 32, 32}, rng, -1.f, 1.f),
            "onnx_node!/act5/Relu", {0}};
}

// OpenCV's OCL_TEST_P way: the same calls with OpenCL on (OCL_ON) and off (OCL_OFF), compared
typedef testing::TestWithParam<std::string> OCLEndToEnd;

OCL_TEST_P(OCLEndToEnd, DeviceEqualsHost)
{
    OpenCLScope ocl;
    EXPLAIN_REQUIRE_OPENCL(ocl);
    const EndToEndCase c = endToEndCase(GetParam());
    for (int cls : c.classes)
        expectDeviceEqualsHost(c.net, c.input, c.layer, cls, format("%s, class %d", GetParam().c_str(), cls));
}

OCL_INSTANTIATE_TEST_CASE_P(Explain, OCLEndToEnd,
                            testing::Values("built_net", "sliced_net", "bundled_model", "importer_model"));

TEST(OCLSlicedNet, BothHalvesAreRecomputedOnTheDeviceForTheRightConsumers)
{
    OpenCLScope ocl;
    EXPLAIN_REQUIRE_OPENCL(ocl);
    const EndToEndCase c = endToEndCase("sliced_net");
    dnn::Net net = c.net;
    const Mat& x = c.input;
    net.setPreferableTarget(dnn::DNN_TARGET_OPENCL);
    Ptr<Backprop> bp = Backprop::create(net);
    bp->keepAll();
    bp->forward(x);
    ASSERT_TRUE(bp->isOnDevice());
    const int sliceId = net.getLayerId("slice");
    EXPECT_EQ(bp->getLayerInputPins("a")[0], std::make_pair(sliceId, 0));
    EXPECT_EQ(bp->getLayerInputPins("b")[0], std::make_pair(sliceId, 1));
    const Mat relu1 = bp->getActivation("relu1");
    for (int o = 0; o < 2; o++)
    {
        std::vector<Range> half(4, Range::all());
        half[1] = Range(4 * o, 4 * o + 4);
        EXPECT_EQ(cv::norm(bp->getActivation("slice", o), Mat(relu1(half).clone()), NORM_INF), 0.0) << "output " << o;
    }
}

/** On DNN_TARGET_OPENCL the forward pass keeps only what the rules read, as on the host (cv::dnn copies every
    requested output to the host and back): the input gradients, on the device, equal those of keeping every
    activation, with no more host copies (fewer where a rule runs on the host), and a convolution's output is not kept. */
TEST(OCLKeepPlan, KeepsOnlyWhatTheRulesRead)
{
    OpenCLScope ocl;
    EXPLAIN_REQUIRE_OPENCL(ocl);
    for (const std::string name : {"built_net", "importer_model"})
    {
        const EndToEndCase planned = endToEndCase(name), full = endToEndCase(name);  // two equal Nets
        std::vector<Ptr<Backprop> > bps;
        for (dnn::Net net : {planned.net, full.net})
        {
            net.setPreferableTarget(dnn::DNN_TARGET_OPENCL);
            bps.push_back(Backprop::create(net));
        }
        const String out = planned.net.getLayerNames().back(), conv = planned.net.getLayerNames().front();
        ASSERT_EQ(bps[0]->getLayerInfo(conv).type, "Convolution") << name;
        bps[0]->keepOnly({out}, {""});
        bps[1]->keepAll();
        for (RectifierMode mode : {RECTIFIER_EXACT, RECTIFIER_GUIDED, RECTIFIER_DECONVNET})
        {
            std::vector<UMat> grads[2];
            size_t copies[2];
            for (int k = 0; k < 2; k++)
            {
                bps[k]->forward(planned.input);
                ASSERT_TRUE(bps[k]->isOnDevice()) << name;
                const MatShape shape = bps[k]->getLayerInfo(out).outputShapes[0];
                const Mat seed = Mat::ones((int)shape.size(), shape.data(), CV_32F);
                const size_t before = hostRoundTrips();
                bps[k]->backward({out}, {seed}, {""}, grads[k], mode);
                copies[k] = hostRoundTrips() - before;
            }
            EXPECT_LE(relDiff(grads[0][0], grads[1][0]), kTolerance) << name << ", mode " << mode;
            EXPECT_LE(copies[0], copies[1]) << name << ", mode " << mode;  // fewer where a rule runs on the host
        }
        expectError([&] { bps[0]->getActivation(conv); },
                    "explain: the activations of layer '" + conv + "' (Convolution) were not kept by the last "
                    "forward(); call keepAll() or keepOnly() first");
    }
}

}} // namespace opencv_test
