// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// The command line of example_explain_gradcam: its flags, their parsing and their checks (shared by
// modules/explain/samples/gradcam.cpp and fuzz/fuzz_cli.cpp).
#ifndef EXPLAIN_GRADCAM_ARGS_HPP
#define EXPLAIN_GRADCAM_ARGS_HPP

#include "sample_common.hpp"
#include <opencv2/explain/version.hpp>

#include <algorithm>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace gradcam_sample {

using cv::CommandLineParser;

static const char* const keys =
    "{ help h usage ? |     | print this message }"
    "{ version        |     | print the version of the explain module and of OpenCV }"
    "{ model m        |     | model file (.onnx, .caffemodel, .pb, .weights, ...); default: the bundled model }"
    "{ config c       |     | optional config file (.prototxt, .pbtxt, .cfg) }"
    "{ input i        |     | an image, a folder of images, an image sequence (img_%04d.png), a video file or a camera index (0); default: the bundled image }"
    "{ layer l        |     | Grad-CAM target layer; default: the last layer with a spatial output }"
    "{ tokens         |     | read the target layer as tokens on a grid (vision transformers): <H>x<W>[+<leading tokens dropped>], e.g. 14x14+1 for ViT-B/16 (class token), 14x14+2 for DeiT, 7x7 for a Swin stage (N x H x W x C) }"
    "{ class          | -1  | class index (>= 0) to explain; default (-1): the top-1 class }"
    "{ methods        | gradcam,counterfactual,guided,guided_gradcam | comma list of maps to compute }"
    "{ width          |     | input width, 1..16384; default: 64 for the bundled model, else 224 }"
    "{ height         |     | input height, 1..16384; default: 64 for the bundled model, else 224 }"
    "{ scale          |     | multiplier for pixel values, > 0; default: 1/255 for the bundled model, else 1 }"
    "{ mean           |     | mean subtracted before scaling: 1 to 4 numbers, e.g. \"104 117 123\" or 104,117,123 }"
    "{ rgb            |     | swap R and B (the model takes RGB); implied for the bundled model }"
    "{ labels         |     | optional file with one class name per line }"
    "{ out o          | .   | directory for the images and videos, created when missing (each file replaced only when it is complete) }"
    "{ raw            |     | optional FileStorage file (.yml, .yml.gz, .json) for the float maps }"
    "{ target         | class | what is explained: class (a class score), mask (class logits summed over a mask), box (one detection's class logit) or word (one word of a sequence output, e.g. a caption) }"
    "{ output         |     | layer holding the scores (class) or the per-pixel logits (mask) or the raw detection head (box); default: the net's last layer (the input of a final Softmax) }"
    "{ mask           |     | --target=mask: PNG whose nonzero pixels are the region (resized nearest to the output's H x W) }"
    "{ cell           |     | --target=box: grid cell <row>,<col> of an N x (5+K) x H x W head }"
    "{ box            | -1  | --target=box: the detection ranked <index> (>= 0) by objectness (channel 0); default (-1): 0 without --cell }"
    "{ word           | -1  | --target=word: the step t (>= 0) of the word in a T x 1 x V sequence output (steps, image, vocabulary); --class: the word (default: the top one at that step) }"
    "{ input2         |     | second net input, held fixed: a text file of numbers (a 1 x n blob) or a FileStorage file (.yml, .yaml, .json, .xml, optionally .gz) whose first node is the blob }"
    "{ input-names    |     | net input names, comma list: the image's (explained) first, then --input2's }"
    "{ headless       |     | write files only, never open a window (the default when there is no display) }"
    "{ panel          |     | also the paper's figure as one picture: image, Grad-CAM, guided backprop, Guided Grad-CAM, counterfactual }"
    "{ frames         | 0   | folders, sequences, videos and cameras: stop after this many frames, >= 0; 0: all }"
    "{ device         | cpu | cpu, or opencl: the Net on DNN_TARGET_OPENCL and the explanation on the OpenCL device (cv::dnn uses non-Intel devices only with OPENCV_DNN_OPENCL_ALLOW_ALL_DEVICES=1; PoCL: OPENCV_OPENCL_DEVICE=:CPU:) }";

inline std::vector<std::string> splitList(const std::string& s)
{
    std::vector<std::string> items;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, ','))
        if (!item.empty())
            items.push_back(item);
    return items;
}

/** The flags, with the defaults of the bundled model filled in. */
struct Options
{
    bool bundled = true;
    std::string modelPath, configPath, imagePath, labelsPath, layer, outDir, rawPath;
    int classArg = -1;
    std::vector<std::string> methods;
    sample::BlobOptions blob;
    std::string target, outputArg, maskPath, cellText, input2Path, device;
    int boxIndex = -1, wordStep = -1, frames = 0;
    cv::Size tokenGrid;      // --tokens: 0 x 0 when not given
    int prefixTokens = 0;
    std::vector<std::string> inputNames;
    bool headless = false, panel = false;

    bool wants(const char* method) const { return std::find(methods.begin(), methods.end(), method) != methods.end(); }
};

/** Prints "error: <message>" and returns false. */
inline bool fail(const std::string& message)
{
    std::cerr << "error: " << message << "\n";
    return false;
}

/** --tokens=<H>x<W>[+<prefix>] into o.tokenGrid and o.prefixTokens; false (with the message) when malformed. */
inline bool parseTokens(const std::string& text, Options& o)
{
    const size_t x = text.find('x'), plus = text.find('+');
    const std::string h = text.substr(0, x), w = x == std::string::npos ? "" : text.substr(x + 1, plus - x - 1),
                      p = plus == std::string::npos ? "0" : text.substr(plus + 1);
    int height = 0, width = 0, prefix = 0;
    std::string error = sample::parseInt(h, 1, 4096, height);
    if (error.empty())
        error = sample::parseInt(w, 1, 4096, width);
    if (error.empty())
        error = sample::parseInt(p, 0, 4096, prefix);
    if (x == std::string::npos || (plus != std::string::npos && plus < x) || !error.empty())
        return fail("--tokens=" + text + " is not <H>x<W> or <H>x<W>+<leading tokens> with H, W in [1, 4096]");
    o.tokenGrid = cv::Size(width, height);
    o.prefixTokens = prefix;
    return true;
}

/** Parses the command line into `o`; returns -1 to go on, or the exit code. */
inline int parseOptions(int argc, char** argv, Options& o)
{
    if (!sample::checkArguments(argc, argv, keys, {"help", "h", "usage", "?", "rgb", "headless", "panel", "version"}))
        return 1;
    CommandLineParser parser(argc, argv, keys);
    parser.about("Visual explanations (Grad-CAM, counterfactual, guided backprop, Guided Grad-CAM) for a cv::dnn model,\n"
                 "on an image, a folder of images, a video or a camera: in a window, or written to --out (--headless).\n"
                 "Flags are --name=value; there are no positional arguments (give the image as --input=<file>).\n"
                 "An unknown flag or a number that is not whole, finite and in range is an error (exit code 1).");
    if (parser.has("help"))
    {
        parser.printMessage();
        return 0;
    }
    if (parser.has("version"))
    {
        std::cout << "explain " << cv::explain::getVersionString() << ", OpenCV " << CV_VERSION << "\n";
        return 0;
    }
    o.bundled = !parser.has("model");
    o.modelPath = o.bundled ? sample::bundledFile("default_model.onnx") : parser.get<std::string>("model");
    o.configPath = parser.get<std::string>("config");
    o.imagePath = parser.has("input") ? parser.get<std::string>("input") : sample::bundledFile("default_image.png");
    o.layer = parser.get<std::string>("layer");
    sample::FlagReader flags(parser);
    o.classArg = flags.getInt("class", -1);
    o.boxIndex = flags.getInt("box", -1);
    o.wordStep = flags.getInt("word", -1);
    o.frames = flags.getInt("frames", 0);
    if (!o.blob.read(flags, o.bundled))
        return 1;
    o.methods = splitList(parser.get<std::string>("methods"));
    o.labelsPath = parser.has("labels") ? parser.get<std::string>("labels")
                                        : (o.bundled ? sample::bundledFile("default_labels.txt") : std::string());
    o.outDir = parser.get<std::string>("out");
    o.rawPath = parser.get<std::string>("raw");
    o.target = parser.get<std::string>("target");
    o.outputArg = parser.get<std::string>("output");
    o.maskPath = parser.get<std::string>("mask");
    o.cellText = parser.get<std::string>("cell");
    o.input2Path = parser.get<std::string>("input2");
    o.inputNames = splitList(parser.get<std::string>("input-names"));
    o.device = parser.get<std::string>("device");
    o.headless = parser.has("headless");
    if (parser.has("tokens") && !parseTokens(parser.get<std::string>("tokens"), o))
        return 1;
    o.panel = parser.has("panel");
    if (!parser.check())
    {
        parser.printErrors();
        return 1;
    }
    return -1;
}

/** --methods, --device and the flags of --target and --input2 fit together. */
inline bool checkOptions(const Options& o)
{
    const std::string choices = "; choose from gradcam,counterfactual,guided,guided_gradcam";
    const std::set<std::string> known{"gradcam", "counterfactual", "guided", "guided_gradcam"};
    if (o.methods.empty())
        return fail("--methods is empty" + choices);
    for (const std::string& m : o.methods)
        if (!known.count(m))
            return fail("unknown method '" + m + "' in --methods" + choices);
    if (o.device != "cpu" && o.device != "opencl")
        return fail("unknown --device=" + o.device + "; choose cpu or opencl");
    if (o.target != "class" && o.target != "mask" && o.target != "box" && o.target != "word")
        return fail("unknown --target=" + o.target + "; choose class, mask, box or word");
    if (o.target == "word" && o.wordStep < 0)
        return fail("--target=word needs --word=<step> (>= 0): the position of the word in the sequence");
    if (o.target != "word" && o.wordStep >= 0)
        return fail("--word is for --target=word");
    if (o.target == "mask" && o.maskPath.empty())
        return fail("--target=mask needs --mask=<png> (nonzero pixels: the region)");
    if (o.target != "mask" && !o.maskPath.empty())
        return fail("--mask is for --target=mask");
    if (o.target != "box" && (!o.cellText.empty() || o.boxIndex >= 0))
        return fail("--cell and --box are for --target=box");
    if (!o.cellText.empty() && o.boxIndex >= 0)
        return fail("give either --cell or --box, not both");
    if (o.input2Path.empty() && o.inputNames.size() > 1)
        return fail("--input-names lists two inputs but --input2 is not given");
    if (!o.input2Path.empty() && o.inputNames.size() != 2)
        return fail("--input2 needs --input-names=<image input>,<second input>");
    return true;
}

} // namespace gradcam_sample

#endif
