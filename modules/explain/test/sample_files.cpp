// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// Inputs for the sample tests, made from the bundled image, and independent checks of what the samples
// wrote (read back with OpenCV, compared with what the inputs are known to be).
//
//   explain_sample_files make <dir>        writes the inputs below
//   explain_sample_files image <png> <width> <height>          the image has that size
//   explain_sample_files video <avi> <frames> <min side>       the video has that many frames, each at least that big
//   explain_sample_files panel <png> <tiles> <tile width>       a panel of that many tiles, each at least that wide
//   explain_sample_files index <expected.jsonl> <actual.jsonl>...
//       the lines of the actual indexes, together, equal the expected index's as a set, each line taken
//       without its "time_ms" member (timing differs from run to run); every line once
//   explain_sample_files lines <file> <count>                 the file has that many lines
//   explain_sample_files absent <path>                        no such file
//
// The bundled image (64x64) shows a square at x 38..59, y 40..61 (tools/README.md). The inputs:
//   clip.avi          12 frames (MJPG, 10 fps, 96x64): the image on a 96-pixel-wide canvas, moving right 2 px a frame
//   long.avi          1000 frames of the image (MJPG, 25 fps, 64x64), for Ctrl-C
//   images/a.png      the bundled image; images/b_wide.png the image padded to 96x64 (square at x 70);
//   images/sub/c_flipped.png the image flipped left-right (square at x 4)
//   bad/              images/ plus broken.png (not an image) and empty.jpg (0 bytes)
//   seq/frame_%02d.png  3 frames of the image on the 96x64 canvas; inside/a.png the bundled image; empty/
//   images/manifest.csv    path,class,x,y,w,h for the three images with their squares' boxes
//   images/manifest.jsonl  the same as JSON lines, plus a.png explained for class 0 (circle)
//   fixed_batch.onnx  a model whose scores do not follow the batch (see fixedBatchModel())
#include <opencv2/core.hpp>
#include <opencv2/core/utils/filesystem.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>

#include "onnx_writer.hpp"

#include <algorithm>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#ifndef EXPLAIN_DATA_DIR
#error "EXPLAIN_DATA_DIR must be defined"
#endif

using namespace cv;

static int failWith(const std::string& message)
{
    std::cerr << "FAILED: " << message << "\n";
    return 1;
}

static void writeText(const std::string& path, const std::string& text)
{
    std::ofstream(path, std::ios::binary) << text;
}

/** `image` at column `x` of a black 96x64 canvas. */
static Mat onCanvas(const Mat& image, int x)
{
    Mat canvas(64, 96, CV_8UC3, Scalar::all(0));
    image.copyTo(canvas(Rect(x, 0, 64, 64)));
    return canvas;
}

/** A small ONNX model whose scores do not follow the batch: x (1x3x8x8) -> Conv 3x3 (4 channels) -> Relu ->
    GlobalAveragePool -> Reshape to [1, -1]. A batch of N images gives one row of 4N scores, which the
    explainer refuses; one image at a time works. */
static std::string fixedBatchModel()
{
    std::vector<float> w(4 * 3 * 3 * 3);
    for (size_t i = 0; i < w.size(); i++)
        w[i] = (float)((int)(i * 7 % 11) - 5) / 10;
    onnxw::Graph g;
    g.initializers = {onnxw::floatTensor("w", {4, 3, 3, 3}, w), onnxw::int64Tensor("shape", {2}, {1, -1})};
    g.nodes = {{"Conv", {"x", "w"}, {"conv"}, {onnxw::attrInts("kernel_shape", {3, 3}), onnxw::attrInts("pads", {1, 1, 1, 1})}},
               {"Relu", {"conv"}, {"relu"}, {}},
               {"GlobalAveragePool", {"relu"}, {"gap"}, {}},
               {"Reshape", {"gap", "shape"}, {"scores"}, {}}};
    g.inputs = {onnxw::valueInfo("x", {1, 3, 8, 8})};
    g.outputs = {onnxw::valueInfo("scores", {1, 4})};
    return g.model(11);
}

static int make(const std::string& dir)
{
    const Mat image = imread(EXPLAIN_DATA_DIR "/default_image.png", IMREAD_COLOR);
    if (image.empty())
        return failWith("cannot read the bundled image");
    for (const char* sub : {"images/sub", "bad/sub", "seq", "inside", "empty"})
        utils::fs::createDirectories(dir + "/" + sub);
    VideoWriter video(dir + "/clip.avi", CAP_OPENCV_MJPEG, VideoWriter::fourcc('M', 'J', 'P', 'G'), 10, Size(96, 64));
    if (!video.isOpened())
        return failWith("cannot write " + dir + "/clip.avi");
    for (int i = 0; i < 12; i++)
        video.write(onCanvas(image, 2 * i));
    video.release();
    VideoWriter longVideo(dir + "/long.avi", CAP_OPENCV_MJPEG, VideoWriter::fourcc('M', 'J', 'P', 'G'), 25, Size(64, 64));
    for (int i = 0; i < 1000; i++)
        longVideo.write(image);
    longVideo.release();
    Mat flipped;
    flip(image, flipped, 1);
    for (const char* folder : {"images", "bad"})
    {
        const std::string d = dir + "/" + folder;
        imwrite(d + "/a.png", image);
        imwrite(d + "/b_wide.png", onCanvas(image, 32));
        imwrite(d + "/sub/c_flipped.png", flipped);
    }
    for (int i = 0; i < 3; i++)
        imwrite(format("%s/seq/frame_%02d.png", dir.c_str(), i), onCanvas(image, 10 * i));
    imwrite(dir + "/inside/a.png", image);
    writeText(dir + "/bad/broken.png", "this is not a PNG file\n");
    writeText(dir + "/bad/empty.jpg", "");
    writeText(dir + "/fixed_batch.onnx", fixedBatchModel());
    writeText(dir + "/images/notes.txt", "not an image: the tools skip it\n");
    writeText(dir + "/images/manifest.csv", "path,class,x,y,w,h\na.png,,38,40,22,22\nb_wide.png,1,70,40,22,22\nsub/c_flipped.png,,4,40,22,22\n");
    writeText(dir + "/images/manifest.jsonl",
              "{\"path\": \"a.png\", \"box\": [38, 40, 22, 22]}\n"
              "{\"path\": \"a.png\", \"class\": 0, \"note\": \"the circle, which is not there\"}\n"
              "{\"path\": \"b_wide.png\", \"class\": 1, \"box\": [[70, 40, 22, 22]]}\n"
              "{\"path\": \"sub/c_flipped.png\", \"box\": [4, 40, 22, 22]}\n");
    std::cout << "wrote the sample test inputs to " << dir << "\n";
    return 0;
}

static int checkImage(const std::string& path, int width, int height)
{
    const Mat m = imread(path, IMREAD_UNCHANGED);
    if (m.empty())
        return failWith("cannot read '" + path + "'");
    if (m.cols != width || m.rows != height)
        return failWith(format("'%s' is %dx%d, expected %dx%d", path.c_str(), m.cols, m.rows, width, height));
    std::cout << path << ": " << m.cols << "x" << m.rows << " as expected\n";
    return 0;
}

static int checkVideo(const std::string& path, int frames, int minSide)
{
    VideoCapture cap(path, CAP_OPENCV_MJPEG);
    int n = 0;
    Size size;
    for (Mat f; cap.read(f) && !f.empty(); n++)
    {
        if (n > 0 && f.size() != size)
            return failWith("the frames of '" + path + "' change size");
        size = f.size();
    }
    if (n != frames || std::min(size.width, size.height) < minSide)
        return failWith(format("'%s' has %d frames of %dx%d, expected %d frames, each side >= %d", path.c_str(), n,
                               size.width, size.height, frames, minSide));
    std::cout << path << ": " << n << " frames of " << size.width << "x" << size.height << " as expected\n";
    return 0;
}

/** A panel: `tiles` pictures side by side, separated by white columns, each at least `tileWidth` wide. */
static int checkPanel(const std::string& path, int tiles, int tileWidth)
{
    const Mat m = imread(path, IMREAD_COLOR);
    if (m.empty())
        return failWith("cannot read '" + path + "'");
    // the separating columns: white from top to bottom
    std::vector<int> white;
    for (int x = 0; x < m.cols; x++)
    {
        Mat col;
        reduce(m.col(x).reshape(1, m.rows), col, 0, REDUCE_MIN);
        if (countNonZero(col < 250) == 0)
            white.push_back(x);
    }
    int runs = 0;
    for (size_t i = 0; i < white.size(); i++)
        runs += i == 0 || white[i] != white[i - 1] + 1;
    if (runs != tiles - 1 || m.cols < tiles * tileWidth)
        return failWith(format("'%s' (%dx%d) has %d white separators, expected %d tiles of width >= %d", path.c_str(), m.cols,
                               m.rows, runs, tiles, tileWidth));
    std::cout << path << ": " << tiles << " tiles as expected\n";
    return 0;
}

/** A line without its time_ms member (the index writes it last). */
static std::string withoutTiming(const std::string& line)
{
    const size_t t = line.find(",\"time_ms\":{");
    return t == std::string::npos ? line : line.substr(0, t) + "}";
}

static bool readLines(const std::string& path, std::vector<std::string>& lines)
{
    std::ifstream f(path, std::ios::binary);
    if (!f)
        return false;
    for (std::string line; std::getline(f, line);)
        lines.push_back(line);
    return true;
}

static int checkIndex(const std::string& expectedPath, const std::vector<std::string>& actualPaths)
{
    std::vector<std::string> expected, actual;
    if (!readLines(expectedPath, expected))
        return failWith("cannot read '" + expectedPath + "'");
    for (const std::string& p : actualPaths)
        if (!readLines(p, actual))
            return failWith("cannot read '" + p + "'");
    for (std::vector<std::string>* v : {&expected, &actual})
    {
        for (std::string& l : *v)
            l = withoutTiming(l);
        std::sort(v->begin(), v->end());
    }
    if (expected.empty())
        return failWith("'" + expectedPath + "' has no lines");
    if (std::adjacent_find(actual.begin(), actual.end()) != actual.end())
        return failWith("a line is there twice: " + *std::adjacent_find(actual.begin(), actual.end()));
    if (expected != actual)
    {
        std::cerr << "expected:\n";
        for (const std::string& l : expected)
            std::cerr << "  " << l << "\n";
        std::cerr << "actual:\n";
        for (const std::string& l : actual)
            std::cerr << "  " << l << "\n";
        return failWith("the indexes differ");
    }
    std::cout << "the indexes have the same " << expected.size() << " lines (time_ms aside)\n";
    return 0;
}

static int checkLines(const std::string& path, int count)
{
    std::vector<std::string> lines;
    if (!readLines(path, lines))
        return failWith("cannot read '" + path + "'");
    if ((int)lines.size() != count)
        return failWith(format("'%s' has %d lines, expected %d", path.c_str(), (int)lines.size(), count));
    std::cout << path << ": " << count << " lines as expected\n";
    return 0;
}

int main(int argc, char** argv)
{
    const std::vector<std::string> a(argv + 1, argv + argc);
    try
    {
        if (a.size() == 2 && a[0] == "make")
            return make(a[1]);
        if (a.size() == 4 && a[0] == "image")
            return checkImage(a[1], std::stoi(a[2]), std::stoi(a[3]));
        if (a.size() == 4 && a[0] == "video")
            return checkVideo(a[1], std::stoi(a[2]), std::stoi(a[3]));
        if (a.size() == 4 && a[0] == "panel")
            return checkPanel(a[1], std::stoi(a[2]), std::stoi(a[3]));
        if (a.size() >= 3 && a[0] == "index")
            return checkIndex(a[1], std::vector<std::string>(a.begin() + 2, a.end()));
        if (a.size() == 3 && a[0] == "lines")
            return checkLines(a[1], std::stoi(a[2]));
        if (a.size() == 2 && a[0] == "absent")
            return utils::fs::exists(a[1]) ? failWith("'" + a[1] + "' exists") : (std::cout << a[1] << " is absent as expected\n", 0);
    }
    catch (const std::exception& e)
    {
        return failWith(e.what());
    }
    return failWith("usage: see the comment at the top of sample_files.cpp");
}
