// What the explain samples share: the flags that turn an image into the model's input blob.
#ifndef EXPLAIN_SAMPLE_COMMON_HPP
#define EXPLAIN_SAMPLE_COMMON_HPP

#include <opencv2/core.hpp>
#include <opencv2/core/utility.hpp>
#include <opencv2/dnn.hpp>

#include <sstream>
#include <string>

/** The preprocessing flags --width, --height, --scale, --mean and --rgb. */
struct BlobOptions
{
    int width = 0, height = 0;
    double scale = 0;
    cv::Scalar mean;
    bool rgb = false;

    /** Reads the flags; 0 sizes and scale take the defaults of the bundled model (64 x 64, 1/255, RGB)
        or of an ImageNet model (224 x 224, 1). */
    void read(const cv::CommandLineParser& parser, bool bundled)
    {
        width = parser.get<int>("width");
        height = parser.get<int>("height");
        scale = parser.get<double>("scale");
        std::stringstream ss(parser.get<std::string>("mean"));
        for (int i = 0; i < 4 && ss >> mean[i]; i++) {}
        rgb = parser.has("rgb") || bundled;
        if (width <= 0) width = bundled ? 64 : 224;
        if (height <= 0) height = bundled ? 64 : 224;
        if (scale <= 0) scale = bundled ? 1.0 / 255 : 1.0;
    }

    cv::Mat blobFromImage(const cv::Mat& image) const
    {
        return cv::dnn::blobFromImage(image, scale, cv::Size(width, height), mean, rgb, false);
    }
};

#endif
