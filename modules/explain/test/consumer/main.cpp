// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// Links against the installed opencv_explain and runs a Grad-CAM on a one-layer net.
#include <opencv2/explain.hpp>
#include <iostream>

int main()
{
    cv::dnn::Net net;
    cv::dnn::LayerParams conv;
    conv.set("kernel_size", 1);
    conv.set("num_output", 2);
    conv.set("bias_term", false);
    conv.blobs.push_back(cv::Mat(std::vector<int>{2, 1, 1, 1}, CV_32F, cv::Scalar(1)));
    net.addLayerToPrev("conv", "Convolution", conv);
    cv::Ptr<cv::explain::GradCAM> cam = cv::explain::GradCAM::create(net, "conv");
    cam->forward(cv::Mat(std::vector<int>{1, 1, 3, 3}, CV_32F, cv::Scalar(1)));
    std::vector<cv::Mat> maps;
    cam->computeFromGradient("conv", cv::Mat(std::vector<int>{1, 2, 3, 3}, CV_32F, cv::Scalar(1)), maps);
    std::cout << "consumer: Grad-CAM map " << maps[0].size() << " sum " << cv::sum(maps[0])[0] << std::endl;
    return maps.size() == 1 && cv::sum(maps[0])[0] > 0 ? 0 : 1;
}
