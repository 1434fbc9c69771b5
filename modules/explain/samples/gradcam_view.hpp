// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// How example_explain_gradcam shows its maps: each map as an image at the input image's size and aspect,
// the paper's figure as one panel, the caption drawn over a live frame, and the viewer's keys.
#ifndef EXPLAIN_GRADCAM_VIEW_HPP
#define EXPLAIN_GRADCAM_VIEW_HPP

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/explain.hpp>

#include <algorithm>
#include <string>
#include <vector>

namespace gradcam_sample {

/** The maps of one image that were computed (empty when not asked for). */
struct Maps
{
    std::vector<cv::Mat> gradcam, counterfactual;  // one 2D map per image, at the target layer's size
    cv::Mat guided, guidedGradCAM;                 // N x C x H x W at the net's input size
};

/** The method names of --methods, and how the viewer and the panel title them. */
inline std::string methodTitle(const std::string& method)
{
    if (method == "gradcam") return "Grad-CAM";
    if (method == "counterfactual") return "Counterfactual";
    if (method == "guided") return "Guided Backprop";
    if (method == "guided_gradcam") return "Guided Grad-CAM";
    return method;
}

/** One map as a picture of `image`'s size: a CAM map as a heat map over the image, an input gradient as an
    image. Gradients come at the net's input size (blobFromImage stretched the image to it), so they are
    stretched back: the picture has the image's size and aspect for every method. */
inline cv::Mat renderMap(const std::string& method, const cv::Mat& image, const Maps& m, bool rgb, int index = 0)
{
    cv::Mat shown, heat;
    if (method == "gradcam" || method == "counterfactual")
    {
        //! [overlay]
        cv::explain::resizeMap((method == "gradcam" ? m.gradcam : m.counterfactual)[index], image.size(), heat);
        cv::explain::applyMapOverlay(image, heat, shown);
        //! [overlay]
        return shown;
    }
    //! [gradient_image]
    cv::explain::gradientToImage(method == "guided" ? m.guided : m.guidedGradCAM, shown, index, rgb);
    //! [gradient_image]
    if (shown.size() != image.size())
        cv::resize(shown, shown, image.size(), 0, 0, cv::INTER_LINEAR);
    return shown;
}

/** `image` enlarged (never shrunk) so that its shorter side is at least `minSide`, keeping its aspect: text
    stays readable on small images. */
inline cv::Mat enlargeTo(const cv::Mat& image, int minSide)
{
    const int side = std::min(image.cols, image.rows);
    if (side >= minSide)
        return image;
    cv::Mat big;
    const double f = (double)minSide / side;
    cv::resize(image, big, cv::Size(cvRound(image.cols * f), cvRound(image.rows * f)), 0, 0, cv::INTER_LINEAR);
    return big;
}

/** Lines of text on a dark box at the top left of `frame`. */
inline void drawLines(cv::Mat& frame, const std::vector<std::string>& lines)
{
    const int font = cv::FONT_HERSHEY_SIMPLEX, lineH = 18;
    const double scale = 0.5;
    int width = 0;
    for (const std::string& l : lines)
        width = std::max(width, cv::getTextSize(l, font, scale, 1, nullptr).width);
    cv::Mat box = frame(cv::Rect(0, 0, std::min(width + 10, frame.cols), std::min((int)lines.size() * lineH + 8, frame.rows)));
    box *= 0.35;  // darken rather than cover: the map stays visible under the text
    for (size_t i = 0; i < lines.size(); i++)
        cv::putText(frame, lines[i], cv::Point(5, 18 + (int)i * lineH), font, scale, cv::Scalar(255, 255, 255), 1, cv::LINE_AA);
}

/** A tile of the panel: `image` at height `h` with `title` on a white strip below it. */
inline cv::Mat panelTile(const cv::Mat& image, int h, const std::string& title)
{
    const int font = cv::FONT_HERSHEY_SIMPLEX;
    const double scale = 0.5;
    const int textW = cv::getTextSize(title, font, scale, 1, nullptr).width;
    cv::Mat scaled;
    cv::resize(image, scaled, cv::Size(std::max(1, cvRound(image.cols * (double)h / image.rows)), h), 0, 0, cv::INTER_LINEAR);
    const int w = std::max(scaled.cols, textW + 10), strip = 26;
    cv::Mat tile(h + strip, w, CV_8UC3, cv::Scalar(255, 255, 255));
    scaled.copyTo(tile(cv::Rect((w - scaled.cols) / 2, 0, scaled.cols, h)));
    cv::putText(tile, title, cv::Point((w - textW) / 2, h + 18), font, scale, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
    return tile;
}

/** The paper's figure as one picture: the image, Grad-CAM, guided backprop, Guided Grad-CAM and the
    counterfactual map side by side, titled with the class (`className`, e.g. "square"). Small images are
    enlarged to 224 pixels high so that the titles fit. */
inline cv::Mat makePanel(const cv::Mat& image, const Maps& m, bool rgb, const std::string& className, int index = 0)
{
    const int h = std::max(image.rows, 224);
    const std::string q = "'" + className + "'";
    std::vector<cv::Mat> tiles{panelTile(image, h, "image: " + q),
                               panelTile(renderMap("gradcam", image, m, rgb, index), h, "Grad-CAM " + q),
                               panelTile(renderMap("guided", image, m, rgb, index), h, "Guided Backprop " + q),
                               panelTile(renderMap("guided_gradcam", image, m, rgb, index), h, "Guided Grad-CAM " + q),
                               panelTile(renderMap("counterfactual", image, m, rgb, index), h, "Counterfactual " + q)};
    const cv::Mat gap(tiles[0].rows, 4, CV_8UC3, cv::Scalar(255, 255, 255));
    std::vector<cv::Mat> row;
    for (const cv::Mat& t : tiles)
    {
        if (!row.empty())
            row.push_back(gap);
        row.push_back(t);
    }
    cv::Mat panel;
    cv::hconcat(row, panel);
    return panel;
}

/** What the viewer shows; changed by its keys. */
struct ViewState
{
    int rank = 0;        // the class explained: top-(rank + 1)
    size_t method = 0;   // index into --methods
    size_t layer = 0;    // index into the candidate target layers
    bool panel = false;  // the whole figure instead of one method
    bool paused = false;
    bool next = false;   // still frames: go on to the next one
    bool quit = false;
};

/** The viewer's keys: 1-5 the top-k class, m the next method, l the next (shallower) target layer, p the
    panel, space pause (video) or next image (stills), n the next image, q or Esc quit. Returns whether the
    key changed what is shown (the frame is explained again). */
inline bool handleKey(int key, ViewState& s, size_t methods, size_t layers, int classes)
{
    key &= 0xFF;
    if (key >= '1' && key <= '5' && key - '1' < classes)
        return s.rank = key - '1', true;
    switch (key)
    {
    case 'm': s.method = (s.method + 1) % std::max<size_t>(methods, 1); return true;
    case 'l': s.layer = (s.layer + 1) % std::max<size_t>(layers, 1); return true;
    case 'p': s.panel = !s.panel; return true;
    case ' ': s.paused = !s.paused; s.next = true; return false;
    case 'n': s.next = true; return false;
    case 'q': case 27: s.quit = true; return false;
    default: return false;
    }
}

inline const char* keyHelp()
{
    return "keys: 1-5 class (top-k), m method, l layer, p panel, space pause/next, n next image, q quit";
}

} // namespace gradcam_sample

#endif
