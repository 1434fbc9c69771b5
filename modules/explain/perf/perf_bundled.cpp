// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// The bundled model (data/default_model.onnx, 1 x 3 x 64 x 64), so that every build measures something
// without the exported ResNet-50/MobileNetV2 of perf_gradcam.cpp: the plain forward pass, the GradCAM
// forward pass, Grad-CAM and guided backpropagation of the top class. Its rows join perf_gradcam.cpp's
// ratio table (model "bundled"). On OpenCV 5 the model is read with the classic engine.
#include "perf_framework.hpp"

#include <opencv2/explain/gradcam.hpp>
#include <opencv2/imgcodecs.hpp>

namespace opencv_test { namespace {

using namespace cv;
using namespace cv::explain;

typedef perf::TestBaseWithParam<int> Bundled;  // the batch size

dnn::Net readBundled()
{
    return cv::explain::readNet(EXPLAIN_DATA_DIR "/default_model.onnx");
}

Mat bundledBlob(int batch)
{
    Mat image = imread(EXPLAIN_DATA_DIR "/default_image.png");
    std::vector<Mat> images(batch, image);
    return dnn::blobFromImages(images, 1.0 / 255, Size(64, 64), Scalar(), true);
}

#define BUNDLED_SETUP(method)                            \
    const int batch = GetParam();                        \
    dnn::Net net = readBundled();                        \
    const Mat blob = bundledBlob(batch);                 \
    tag("method", method);                               \
    tag("model", "bundled");                             \
    tag("batch", std::to_string(batch))

PERF_TEST_P(Bundled, dnn_forward, testing::Values(1))
{
    BUNDLED_SETUP("dnn forward");
    Mat out;
    TEST_CYCLE()
    {
        net.setInput(blob);
        out = net.forward();
    }
    ASSERT_EQ(out.total(), (size_t)batch * 4);
    SANITY_CHECK_NOTHING();
}

PERF_TEST_P(Bundled, cam_forward, testing::Values(1))
{
    BUNDLED_SETUP("GradCAM::forward only");
    Ptr<GradCAM> cam = GradCAM::create(net);
    TEST_CYCLE() cam->forward(blob);
    ASSERT_EQ(cam->getScores().rows, batch);
    SANITY_CHECK_NOTHING();
}

PERF_TEST_P(Bundled, gradcam, testing::Values(1))
{
    BUNDLED_SETUP("Grad-CAM");
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

PERF_TEST_P(Bundled, guided_backprop, testing::Values(1))
{
    BUNDLED_SETUP("guided backprop");
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

}} // namespace opencv_test
