// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// The OpenCL path (T-API) against the CPU path: the kernels, and Grad-CAM end to end on a Net running
// on DNN_TARGET_OPENCL, which must keep its data on the device. On PoCL (Debian's pocl-opencl-icd) set
// OPENCV_OPENCL_DEVICE=:CPU: and OPENCV_DNN_OPENCL_ALLOW_ALL_DEVICES=1 (scripts/test.sh does).
#include "test_ocl_common.hpp"
#include "../src/ocl_ops.hpp"  // compileKernel, internal

namespace opencv_test { namespace {

/** conv-relu-conv-relu6 ("target") -> GAP -> flatten -> fc(5). */
dnn::Net makeNet(RNG& rng);

// Asking whether OpenCL is in use loads the OpenCL runtime (~60 MB resident, measured with PoCL): an
// explanation of a Net on the CPU target must never ask, whatever method it uses.
TEST(CPUPath, NeverAsksForOpenCL)
{
    RNG rng(709);
    dnn::Net net = makeNet(rng);
    Ptr<GradCAM> cam = GradCAM::create(net, "target");
    Mat x = randomBlob({2, 3, 8, 8}, rng);
    const size_t before = openclQueries();
    cam->forward(x);
    for (int method = CAM_GRADCAM; method <= CAM_ABLATIONCAM; method++)
    {
        cam->setMethod(method);
        std::vector<Mat> maps, counter;
        if (method == CAM_EIGENCAM || method == CAM_ABLATIONCAM)
            cam->compute(1, maps);
        else
            cam->compute(1, maps, counter);
        Mat shown;
        resizeMap(maps[0], Size(32, 32), shown);
    }
    cam->setMethod(CAM_GRADCAM);
    Mat g, ggc, combined;
    for (int mode : {RECTIFIER_EXACT, RECTIFIER_GUIDED, RECTIFIER_DECONVNET})
        cam->inputGradient(2, g, mode);
    cam->guidedGradCAM(2, ggc);
    std::vector<Mat> maps;
    cam->compute(2, maps);
    combineGuidedGradCAM(maps, g, combined);
    EXPECT_EQ(openclQueries(), before) << "the CPU path asked cv::ocl::useOpenCL()";
}

TEST(OCL, EveryProgramCompiles)
{
    OpenCLScope ocl;
    EXPLAIN_REQUIRE_OPENCL(ocl);
    std::vector<String> files;
    glob(EXPLAIN_SOURCE_DIR "/modules/explain/src/opencl/*.cl", files);
    ASSERT_FALSE(files.empty());
    EXPECT_EQ(checkOpenCLKernels(), (int)files.size()) << "a program in src/opencl is not checked";
}

TEST(OCL, AKernelThatDoesNotCompileIsAnError)
{
    OpenCLScope ocl;
    EXPLAIN_REQUIRE_OPENCL(ocl);
    // never an empty kernel (which would make the caller fall back to the CPU without a word)
    const ocl::ProgramSource broken("__kernel void broken_kernel(__global float* x) { x[0] = no_such_function(); }");
    expectError([&] { compileKernel("broken_kernel", broken); },
                "explain: the OpenCL kernel 'broken_kernel' does not compile on " + ocl::Device::getDefault().name());
}

TEST(OCL, GradCAMKernelsMatchCPU)
{
    OpenCLScope ocl;
    EXPLAIN_REQUIRE_OPENCL(ocl);
    RNG rng(701);
    Mat a = randomBlob({3, 7, 5, 6}, rng, 0.f, 2.f), g = randomBlob({3, 7, 5, 6}, rng);
    std::vector<Mat> cpu;
    computeCAM(CAM_GRADCAM, a, g, cpu);
    UMat ua, ug;
    a.copyTo(ua);
    g.copyTo(ug);
    std::vector<UMat> device;
    computeCAM(CAM_GRADCAM, ua, ug, device);
    ASSERT_EQ(device.size(), 3u);
    for (int n = 0; n < 3; n++)
    {
        Mat m = device[n].getMat(ACCESS_READ).clone();
        EXPECT_LE(relDiff(m, cpu[n]), 1e-5) << "image " << n;
    }
}

/** conv-relu-conv-relu6 ("target") -> GAP -> flatten -> fc(5). */
dnn::Net makeNet(RNG& rng)
{
    dnn::Net net;
    int c1 = addLayer(net, "conv1", "Convolution", convParams(6, 3, 3, rng, 1, 1, 1), {0});
    dnn::LayerParams leaky;
    leaky.set("negative_slope", 0.1f);
    int r1 = addLayer(net, "relu1", "ReLU", leaky, {c1});
    int c2 = addLayer(net, "conv2", "Convolution", convParams(4, 6, 3, rng, 1, 1, 1), {r1});
    dnn::LayerParams six;
    six.set("min_value", 0.f);
    six.set("max_value", 1.f);
    int r2 = addLayer(net, "target", "ReLU6", six, {c2});
    dnn::LayerParams gp;
    gp.set("pool", "ave");
    gp.set("global_pooling", true);
    int gap = addLayer(net, "gap", "Pooling", gp, {r2});
    int flat = addLayer(net, "flat", "Flatten", dnn::LayerParams(), {gap});
    dnn::LayerParams fc;
    fc.set("num_output", 5);
    fc.set("bias_term", true);
    fc.blobs = {randomBlob({5, 4}, rng), randomBlob({1, 5}, rng)};
    addLayer(net, "fc", "InnerProduct", fc, {flat});
    return net;
}

TEST(OCL, GradCAMOnOpenCLTargetMatchesCPUAndStaysOnDevice)
{
    OpenCLScope ocl;
    EXPLAIN_REQUIRE_OPENCL(ocl);
    RNG rng(702), rng2(702);
    dnn::Net cpuNet = makeNet(rng), oclNet = makeNet(rng2);
    oclNet.setPreferableTarget(dnn::DNN_TARGET_OPENCL);
    Mat x = randomBlob({2, 3, 8, 8}, rng);
    Ptr<GradCAM> cpu = GradCAM::create(cpuNet, "target"), dev = GradCAM::create(oclNet, "target");
    cpu->forward(x);
    dev->forward(x);
    ASSERT_TRUE(dev->getBackprop()->isOnDevice()) << "the OpenCL target did not keep activations on the device";
    EXPECT_FALSE(cpu->getBackprop()->isOnDevice());
    for (int cls = 0; cls < 5; cls++)
    {
        std::vector<Mat> mc, cc;
        std::vector<UMat> md, cd;
        cpu->compute(cls, mc, cc);
        const size_t before = hostRoundTrips();
        dev->compute(cls, md, cd);
        // only the class seed goes to the device; maps, gradients and activations stay there
        EXPECT_EQ(hostRoundTrips() - before, 1u) << "class " << cls;
        ASSERT_EQ(md.size(), 2u);
        for (int n = 0; n < 2; n++)
        {
            EXPECT_LE(relDiff(md[n].getMat(ACCESS_READ).clone(), mc[n]), 1e-4) << "class " << cls << " image " << n;
            EXPECT_LE(relDiff(cd[n].getMat(ACCESS_READ).clone(), cc[n]), 1e-4) << "class " << cls << " image " << n;
        }
    }
}

struct DeviceCAMMethod
{
    int method;
    const char* name;
};

// the methods with OpenCL kernels (cam.cl); Eigen-CAM and EigenGrad-CAM stay on the CPU
const DeviceCAMMethod kDeviceCAMMethods[] = {
    {CAM_GRADCAM, "Grad-CAM"}, {CAM_GRADCAM_PLUS_PLUS, "Grad-CAM++"}, {CAM_XGRADCAM, "XGrad-CAM"},
    {CAM_HIRESCAM, "HiResCAM"}, {CAM_GRADCAM_ELEMENTWISE, "Grad-CAM element-wise"}, {CAM_LAYERCAM, "LayerCAM"}};

TEST(OCL, CAMMethodKernelsMatchCPU)
{
    OpenCLScope ocl;
    EXPLAIN_REQUIRE_OPENCL(ocl);
    RNG rng(704);
    // K = 7 channels of 5 x 7: no size a multiple of 4; activations >= 0 (post-ReLU), signed gradients
    // with exact zeros (Grad-CAM++'s g == 0 case)
    Mat a = randomBlob({3, 7, 5, 7}, rng, 0.f, 2.f), g = randomBlob({3, 7, 5, 7}, rng);
    for (size_t i = 0; i < g.total(); i += 5)
        g.ptr<float>()[i] = 0.f;
    UMat ua, ug;
    a.copyTo(ua);
    g.copyTo(ug);
    for (const DeviceCAMMethod& m : kDeviceCAMMethods)
    {
        std::vector<Mat> cpu;
        computeCAM(m.method, a, g, cpu);
        std::vector<UMat> device;
        const size_t before = hostRoundTrips();
        computeCAM(m.method, ua, ug, device);
        // the CPU path would download the UMats (and upload the maps)
        EXPECT_EQ(hostRoundTrips() - before, 0u) << m.name << ": not computed on the device";
        ASSERT_EQ(device.size(), 3u) << m.name;
        double worst = 0;
        for (int n = 0; n < 3; n++)
        {
            Mat d = device[n].getMat(ACCESS_READ).clone();
            ASSERT_EQ(d.size(), cpu[n].size()) << m.name;
            ASSERT_GT(cv::norm(cpu[n], NORM_L2), 0.) << m.name << " image " << n << ": an empty map proves little";
            const double diff = relDiff(d, cpu[n]);
            EXPECT_LE(diff, 1e-5) << m.name << " image " << n;
            worst = std::max(worst, diff);
        }
        std::cout << "[ measured ] computeCAM " << m.name << ": device vs CPU, max relative L2 " << worst << std::endl;
    }
}

TEST(OCL, CAMMethodsOnOpenCLTargetStayOnDevice)
{
    OpenCLScope ocl;
    EXPLAIN_REQUIRE_OPENCL(ocl);
    RNG rng(705);
    dnn::Net net = makeNet(rng);
    net.setPreferableTarget(dnn::DNN_TARGET_OPENCL);
    Mat x = randomBlob({2, 3, 7, 9}, rng);
    Ptr<GradCAM> cam = GradCAM::create(net, "target");
    cam->forward(x);
    ASSERT_TRUE(cam->getBackprop()->isOnDevice());
    for (const DeviceCAMMethod& m : kDeviceCAMMethods)
    {
        cam->setMethod(m.method);
        double worst = 0;
        for (int cls : {0, 3})
        {
            std::vector<UMat> md, cd;
            const size_t before = hostRoundTrips();
            cam->compute(cls, md, cd);
            // only the class seed goes to the device
            EXPECT_EQ(hostRoundTrips() - before, 1u) << m.name << " class " << cls;
            // the same call from the same forward pass with the CPU rules and the CPU maps
            std::vector<Mat> mh, ch;
            ocl::setUseOpenCL(false);
            cam->compute(cls, mh, ch);
            ocl::setUseOpenCL(true);
            ASSERT_EQ(md.size(), 2u);
            ASSERT_EQ(mh.size(), 2u);
            for (int n = 0; n < 2; n++)
            {
                const double dm = relDiff(md[n].getMat(ACCESS_READ).clone(), mh[n]);
                const double dc = relDiff(cd[n].getMat(ACCESS_READ).clone(), ch[n]);
                EXPECT_LE(dm, 1e-5) << m.name << " class " << cls << " image " << n;
                EXPECT_LE(dc, 1e-5) << m.name << " counterfactual, class " << cls << " image " << n;
                worst = std::max({worst, dm, dc});
            }
        }
        std::cout << "[ measured ] GradCAM::compute " << m.name << " on DNN_TARGET_OPENCL: OpenCL on vs off, "
                  << "max relative L2 " << worst << std::endl;
    }
}

TEST(OCL, RectifierRulesMatchCPUInEveryMode)
{
    OpenCLScope ocl;
    EXPLAIN_REQUIRE_OPENCL(ocl);
    RNG rng(703), rng2(703);
    dnn::Net cpuNet = makeNet(rng), oclNet = makeNet(rng2);
    oclNet.setPreferableTarget(dnn::DNN_TARGET_OPENCL);
    Mat x = randomBlob({1, 3, 8, 8}, rng);
    Ptr<Backprop> cpu = Backprop::create(cpuNet), dev = Backprop::create(oclNet);
    cpu->forward(x);
    dev->forward(x);
    ASSERT_TRUE(dev->isOnDevice());
    Mat seed = randomBlob({1, 4, 8, 8}, rng);
    for (int mode = 0; mode < 3; mode++)
    {
        std::vector<Mat> gc;
        std::vector<UMat> gd;
        // from the ReLU6 output to the conv2 output: the ReLU6 kernel alone
        cpu->backward({"target"}, {seed}, {"conv2"}, gc, (RectifierMode)mode);
        dev->backward({"target"}, {seed}, {"conv2"}, gd, (RectifierMode)mode);
        EXPECT_LE(cv::norm(gd[0].getMat(ACCESS_READ), gc[0], NORM_INF), 1e-5) << "mode " << mode;
        // through conv2 (OpenCL GEMM + col2im) and the leaky ReLU kernel
        cpu->backward({"target"}, {seed}, {"conv1"}, gc, (RectifierMode)mode);
        dev->backward({"target"}, {seed}, {"conv1"}, gd, (RectifierMode)mode);
        EXPECT_LE(relDiff(gd[0].getMat(ACCESS_READ).clone(), gc[0]), 1e-4) << "mode " << mode;
    }
}

TEST(OCL, GuidedBackpropToTheInputStaysOnDevice)
{
    OpenCLScope ocl;
    EXPLAIN_REQUIRE_OPENCL(ocl);
    auto build = [](RNG& rng) {
        dnn::Net net;
        int c1 = addLayer(net, "conv1", "Convolution", convParams(6, 3, 3, rng, 1, 1, 1), {0});
        dnn::LayerParams bn;
        bn.set("has_weight", true); bn.set("has_bias", true); bn.set("eps", 1e-5f);
        bn.blobs = {randomBlob({6}, rng), randomBlob({6}, rng, 0.5f, 2.f), randomBlob({6}, rng), randomBlob({6}, rng)};
        int b1 = addLayer(net, "bn1", "BatchNorm", bn, {c1});
        int r1 = addLayer(net, "relu1", "ReLU", dnn::LayerParams(), {b1});
        dnn::LayerParams mp;
        mp.set("pool", "max"); mp.set("kernel_size", 3); mp.set("stride", 2); mp.set("pad", 1);
        int p1 = addLayer(net, "pool1", "Pooling", mp, {r1});
        int c2 = addLayer(net, "conv2", "Convolution", convParams(4, 3, 3, rng, 2, 2, 1), {p1});
        int r2 = addLayer(net, "relu2", "ReLU", dnn::LayerParams(), {c2});
        dnn::LayerParams ap;
        ap.set("pool", "ave"); ap.set("kernel_size", 2); ap.set("stride", 1);
        int p2 = addLayer(net, "pool2", "Pooling", ap, {r2});
        int flat = addLayer(net, "flat", "Flatten", dnn::LayerParams(), {p2});
        dnn::LayerParams fc;
        fc.set("num_output", 3); fc.set("bias_term", false);
        fc.blobs = {randomBlob({3, 4 * 2 * 2}, rng)};
        addLayer(net, "fc", "InnerProduct", fc, {flat});
        return net;
    };
    RNG rng(704), rng2(704);
    dnn::Net cpuNet = build(rng), oclNet = build(rng2);
    oclNet.setPreferableTarget(dnn::DNN_TARGET_OPENCL);
    Mat x = randomBlob({2, 3, 10, 10}, rng);
    Ptr<Backprop> cpu = Backprop::create(cpuNet), dev = Backprop::create(oclNet);
    cpu->forward(x);
    dev->forward(x);
    ASSERT_TRUE(dev->isOnDevice());
    Mat seed = randomBlob({2, 3}, rng);
    for (int mode = 0; mode < 3; mode++)
    {
        std::vector<Mat> gc;
        std::vector<UMat> gd;
        cpu->backward({"fc"}, {seed}, {String()}, gc, (RectifierMode)mode);
        const size_t before = hostRoundTrips();
        dev->backward({"fc"}, {seed}, {String()}, gd, (RectifierMode)mode);
        EXPECT_EQ(hostRoundTrips() - before, 1u) << "mode " << mode << ": only the seed goes up";
        EXPECT_LE(relDiff(gd[0].getMat(ACCESS_READ).clone(), gc[0]), 1e-4) << "mode " << mode;
    }
}

// ---- Device rules against the CPU rules on the same (device) activations ----
// Turning OpenCL off makes every backwardOCL() decline, so the engine copies the device activations to
// the host and runs the CPU rules on them: the comparison isolates the rules from the ~1e-6 differences
// between cv::dnn's OpenCL and CPU forward passes.

/** Turns OpenCL off for a scope (restoring it after), while the Backprop's data stays on the device. */
struct OpenCLOffScope
{
    bool previous = cv::ocl::useOpenCL();
    OpenCLOffScope() { cv::ocl::setUseOpenCL(false); }
    ~OpenCLOffScope() { cv::ocl::setUseOpenCL(previous); }
};

struct DeviceRuleCheck
{
    double relDiff = 0, maxAbsDiff = 0;
    size_t copies = 0;  // host <-> device copies of the device run
};

/** backward() from `seedLayer` to `wrt` on a device Backprop with its device rules, and with the CPU rules
    on the same activations. */
DeviceRuleCheck checkDeviceRule(Backprop& dev, const String& seedLayer, const Mat& seed, const String& wrt,
                                RectifierMode mode = RECTIFIER_EXACT)
{
    DeviceRuleCheck res;
    std::vector<UMat> gd;
    const size_t before = hostRoundTrips();
    dev.backward({seedLayer}, {seed}, {wrt}, gd, mode);
    res.copies = hostRoundTrips() - before;
    Mat device = gd.at(0).getMat(ACCESS_READ).clone();
    std::vector<Mat> gc;
    {
        OpenCLOffScope off;
        dev.backward({seedLayer}, {seed}, {wrt}, gc, mode);
    }
    EXPECT_EQ(dnn::shape(device), dnn::shape(gc.at(0)));
    if (dnn::shape(device) != dnn::shape(gc.at(0)))
        return res;
    res.relDiff = relDiff(device, gc[0]);
    res.maxAbsDiff = cv::norm(device, gc[0], NORM_INF);
    return res;
}

/** Expects the device rules on the path to match the CPU rules and to make no copy but the seed's. */
#define EXPECT_DEVICE_RULE_MATCHES(dev, seedLayer, seed, wrt, tolerance)                                      \
    {                                                                                                          \
        DeviceRuleCheck check_ = checkDeviceRule(*(dev), seedLayer, seed, wrt);                                \
        EXPECT_EQ(check_.copies, 1u) << (seedLayer) << " -> '" << (wrt) << "': only the seed goes to the device"; \
        EXPECT_LE(check_.relDiff, tolerance) << (seedLayer) << " -> '" << (wrt) << "'";                        \
        RecordProperty(std::string(seedLayer) + "->" + std::string(wrt) + " relDiff", std::to_string(check_.relDiff)); \
        std::cout << "[ measured ] " << (seedLayer) << " -> '" << (wrt) << "': relative " << check_.relDiff     \
                  << ", max abs " << check_.maxAbsDiff << std::endl;                                          \
    }

/** The same Net built twice from one seed, on the CPU and on the OpenCL target, after one forward pass. */
struct NetPair
{
    dnn::Net cpuNet, oclNet;
    Ptr<Backprop> cpu, dev;
    RNG rng;  // continues the CPU Net's draws: seeds for backward()

    template <typename Build>
    NetPair(Build build, uint64 seed, const std::vector<int>& inputShape) : rng(seed)
    {
        RNG rngOcl(seed);
        cpuNet = build(rng);
        oclNet = build(rngOcl);
        oclNet.setPreferableTarget(dnn::DNN_TARGET_OPENCL);
        Mat x = randomBlob(inputShape, rng);
        cpu = Backprop::create(cpuNet);
        dev = Backprop::create(oclNet);
        cpu->forward(x);
        dev->forward(x);
    }

    /** A random seed of the layer's output shape. */
    Mat seedFor(const String& layer)
    {
        const Mat a = cpu->getActivation(layer);
        return randomBlob(std::vector<int>(a.size.p, a.size.p + a.dims), rng);
    }
};

TEST(OCL, DepthwiseConvolutionRuleMatchesCPU)
{
    OpenCLScope ocl;
    EXPLAIN_REQUIRE_OPENCL(ocl);
    auto build = [](RNG& rng) {
        dnn::Net net;
        int c1 = addLayer(net, "conv1", "Convolution", convParams(8, 3, 3, rng, 1, 1, 1), {0});
        int r1 = addLayer(net, "relu1", "ReLU", dnn::LayerParams(), {c1});
        // MobileNet-style: 3x3, stride 2, pad 1
        int d1 = addLayer(net, "dw1", "Convolution", convParams(8, 1, 3, rng, 8, 2, 1), {r1});
        int r2 = addLayer(net, "relu2", "ReLU", dnn::LayerParams(), {d1});
        // dilated, larger kernel, odd input size
        addLayer(net, "dw2", "Convolution", convParams(8, 1, 5, rng, 8, 1, 3, 2), {r2});
        return net;
    };
    NetPair p(build, 711, {2, 3, 13, 11});
    ASSERT_TRUE(p.dev->isOnDevice());
    Mat s1 = p.seedFor("dw1"), s2 = p.seedFor("dw2");
    EXPECT_DEVICE_RULE_MATCHES(p.dev, "dw1", s1, "relu1", 1e-5);
    EXPECT_DEVICE_RULE_MATCHES(p.dev, "dw2", s2, "relu2", 1e-5);
    EXPECT_DEVICE_RULE_MATCHES(p.dev, "dw2", s2, "", 1e-5);
    // The depthwise gradient does not depend on the activations: the CPU Net gives the same.
    std::vector<Mat> gc;
    std::vector<UMat> gd;
    p.cpu->backward({"dw2"}, {s2}, {"relu1"}, gc);
    p.dev->backward({"dw2"}, {s2}, {"relu1"}, gd);
    EXPECT_LE(relDiff(gd[0].getMat(ACCESS_READ).clone(), gc[0]), 1e-5);
}

TEST(OCL, ConcatSliceSplitRulesMatchCPU)
{
    OpenCLScope ocl;
    EXPLAIN_REQUIRE_OPENCL(ocl);
    auto build = [](RNG& rng) {
        dnn::Net net;
        int c1 = addLayer(net, "conv1", "Convolution", convParams(6, 3, 3, rng, 1, 1, 1), {0});
        int r1 = addLayer(net, "relu1", "ReLU", dnn::LayerParams(), {c1});
        // one output read twice (device mode needs single-output layers): the engine sums the two gradients
        int sp = addLayer(net, "split", "Split", dnn::LayerParams(), {r1});
        int ca = addLayer(net, "convA", "Convolution", convParams(4, 6, 3, rng, 1, 1, 1), {sp});
        int cb = addLayer(net, "convB", "Convolution", convParams(5, 6, 1, rng), {sp});
        dnn::LayerParams channels;
        channels.set("axis", 1);
        int cat1 = addLayer(net, "cat1", "Concat", channels, {ca, cb});  // 2 x 9 x 10 x 9
        // a crop in three axes and a corner that overlaps it
        dnn::LayerParams crop, corner;
        int cropBegin[] = {0, 1, 2, 1}, cropSize[] = {-1, 6, 7, 7};
        crop.set("begin", DictValue::arrayInt(cropBegin, 4));
        crop.set("size", DictValue::arrayInt(cropSize, 4));
        int cornerBegin[] = {0, 0, 0, 0}, cornerSize[] = {-1, 6, 3, 7};
        corner.set("begin", DictValue::arrayInt(cornerBegin, 4));
        corner.set("size", DictValue::arrayInt(cornerSize, 4));
        int s1 = addLayer(net, "crop", "Slice", crop, {cat1});
        int s2 = addLayer(net, "corner", "Slice", corner, {cat1});
        dnn::LayerParams rows;
        rows.set("axis", 2);
        addLayer(net, "cat2", "Concat", rows, {s1, s2});  // 2 x 6 x 10 x 7
        return net;
    };
    NetPair p(build, 712, {2, 3, 10, 9});
    ASSERT_TRUE(p.dev->isOnDevice());
    ASSERT_EQ(dnn::shape(p.cpu->getActivation("cat2")), dnn::shape(2, 6, 10, 7));
    Mat s1 = p.seedFor("cat1"), s2 = p.seedFor("crop"), s3 = p.seedFor("cat2");
    // each rule alone: data movement, so exactly the CPU values
    EXPECT_DEVICE_RULE_MATCHES(p.dev, "cat1", s1, "convA", 0);
    EXPECT_DEVICE_RULE_MATCHES(p.dev, "cat1", s1, "convB", 0);
    EXPECT_DEVICE_RULE_MATCHES(p.dev, "crop", s2, "cat1", 0);
    EXPECT_DEVICE_RULE_MATCHES(p.dev, "cat2", s3, "cat1", 0);
    EXPECT_DEVICE_RULE_MATCHES(p.dev, "cat2", s3, "relu1", 1e-5);  // through the split and two convolutions
    EXPECT_DEVICE_RULE_MATCHES(p.dev, "cat2", s3, "", 1e-5);
}

TEST(OCL, PermutePaddingRulesMatchCPU)
{
    OpenCLScope ocl;
    EXPLAIN_REQUIRE_OPENCL(ocl);
    auto build = [](RNG& rng) {
        dnn::Net net;
        int c1 = addLayer(net, "conv1", "Convolution", convParams(6, 3, 3, rng, 1, 1, 1), {0});
        int r1 = addLayer(net, "relu1", "ReLU", dnn::LayerParams(), {c1});
        dnn::LayerParams perm;
        int order[] = {0, 2, 3, 1};
        perm.set("order", DictValue::arrayInt(order, 4));
        int pe = addLayer(net, "perm", "Permute", perm, {r1});  // 2 x 5 x 7 x 6
        dnn::LayerParams pad;
        int paddings[] = {0, 0, 1, 2, 2, 0, 1, 3};  // (before, after) of each axis
        pad.set("paddings", DictValue::arrayInt(paddings, 8));
        pad.set("type", "constant");
        pad.set("value", 0.5f);
        int pd = addLayer(net, "pad", "Padding", pad, {pe});  // 2 x 8 x 9 x 10
        dnn::LayerParams back;
        int orderBack[] = {0, 3, 1, 2};
        back.set("order", DictValue::arrayInt(orderBack, 4));
        addLayer(net, "perm2", "Permute", back, {pd});  // 2 x 10 x 8 x 9
        return net;
    };
    NetPair p(build, 713, {2, 3, 5, 7});
    ASSERT_TRUE(p.dev->isOnDevice());
    ASSERT_EQ(dnn::shape(p.cpu->getActivation("pad")), dnn::shape(2, 8, 9, 10));
    ASSERT_EQ(dnn::shape(p.cpu->getActivation("perm2")), dnn::shape(2, 10, 8, 9));
    Mat s1 = p.seedFor("perm"), s2 = p.seedFor("pad"), s3 = p.seedFor("perm2");
    // each rule alone: data movement, so exactly the CPU values
    EXPECT_DEVICE_RULE_MATCHES(p.dev, "perm", s1, "relu1", 0);
    EXPECT_DEVICE_RULE_MATCHES(p.dev, "pad", s2, "perm", 0);
    EXPECT_DEVICE_RULE_MATCHES(p.dev, "perm2", s3, "pad", 0);
    EXPECT_DEVICE_RULE_MATCHES(p.dev, "perm2", s3, "relu1", 0);
    EXPECT_DEVICE_RULE_MATCHES(p.dev, "perm2", s3, "", 1e-5);  // and through the convolution
}

TEST(OCL, EltwiseAndScaleRulesMatchCPU)
{
    OpenCLScope ocl;
    EXPLAIN_REQUIRE_OPENCL(ocl);
    auto build = [](RNG& rng) {
        dnn::Net net;
        int a = addLayer(net, "relu1", "ReLU", dnn::LayerParams(),
                         {addLayer(net, "conv1", "Convolution", convParams(6, 3, 3, rng, 1, 1, 1), {0})});
        dnn::LayerParams clip;  // in [0.5, 2]: a safe denominator
        clip.set("min_value", 0.5f);
        clip.set("max_value", 2.f);
        int b = addLayer(net, "clip", "ReLU6", clip,
                         {addLayer(net, "conv2", "Convolution", convParams(6, 3, 3, rng, 1, 1, 1), {0})});
        int c = addLayer(net, "conv3", "Convolution", convParams(6, 3, 3, rng, 1, 1, 1), {0});
        auto eltwise = [&](const String& name, const String& op, const std::vector<int>& inputs) {
            dnn::LayerParams lp;
            lp.set("operation", op);
            addLayer(net, name, "Eltwise", lp, inputs);
        };
        eltwise("prod", "prod", {a, b, c});
        eltwise("max", "max", {a, c, b});
        eltwise("div", "div", {c, b, b});
        // squeeze-excitation: x * w, w (N x C x 1 x 1) from a branch of its own
        dnn::LayerParams gp;
        gp.set("pool", "ave");
        gp.set("global_pooling", true);
        int gap = addLayer(net, "gap", "Pooling", gp, {0});
        int w = addLayer(net, "excite", "ReLU6", clip,
                         {addLayer(net, "squeeze", "Convolution", convParams(6, 3, 1, rng), {gap})});
        dnn::LayerParams se;
        se.set("axis", 0);  // N x C weights: the batch and channel axes
        addLayer(net, "se", "Scale", se, {a, w});
        // weights and bias blobs, per channel
        dnn::LayerParams sc;
        sc.set("axis", 1);
        sc.set("bias_term", true);
        sc.blobs = {randomBlob({6}, rng), randomBlob({6}, rng)};
        addLayer(net, "scale", "Scale", sc, {a});
        return net;
    };
    NetPair p(build, 713, {2, 3, 8, 8});
    ASSERT_TRUE(p.dev->isOnDevice());
    for (const char* op : {"prod", "max", "div"})
    {
        Mat seed = p.seedFor(op);
        if (String(op) != "div")
            EXPECT_DEVICE_RULE_MATCHES(p.dev, op, seed, "relu1", 1e-5);
        EXPECT_DEVICE_RULE_MATCHES(p.dev, op, seed, "clip", 1e-5);  // div: both denominators
        EXPECT_DEVICE_RULE_MATCHES(p.dev, op, seed, "conv3", 1e-5);
    }
    Mat se = p.seedFor("se"), sc = p.seedFor("scale");
    EXPECT_DEVICE_RULE_MATCHES(p.dev, "se", se, "relu1", 1e-5);
    EXPECT_DEVICE_RULE_MATCHES(p.dev, "se", se, "excite", 1e-5);
    EXPECT_DEVICE_RULE_MATCHES(p.dev, "scale", sc, "relu1", 1e-5);
}

TEST(OCL, SoftmaxRulesMatchCPU)
{
    OpenCLScope ocl;
    EXPLAIN_REQUIRE_OPENCL(ocl);
    auto build = [](RNG& rng) {
        dnn::Net net;
        int c1 = addLayer(net, "conv1", "Convolution", convParams(4, 3, 3, rng, 1, 1, 1), {0});
        auto softmax = [&](const String& name, int axis, bool log, int input) {
            dnn::LayerParams lp;
            lp.set("axis", axis);
            lp.set("log_softmax", log);
            return addLayer(net, name, "Softmax", lp, {input});
        };
        softmax("channels", 1, false, c1);
        softmax("logRows", 2, true, c1);
        softmax("lastAxis", -1, false, c1);
        // a classifier's head: N x classes
        dnn::LayerParams fc;
        fc.set("num_output", 7);
        fc.set("bias_term", false);
        fc.blobs = {randomBlob({7, 4 * 6 * 5}, rng)};
        int logits = addLayer(net, "fc", "InnerProduct", fc, {c1});
        softmax("prob", 1, false, logits);
        softmax("logProb", 1, true, logits);
        return net;
    };
    NetPair p(build, 714, {2, 3, 6, 5});
    ASSERT_TRUE(p.dev->isOnDevice());
    for (const char* layer : {"channels", "logRows", "lastAxis"})
        EXPECT_DEVICE_RULE_MATCHES(p.dev, layer, p.seedFor(layer), "conv1", 1e-5);
    for (const char* layer : {"prob", "logProb"})
    {
        Mat seed = p.seedFor(layer);
        EXPECT_DEVICE_RULE_MATCHES(p.dev, layer, seed, "fc", 1e-5);
        EXPECT_DEVICE_RULE_MATCHES(p.dev, layer, seed, "", 1e-5);  // through the fc and the convolution
    }
}

TEST(OCL, ResizeRulesMatchCPU)
{
    OpenCLScope ocl;
    EXPLAIN_REQUIRE_OPENCL(ocl);
    auto build = [](RNG& rng) {
        dnn::Net net;
        int c1 = addLayer(net, "conv1", "Convolution", convParams(4, 3, 3, rng, 1, 1, 1), {0});
        dnn::LayerParams nearest;  // x2, through cv::resize
        nearest.set("interpolation", "nearest");
        nearest.set("zoom_factor", 2);
        addLayer(net, "nearest", "Resize", nearest, {c1});
        dnn::LayerParams aligned;  // to an odd size, ResizeLayer's own formula
        aligned.set("interpolation", "bilinear");
        aligned.set("align_corners", true);
        aligned.set("height", 11);
        aligned.set("width", 7);
        addLayer(net, "aligned", "Resize", aligned, {c1});
        dnn::LayerParams down;  // downscaling, half-pixel centres (cv::resize)
        down.set("interpolation", "opencv_linear");
        down.set("height", 4);
        down.set("width", 3);
        addLayer(net, "down", "Resize", down, {c1});
        return net;
    };
    NetPair p(build, 715, {2, 3, 6, 5});
    ASSERT_TRUE(p.dev->isOnDevice());
    for (const char* layer : {"nearest", "aligned", "down"})
        EXPECT_DEVICE_RULE_MATCHES(p.dev, layer, p.seedFor(layer), "conv1", 1e-5);
    Mat seed = p.seedFor("aligned");
    EXPECT_DEVICE_RULE_MATCHES(p.dev, "aligned", seed, "", 1e-5);
}

}} // namespace
