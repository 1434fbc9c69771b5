// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// The command line of example_explain_evaluate: its flags, their parsing and their checks (shared by
// modules/explain/samples/evaluate.cpp and fuzz/fuzz_cli.cpp).
#ifndef EXPLAIN_EVALUATE_ARGS_HPP
#define EXPLAIN_EVALUATE_ARGS_HPP

#include "evaluate_csv.hpp"
#include "sample_common.hpp"

#include <opencv2/explain.hpp>

#include <iostream>
#include <map>
#include <string>
#include <vector>

namespace evaluate_sample {

using cv::CommandLineParser;
namespace explain = cv::explain;

static const char* const keys =
    "{ help h usage ? |     | print this message }"
    "{ version        |     | print the version of the explain module and of OpenCV }"
    "{ csv            |     | ground truth: the header line file,class_id,x,y,w,h, then one box per line (required) }"
    "{ images         |     | folder of the image files; default: the CSV's folder }"
    "{ model m        |     | model file (.onnx, .caffemodel, .pb, ...); default: the bundled model }"
    "{ config c       |     | optional config file (.prototxt, .pbtxt, .cfg) }"
    "{ layer l        |     | CAM target layer; default: the last layer with a spatial output }"
    "{ methods        | gradcam,gradcampp,xgradcam,hirescam,elementwise,layercam,eigencam,eigengradcam,scorecam "
    "| comma list of gradcam,gradcampp,xgradcam,hirescam,elementwise,layercam,eigencam,eigengradcam,scorecam and "
    "center (a centred Gaussian, as a baseline) }"
    "{ target         | gt  | explained class: gt (the CSV's class_id) or top1 (the model's prediction) }"
    "{ width          |     | input width, 1..16384; default: 64 for the bundled model, else 224 }"
    "{ height         |     | input height, 1..16384; default: 64 for the bundled model, else 224 }"
    "{ scale          |     | multiplier for pixel values, > 0; default: 1/255 for the bundled model, else 1 }"
    "{ mean           |     | mean subtracted before scaling: 1 to 4 numbers, e.g. \"104 117 123\" or 104,117,123 }"
    "{ rgb            |     | swap R and B (the model takes RGB); implied for the bundled model }"
    "{ limit          | 0   | evaluate at most this many (image, class) items, >= 0; 0: all }"
    "{ steps          | 30  | deletion / insertion steps, >= 1 }"
    "{ threshold      | 0.15 | localization threshold (fraction of the map's maximum), in [0, 1] }"
    "{ iou            | 0.5 | IoU for a correct localization, in (0, 1] }"
    "{ tolerance      | 0   | pointing game tolerance in image pixels, >= 0 }"
    "{ batch          | 16  | images per forward pass in the metrics (1 for fixed-batch models), >= 1 }"
    "{ road           |     | also ROAD: mean score over 10..90 % removed, MoRF and LeRF }"
    "{ faithfulness   |     | also the occlusion rank correlation (patch = input/8, stride = patch/2) }"
    "{ out o          | .   | directory (created) for evaluation.csv, evaluation.txt, per_image.csv, evaluation.png "
    "(replaced only when the run succeeds) }";


/** The folder of `path` ("." when it has none). */
inline std::string directoryOf(const std::string& path)
{
    const size_t p = path.find_last_of('/');
    return p == std::string::npos ? std::string(".") : path.substr(0, p);
}

/** The flags, with the defaults of the bundled model filled in. */
struct Options
{
    std::string modelPath, configPath, csvPath, imageDir, layer, target, outDir;
    std::vector<std::string> methods;
    sample::BlobOptions blob;
    int limit = 0, steps = 30, tolerance = 0, batch = 16;
    double threshold = 0.15, iouMin = 0.5;
    bool withRoad = false, withFaith = false;
};

/** The methods of --methods: a CAMMethod, or -1 for the centre baseline. */
inline const std::map<std::string, int>& knownMethods()
{
    static const std::map<std::string, int> known{
        {"gradcam", explain::CAM_GRADCAM}, {"gradcampp", explain::CAM_GRADCAM_PLUS_PLUS},
        {"xgradcam", explain::CAM_XGRADCAM}, {"hirescam", explain::CAM_HIRESCAM},
        {"elementwise", explain::CAM_GRADCAM_ELEMENTWISE}, {"layercam", explain::CAM_LAYERCAM},
        {"eigencam", explain::CAM_EIGENCAM}, {"eigengradcam", explain::CAM_EIGENGRADCAM},
        {"scorecam", explain::CAM_SCORECAM}, {"center", -1}};
    return known;
}

/** Prints "error: <message>" (on a line of its own after the progress bar) and returns false. */
inline bool fail(const std::string& message, bool afterProgress = false)
{
    std::cerr << (afterProgress ? "\n" : "") << "error: " << message << "\n";
    return false;
}

/** Parses the command line into `o`; returns -1 to go on, or the exit code. */
inline int parseOptions(int argc, char** argv, Options& o)
{
    if (!sample::checkArguments(argc, argv, keys, {"help", "h", "usage", "?", "rgb", "road", "faithfulness", "version"}))
        return 1;
    CommandLineParser parser(argc, argv, keys);
    parser.about("Evaluates CAM methods of cv::explain on a labelled image set (pointing game, localization, "
                 "deletion/insertion AUC, Average Drop, Increase in Confidence).\n"
                 "Flags are --name=value; there are no positional arguments. An unknown flag, a number that is not "
                 "whole, finite and in range, and a malformed CSV line are errors (exit code 1).");
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
    const bool bundled = !parser.has("model");
    o.modelPath = bundled ? sample::bundledFile("default_model.onnx") : parser.get<std::string>("model");
    o.configPath = parser.get<std::string>("config");
    o.csvPath = parser.get<std::string>("csv");
    o.imageDir = parser.get<std::string>("images");
    o.layer = parser.get<std::string>("layer");
    o.methods = splitList(parser.get<std::string>("methods"));
    o.target = parser.get<std::string>("target");
    sample::FlagReader flags(parser);
    o.limit = flags.getInt("limit", 0);
    o.steps = flags.getInt("steps", 1);
    o.threshold = flags.getDouble("threshold", 0, 1);
    o.iouMin = flags.getDouble("iou", 0, 1, true);
    o.tolerance = flags.getInt("tolerance", 0);
    o.batch = flags.getInt("batch", 1);
    if (!o.blob.read(flags, bundled))
        return 1;
    o.withRoad = parser.has("road");
    o.withFaith = parser.has("faithfulness");
    o.outDir = parser.get<std::string>("out");
    if (!parser.check())
    {
        parser.printErrors();
        return 1;
    }
    return -1;
}

/** The flags' values are usable; fills in --images. */
inline bool checkOptions(Options& o)
{
    if (o.csvPath.empty())
        return fail("--csv is required (a header line, then file,class_id,x,y,w,h per box)");
    if (o.imageDir.empty())
        o.imageDir = directoryOf(o.csvPath);
    if (o.methods.empty())
        return fail("--methods is empty");
    for (const std::string& m : o.methods)
        if (!knownMethods().count(m))
            return fail("unknown method '" + m + "' in --methods; choose from gradcam,gradcampp,xgradcam,"
                        "hirescam,elementwise,layercam,eigencam,eigengradcam,scorecam,center");
    if (o.target != "gt" && o.target != "top1")
        return fail("--target must be gt or top1, got '" + o.target + "'");
    return true;
}

} // namespace evaluate_sample

#endif
