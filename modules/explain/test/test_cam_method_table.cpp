// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// The CAM method table: one entry per CAMMethod value, and every place that reads it agrees with it.
#include "test_ocl_common.hpp"
#include "../src/cam_method_table.hpp"  // internal
#include "../src/ocl_ops.hpp"  // hostRoundTrips, internal
#include <set>

namespace opencv_test { namespace {

using cv::explain::detail::CamKind;
using cv::explain::detail::CamMethodSpec;

/** conv1 (3 -> 4) -> relu1 (the target) -> GAP -> FC(3). */
Ptr<GradCAM> convReluCam(uint64 seed)
{
    RNG rng(seed);
    dnn::Net net;
    int c1 = addLayer(net, "conv1", "Convolution", convParams(4, 3, 3, rng, 1, 1, 1), {0});
    int r1 = addLayer(net, "relu1", "ReLU", dnn::LayerParams(), {c1});
    addGapFcHead(net, r1, 4, 3, rng);
    return GradCAM::create(net, "relu1");
}

TEST(CAMMethodTable, OneEntryPerMethod)
{
    const std::vector<CamMethodSpec>& table = cv::explain::detail::camMethodTable();
    for (int id = CAM_GRADCAM; id <= CAM_ABLATIONCAM; id++)
    {
        int entries = 0;
        for (const CamMethodSpec& spec : table)
            entries += spec.id == id ? 1 : 0;
        EXPECT_EQ(entries, 1) << "CAM method " << id;
    }
    EXPECT_EQ(table.size(), (size_t)(CAM_ABLATIONCAM - CAM_GRADCAM + 1)) << "an entry outside CAMMethod";
    std::set<std::string> names, oclNames;
    for (const CamMethodSpec& spec : table)
    {
        ASSERT_TRUE(spec.name != nullptr) << "CAM method " << spec.id;
        EXPECT_TRUE(names.insert(spec.name).second) << "the name " << spec.name << " twice";
        if (spec.oclName)
            EXPECT_TRUE(oclNames.insert(spec.oclName).second) << "the OpenCL name " << spec.oclName << " twice";
    }
}

TEST(CAMMethodTable, EntriesAreComplete)
{
    for (const CamMethodSpec& spec : cv::explain::detail::camMethodTable())
    {
        const bool forward = spec.kind == CamKind::FORWARD_PASSES;
        // a gradient kind combines A and g, a forward-pass method runs its own passes
        EXPECT_EQ(spec.combine == nullptr, forward) << spec.name;
        EXPECT_EQ(spec.perturb == nullptr, !forward) << spec.name;
        EXPECT_FALSE(forward && spec.needsGradients) << spec.name;
        // only the channel-weight and element-wise kinds have OpenCL snippets
        if (spec.oclName)
            EXPECT_TRUE(spec.kind == CamKind::CHANNEL_WEIGHTS || spec.kind == CamKind::ELEMENTWISE) << spec.name;
        EXPECT_EQ(cv::explain::detail::camKernelOptions(spec).empty(), spec.oclName == nullptr) << spec.name;
    }
}

TEST(CAMMethodTable, SetMethodAcceptsExactlyTheTable)
{
    Ptr<GradCAM> cam = convReluCam(410);
    for (const CamMethodSpec& spec : cv::explain::detail::camMethodTable())
    {
        cam->setMethod(spec.id);
        EXPECT_EQ(cam->getMethod(), spec.id);
    }
    for (int unknown : {CAM_GRADCAM - 1, CAM_ABLATIONCAM + 1, 1000})
        expectError([&] { cam->setMethod(unknown); }, format("explain: unknown CAM method %d", unknown));
    EXPECT_EQ(cam->getMethod(), cv::explain::detail::camMethodTable().back().id) << "a rejected value was kept";
}

TEST(CAMMethodTable, CounterfactualRefusalsComeFromTheTable)
{
    Ptr<GradCAM> cam = convReluCam(411);
    RNG rng(411);
    cam->forward(randomBlob({1, 3, 5, 5}, rng));
    for (const CamMethodSpec& spec : cv::explain::detail::camMethodTable())
    {
        cam->setMethod(spec.id);
        std::vector<Mat> maps, counter;
        if (spec.hasCounterfactual())
        {
            cam->compute(0, maps, counter);
            EXPECT_EQ(counter.size(), 1u) << spec.name;
        }
        else
            expectError([&] { cam->compute(0, maps, counter); },
                        std::string("explain: ") + spec.noCounterfactual + ", so it has no counterfactual map");
    }
}

TEST(CAMMethodTable, ForwardPassMethodsAreRefusedWhereOneBackwardPassServesAll)
{
    Ptr<GradCAM> cam = convReluCam(412);
    RNG rng(412);
    cam->forward(randomBlob({1, 3, 5, 5}, rng));
    for (const CamMethodSpec& spec : cv::explain::detail::camMethodTable())
    {
        cam->setMethod(spec.id);
        std::vector<Mat> maps;
        if (spec.kind != CamKind::FORWARD_PASSES)
        {
            cam->computeLayers({"relu1"}, 0, Size(5, 5), maps);
            cam->computeAugSmooth(0, maps);
            EXPECT_EQ(maps.size(), 1u) << spec.name;
            continue;
        }
        expectError([&] { cam->computeLayers({"relu1"}, 0, Size(5, 5), maps); },
                    "explain: computeLayers supports the gradient-based methods and Eigen-CAM");
        expectError([&] { cam->computeAugSmooth(0, maps); },
                    "explain: computeAugSmooth supports the gradient-based methods and Eigen-CAM");
        expectError([&] { computeCAM(spec.id, Mat(std::vector<int>{1, 4, 5, 5}, CV_32F, Scalar(1)),
                                     Mat(std::vector<int>{1, 4, 5, 5}, CV_32F, Scalar(1)), maps); },
                    format("explain: CAM method %d cannot be computed from activations and gradients alone", spec.id));
    }
}

TEST(CAMMethodTable, EveryOpenCLSnippetMatchesTheCPU)
{
    // each entry with an oclName builds cam.cl with its options and runs on the device
    OpenCLScope ocl;
    EXPLAIN_REQUIRE_OPENCL(ocl);
    RNG rng(413);
    Mat a = randomBlob({2, 5, 4, 3}, rng, 0.f, 2.f), g = randomBlob({2, 5, 4, 3}, rng);
    UMat ua, ug;
    a.copyTo(ua);
    g.copyTo(ug);
    int checked = 0;
    for (const CamMethodSpec& spec : cv::explain::detail::camMethodTable())
    {
        if (!spec.oclName)
            continue;
        std::vector<Mat> cpu;
        std::vector<UMat> device;
        computeCAM(spec.id, a, g, cpu);
        const size_t before = hostRoundTrips();
        computeCAM(spec.id, ua, ug, device);
        EXPECT_EQ(hostRoundTrips() - before, 0u) << spec.name << ": not computed on the device";
        ASSERT_EQ(device.size(), 2u) << spec.name;
        for (int n = 0; n < 2; n++)
            EXPECT_LE(relDiff(device[n].getMat(ACCESS_READ).clone(), cpu[n]), 1e-5) << spec.name << " image " << n;
        checked++;
    }
    EXPECT_GT(checked, 0);
}

}} // namespace
