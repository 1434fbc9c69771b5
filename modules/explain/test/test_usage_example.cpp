// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// The README's usage example, compiled and run on the bundled model and image. The test
// ReadmeExample.MatchesReadme checks that README.md shows exactly this code.
#include "test_common.hpp"
#include <fstream>
#include <sstream>
#include <opencv2/imgcodecs.hpp>

namespace opencv_test { namespace {

// README-EXAMPLE-BEGIN
cv::Mat explainImage(const std::string& modelPath, const cv::Mat& image)
{
    cv::dnn::Net net = cv::explain::readNet(modelPath);  // OpenCV 5: on the classic engine
    cv::Ptr<cv::explain::GradCAM> cam = cv::explain::GradCAM::create(net);  // last spatial layer

    cv::Mat blob = cv::dnn::blobFromImage(image, 1.0 / 255, cv::Size(64, 64), cv::Scalar(), true);
    cam->forward(blob);                      // one forward pass serves any number of classes
    std::vector<cv::Mat> maps, counterfactual;
    cam->compute(-1, maps, counterfactual);  // -1: the top-1 class of each image

    cv::Mat heat, shown;
    cv::explain::resizeMap(maps[0], image.size(), heat);  // bilinear, normalized to [0, 1]
    cv::explain::applyMapOverlay(image, heat, shown);     // COLORMAP_JET over the image
    return shown;
}
// README-EXAMPLE-END

std::string readFile(const std::string& path)
{
    std::ifstream f(path);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

std::string between(const std::string& text, const std::string& begin, const std::string& end)
{
    size_t b = text.find(begin), e = text.find(end);
    if (b == std::string::npos || e == std::string::npos || e < b)
        return std::string();
    b = text.find('\n', b) + 1;
    e = text.rfind('\n', e);
    return text.substr(b, e - b + 1);
}

TEST(ReadmeExample, RunsOnBundledModel)
{
    Mat image = imread(EXPLAIN_DATA_DIR "/default_image.png");
    ASSERT_FALSE(image.empty());
    Mat shown = explainImage(EXPLAIN_DATA_DIR "/default_model.onnx", image);
    EXPECT_EQ(shown.size(), image.size());
    EXPECT_EQ(shown.type(), CV_8UC3);
}

TEST(ReadmeExample, MatchesReadme)
{
    const std::string code = between(readFile(EXPLAIN_SOURCE_DIR "/modules/explain/test/test_usage_example.cpp"),
                                     "// README-EXAMPLE-BEGIN", "// README-EXAMPLE-END");
    const std::string readme = readFile(EXPLAIN_SOURCE_DIR "/README.md");
    ASSERT_FALSE(code.empty());
    EXPECT_NE(readme.find(code), std::string::npos) << "README.md must show the example of test_usage_example.cpp:\n"
                                                    << code;
}

}} // namespace
