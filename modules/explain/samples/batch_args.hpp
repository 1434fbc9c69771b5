// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// The command line of example_explain_batch: its flags, their parsing and their checks (shared by
// modules/explain/samples/batch.cpp and fuzz/fuzz_cli.cpp).
#ifndef EXPLAIN_BATCH_ARGS_HPP
#define EXPLAIN_BATCH_ARGS_HPP

#include "sample_common.hpp"

#include <opencv2/core/utils/filesystem.hpp>
#include <opencv2/explain.hpp>

#include <algorithm>
#include <climits>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace batch_sample {

using cv::CommandLineParser;
using sample::fail;

static const char* const keys =
    "{ help h usage ? |     | print this message }"
    "{ input i        |     | a folder of images (searched recursively) or a manifest: CSV with the header "
    "path[,class][,x,y,w,h], or JSON lines (.jsonl), one object per image with the members path, class and box [x,y,w,h] (required) }"
    "{ images         |     | folder that a manifest's relative paths start from; default: the manifest's folder }"
    "{ model m        |     | model file (.onnx, .caffemodel, .pb, ...); default: the bundled model }"
    "{ config c       |     | optional config file (.prototxt, .pbtxt, .cfg) }"
    "{ layer l        |     | CAM target layer; default: the last layer with a spatial output }"
    "{ methods        | gradcam | comma list of gradcam, gradcampp, xgradcam, hirescam, elementwise, layercam, "
    "eigencam, eigengradcam, counterfactual, guided, guided_gradcam }"
    "{ save           | png | per image: png (each map over the image, at its size), float (the raw maps in one "
    ".yml.gz), png,float, or none (the index only) }"
    "{ width          |     | input width, 1..16384; default: 64 for the bundled model, else 224 }"
    "{ height         |     | input height, 1..16384; default: 64 for the bundled model, else 224 }"
    "{ scale          |     | multiplier for pixel values, > 0; default: 1/255 for the bundled model, else 1 }"
    "{ mean           |     | mean subtracted before scaling: 1 to 4 numbers, e.g. \"104 117 123\" or 104,117,123 }"
    "{ rgb            |     | swap R and B (the model takes RGB); implied for the bundled model }"
    "{ labels         |     | optional file with one class name per line }"
    "{ batch          | 8   | images per forward pass, 1..4096 (1 for nets with a fixed batch size) }"
    "{ shard          | 0/1 | i/n: explain only the images whose id hashes to i modulo n (array jobs) }"
    "{ out o          | batch_out | output folder (created): index.jsonl, errors.jsonl, maps/ }"
    "{ strict         |     | exit code 2 when any image failed in this run (by default only when no image of the shard is explained) }"
    "{ stop-after     | 0   | testing: after this many images, write the next one's maps and half its index line, "
    "then exit with code 75 as a crash would; 0: never }";

/** The --methods names: a CAMMethod, or -1 (counterfactual), -2 (guided), -3 (guided_gradcam). */
inline const std::map<std::string, int>& knownMethods()
{
    namespace explain = cv::explain;
    static const std::map<std::string, int> known{
        {"gradcam", explain::CAM_GRADCAM}, {"gradcampp", explain::CAM_GRADCAM_PLUS_PLUS},
        {"xgradcam", explain::CAM_XGRADCAM}, {"hirescam", explain::CAM_HIRESCAM},
        {"elementwise", explain::CAM_GRADCAM_ELEMENTWISE}, {"layercam", explain::CAM_LAYERCAM},
        {"eigencam", explain::CAM_EIGENCAM}, {"eigengradcam", explain::CAM_EIGENGRADCAM},
        {"counterfactual", -1}, {"guided", -2}, {"guided_gradcam", -3}};
    return known;
}

/** The flags, with the defaults of the bundled model filled in. */
struct Options
{
    bool bundled = true;
    std::string input, imageDir, modelPath, configPath, layer, labelsPath, outDir;
    std::vector<std::string> methods;
    bool savePng = true, saveFloat = false, strict = false;
    sample::BlobOptions blob;
    int batch = 8, shardIndex = 0, shardCount = 1, stopAfter = 0;

    bool wants(const std::string& m) const { return std::find(methods.begin(), methods.end(), m) != methods.end(); }
};

inline std::vector<std::string> splitList(const std::string& s)
{
    std::vector<std::string> items;
    std::stringstream ss(s);
    for (std::string item; std::getline(ss, item, ',');)
        if (!item.empty())
            items.push_back(item);
    return items;
}

/** "i/n" with 0 <= i < n <= 1000000; "" or what is wrong. */
inline std::string parseShard(const std::string& text, int& index, int& count)
{
    const size_t slash = text.find('/');
    if (slash == std::string::npos)
        return "is not i/n (e.g. 0/4: the first of 4 shards)";
    if (!sample::parseInt(text.substr(slash + 1), 1, 1000000, count).empty())
        return "is not i/n: n must be an integer in [1, 1000000]";
    if (!sample::parseInt(text.substr(0, slash), 0, count - 1, index).empty())
        return cv::format("is not i/n: i must be an integer in [0, %d]", count - 1);
    return std::string();
}

/** Parses the command line into `o`; returns -1 to go on, or the exit code. */
inline int parseOptions(int argc, char** argv, Options& o)
{
    if (!sample::checkArguments(argc, argv, keys, {"help", "h", "usage", "?", "rgb", "strict"}))
        return 1;
    CommandLineParser parser(argc, argv, keys);
    parser.about("Explains every image of a folder or a manifest with a cv::dnn model: per image the maps and one line of "
                 "index.jsonl (class, score, timing, pointing game and IoU when a box is given).\n"
                 "Resumable (a rerun skips the images already in the index), shardable (--shard=i/n). Flags are "
                 "--name=value; an unknown flag or a number that is not whole, finite and in range is an error (exit code 1).");
    if (parser.has("help"))
    {
        parser.printMessage();
        return 0;
    }
    o.bundled = !parser.has("model");
    o.modelPath = o.bundled ? sample::bundledFile("default_model.onnx") : parser.get<std::string>("model");
    o.configPath = parser.get<std::string>("config");
    o.input = parser.get<std::string>("input");
    o.imageDir = parser.get<std::string>("images");
    o.layer = parser.get<std::string>("layer");
    o.methods = splitList(parser.get<std::string>("methods"));
    const std::vector<std::string> save = splitList(parser.get<std::string>("save"));
    o.savePng = std::find(save.begin(), save.end(), "png") != save.end();
    o.saveFloat = std::find(save.begin(), save.end(), "float") != save.end();
    for (const std::string& s : save)
        if (s != "png" && s != "float" && !(s == "none" && save.size() == 1))
            return fail("--save=" + parser.get<std::string>("save") + ": unknown '" + s + "'; choose png, float, png,float or none"), 1;
    sample::FlagReader flags(parser);
    o.batch = flags.getInt("batch", 1, 4096);
    o.stopAfter = flags.getInt("stop-after", 0);
    if (!o.blob.read(flags, o.bundled))
        return 1;
    const std::string shard = parser.get<std::string>("shard"), why = parseShard(shard, o.shardIndex, o.shardCount);
    if (!why.empty())
        return fail("--shard=" + shard + " " + why), 1;
    o.labelsPath = parser.has("labels") ? parser.get<std::string>("labels")
                                        : (o.bundled ? sample::bundledFile("default_labels.txt") : std::string());
    o.outDir = parser.get<std::string>("out");
    o.strict = parser.has("strict");
    if (!parser.check())
    {
        parser.printErrors();
        return 1;
    }
    return -1;
}

/** The flags' values fit together; fills in --images. */
inline bool checkOptions(Options& o)
{
    if (o.input.empty())
        return fail("--input is required: a folder of images or a manifest (.csv or .jsonl)");
    if (o.methods.empty())
        return fail("--methods is empty");
    for (size_t i = 0; i < o.methods.size(); i++)
    {
        const std::string& m = o.methods[i];
        if (!knownMethods().count(m))
            return fail("unknown method '" + m + "' in --methods; choose from gradcam, gradcampp, xgradcam, hirescam, "
                        "elementwise, layercam, eigencam, eigengradcam, counterfactual, guided, guided_gradcam");
        if (std::find(o.methods.begin(), o.methods.begin() + i, m) != o.methods.begin() + i)
            return fail("--methods lists '" + m + "' twice");  // (an index line names each method once)
    }
    if (o.imageDir.empty())
    {
        const size_t slash = o.input.find_last_of('/');
        o.imageDir = cv::utils::fs::isDirectory(o.input) ? o.input : slash == std::string::npos ? "." : o.input.substr(0, slash);
    }
    return true;
}

} // namespace batch_sample

#endif
