// Grad-CAM, counterfactual, guided backpropagation and Guided Grad-CAM for a cv::dnn model and an image.
//
//   example_explain_gradcam --model=resnet18.onnx --input=cat.jpg --width=224 --height=224 \
//       --scale=0.017 --mean="123.7 116.3 103.5" --rgb --out=out
//
// Without --model and --input it explains the bundled synthetic-shapes model on the bundled image.
//
// Other targets than a class score (see doc/tasks.md for the bundled task models):
//   --target=mask --output=<layer> --mask=<png> [--class=c]   segmentation: the sum of class-c logits of
//       <layer> over the mask (nonzero pixels; resized nearest to the output's H x W), as
//       pytorch-grad-cam's SemanticSegmentationTarget
//   --target=box --output=<layer> (--cell=<row>,<col> | --box=<index>) [--class=c]   detection: the class-c
//       logit of one cell of a raw single-shot head, N x (5 + K) x H x W (channel 0 objectness, 1-4 box,
//       5.. class logits) or N x B x (5 + K) (one row per box)
//   --input2=<file> --input-names=image,question   multi-input nets: the second input is held fixed
#include <opencv2/core.hpp>
#include <opencv2/core/ocl.hpp>
#include <opencv2/core/utility.hpp>
#include <opencv2/dnn.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/explain.hpp>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

using namespace cv;

static const char* keys =
    "{ help h usage ? |     | print this message }"
    "{ model m        |     | model file (.onnx, .caffemodel, .pb, .weights, ...); default: the bundled model }"
    "{ config c       |     | optional config file (.prototxt, .pbtxt, .cfg) }"
    "{ input i        |     | input image; default: the bundled image }"
    "{ layer l        |     | Grad-CAM target layer; default: the last layer with a spatial output }"
    "{ class          | -1  | class index to explain; default (-1): the top-1 class }"
    "{ methods        | gradcam,counterfactual,guided,guided_gradcam | comma list of maps to compute }"
    "{ width          | 0   | input width  (0: 64 for the bundled model, else 224) }"
    "{ height         | 0   | input height (0: 64 for the bundled model, else 224) }"
    "{ scale          | 0   | multiplier for pixel values (0: 1/255 for the bundled model, else 1) }"
    "{ mean           |     | mean subtracted before scaling, e.g. \"104 117 123\" }"
    "{ rgb            |     | swap R and B (the model takes RGB); implied for the bundled model }"
    "{ labels         |     | optional file with one class name per line }"
    "{ out o          | .   | directory for the PNG images }"
    "{ raw            |     | optional FileStorage file (.yml, .yml.gz, .json) for the float maps }"
    "{ target         | class | what is explained: class (a class score), mask (class logits summed over a mask) or box (one detection's class logit) }"
    "{ output         |     | layer holding the scores (class) or the per-pixel logits (mask) or the raw detection head (box); default: the net's last layer (the input of a final Softmax) }"
    "{ mask           |     | --target=mask: PNG whose nonzero pixels are the region (resized nearest to the output's H x W) }"
    "{ cell           |     | --target=box: grid cell <row>,<col> of an N x (5+K) x H x W head }"
    "{ box            | -1  | --target=box: the detection ranked <index> by objectness (channel 0); default 0 without --cell }"
    "{ input2         |     | second net input, held fixed: a text file of numbers (a 1 x n blob) or a FileStorage file (.yml, .yaml, .json, .xml, optionally .gz) whose first node is the blob }"
    "{ input-names    |     | net input names, comma list: the image's (explained) first, then --input2's }"
    "{ device         | cpu | cpu, or opencl: the Net on DNN_TARGET_OPENCL and the explanation on the OpenCL device (cv::dnn uses non-Intel devices only with OPENCV_DNN_OPENCL_ALLOW_ALL_DEVICES=1; PoCL: OPENCV_OPENCL_DEVICE=:CPU:) }";

static std::vector<std::string> splitList(const std::string& s)
{
    std::vector<std::string> items;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, ','))
        if (!item.empty())
            items.push_back(item);
    return items;
}

static bool endsWith(const std::string& s, const std::string& suffix)
{
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/** The second input: a FileStorage file (its first node) or a text file of numbers (1 x n). */
static Mat readSecondInput(const std::string& path)
{
    std::string p = path;
    if (endsWith(p, ".gz"))
        p = p.substr(0, p.size() - 3);
    Mat m;
    if (endsWith(p, ".yml") || endsWith(p, ".yaml") || endsWith(p, ".json") || endsWith(p, ".xml"))
    {
        FileStorage fs(path, FileStorage::READ);
        FileNode root = fs.isOpened() ? fs.root() : FileNode();
        if (!root.empty() && root.size() > 0)
            (*root.begin()) >> m;
        if (m.empty())
            CV_Error(Error::StsBadArg, "--input2 '" + path + "': the first node of the FileStorage file is not a matrix");
    }
    else
    {
        std::ifstream f(path);
        std::vector<float> values;
        for (std::string token; f >> token;)
        {
            std::stringstream items(token);
            for (std::string item; std::getline(items, item, ',');)
            {
                if (item.empty())
                    continue;
                size_t used = 0;
                float v = 0.f;
                try { v = std::stof(item, &used); } catch (const std::exception&) { used = 0; }
                if (used != item.size())
                    CV_Error(Error::StsBadArg, "--input2 '" + path + "': '" + item + "' is not a number");
                values.push_back(v);
            }
        }
        if (values.empty())
            CV_Error(Error::StsBadArg, "--input2 '" + path + "' has no numbers");
        m = Mat(values, true).reshape(1, 1);
    }
    m.convertTo(m, CV_32F);
    return m;
}

static bool fileExists(const std::string& path)
{
    return std::ifstream(path).good();
}

/** cv::CommandLineParser ignores flags it does not know; a mistyped flag should not go unnoticed. */
static bool checkFlagNames(int argc, char** argv)
{
    std::set<std::string> known;
    std::stringstream ss(keys);
    for (std::string entry; std::getline(ss, entry, '}');)
    {
        std::stringstream names(entry.substr(entry.find('{') + 1, entry.find('|') - entry.find('{') - 1));
        for (std::string name; names >> name;)
            known.insert(name);
    }
    for (int i = 1; i < argc; i++)
    {
        std::string arg = argv[i];
        if (arg.size() < 2 || arg[0] != '-')
            continue;
        std::string name = arg.substr(arg.find_first_not_of('-'));
        name = name.substr(0, name.find('='));
        if (!known.count(name))
        {
            std::cerr << "error: unknown flag '" << arg << "' (see --help)\n";
            return false;
        }
    }
    return true;
}

/** The target of --target=mask or --target=box as a gradient of the output (a one-hot seed or the mask). */
struct OutputTarget
{
    Mat seed;          // d(target)/d(output), of the output's shape
    int classId = -1;
    double score = 0;  // the target's value
};

/** --target=mask: the sum of class-c logits over the mask's pixels; c defaults to the class that wins
    (per-pixel argmax) on most of the mask's pixels. */
static bool maskTarget(const Mat& out, const std::string& maskPath, int classArg,
                       const std::vector<std::string>& labels, OutputTarget& t)
{
    if (out.dims != 4 || out.size[0] != 1)
    {
        std::cerr << "error: --target=mask needs a 1 x C x H x W output; the --output layer gives " << out.size << "\n";
        return false;
    }
    const int C = out.size[1], H = out.size[2], W = out.size[3];
    Mat mask = imread(maskPath, IMREAD_GRAYSCALE);
    if (mask.empty())
    {
        std::cerr << "error: --mask '" << maskPath << "' is not a readable image\n";
        return false;
    }
    resize(mask, mask, Size(W, H), 0, 0, INTER_NEAREST);
    const int pixels = countNonZero(mask);
    if (pixels == 0)
    {
        std::cerr << "error: --mask '" << maskPath << "' has no nonzero pixel at the output's " << W << "x" << H << "\n";
        return false;
    }
    std::vector<int> votes(C, 0);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            if (mask.at<uchar>(y, x))
            {
                int best = 0;
                for (int c = 1; c < C; c++)
                    if (out.ptr<float>(0, c, y)[x] > out.ptr<float>(0, best, y)[x])
                        best = c;
                votes[best]++;
            }
    std::cout << "mask:    " << pixels << " of " << W << "x" << H << " output pixels; classes winning there:";
    for (int c = 0; c < C; c++)
        if (votes[c] > 0)
            std::cout << "  " << c << (c < (int)labels.size() ? " (" + labels[c] + ")" : std::string()) << " " << votes[c];
    std::cout << "\n";
    t.classId = classArg >= 0 ? classArg : (int)(std::max_element(votes.begin(), votes.end()) - votes.begin());
    if (t.classId >= C)
    {
        std::cerr << "error: --class " << t.classId << " is out of range [0, " << C << ") for the output's channels\n";
        return false;
    }
    t.seed = Mat(out.dims, out.size.p, CV_32F, Scalar(0));
    Mat plane(H, W, CV_32F, t.seed.ptr<float>(0, t.classId));
    plane.setTo(1.f, mask);
    t.score = Mat(H, W, CV_32F, (void*)out.ptr<float>(0, t.classId)).dot(plane);
    return true;
}

/** --target=box: the class logit of one cell (N x (5+K) x H x W) or row (N x B x (5+K)) of a raw
    detection head; cells/rows are ranked by objectness (channel 0) for --box. */
static bool boxTarget(const Mat& out, const std::string& cellText, int boxIndex, int classArg,
                      const std::vector<std::string>& labels, OutputTarget& t)
{
    const bool grid = out.dims == 4;
    if (!(grid || out.dims == 3) || out.size[0] != 1 || out.size[grid ? 1 : 2] < 6)
    {
        std::cerr << "error: --target=box needs a 1 x (5+K) x H x W or 1 x B x (5+K) output (objectness, 4 box "
                     "values, K class logits); the --output layer gives " << out.size << "\n";
        return false;
    }
    const int V = out.size[grid ? 1 : 2], K = V - 5;
    const int cells = grid ? out.size[2] * out.size[3] : out.size[1];
    const int W = grid ? out.size[3] : 1;
    // value v of cell i
    auto at = [&](int i, int v) -> float {
        return grid ? out.ptr<float>(0, v)[i] : out.ptr<float>(0, i)[v];
    };
    std::vector<int> order(cells);
    for (int i = 0; i < cells; i++)
        order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return at(a, 0) > at(b, 0); });
    auto where = [&](int i) { return grid ? format("%d,%d", i / W, i % W) : format("%d", i); };
    auto topClass = [&](int i) {
        int best = 0;
        for (int k = 1; k < K; k++)
            if (at(i, 5 + k) > at(i, 5 + best))
                best = k;
        return best;
    };
    std::cout << "detections by objectness (" << (grid ? "cell row,col" : "row") << ": objectness, top class):\n";
    for (int r = 0; r < std::min(5, cells); r++)
    {
        const int i = order[r], k = topClass(i);
        std::cout << "  " << r << "  " << where(i) << ": " << at(i, 0) << ", " << k
                  << (k < (int)labels.size() ? " (" + labels[k] + ")" : std::string()) << "\n";
    }
    int cell = -1;
    if (!cellText.empty())
    {
        int row = -1, col = -1;
        char comma = 0, rest = 0;
        std::stringstream ss(cellText);
        if (!grid || !(ss >> row >> comma >> col) || comma != ',' || (ss >> rest) || row < 0 || col < 0 ||
            row >= out.size[2] || col >= out.size[3])
        {
            std::cerr << "error: --cell=" << cellText << " is not a cell <row>,<col> of the "
                      << (grid ? format("%d x %d grid", out.size[2], out.size[3]) : std::string("output (rows of boxes: use --box)"))
                      << "\n";
            return false;
        }
        cell = row * W + col;
    }
    else
    {
        if (boxIndex >= cells)
        {
            std::cerr << "error: --box " << boxIndex << " is out of range [0, " << cells << ")\n";
            return false;
        }
        cell = order[std::max(boxIndex, 0)];
    }
    t.classId = classArg >= 0 ? classArg : topClass(cell);
    if (t.classId >= K)
    {
        std::cerr << "error: --class " << t.classId << " is out of range [0, " << K << ") for the head's classes\n";
        return false;
    }
    t.seed = Mat(out.dims, out.size.p, CV_32F, Scalar(0));
    if (grid)
        t.seed.ptr<float>(0, 5 + t.classId)[cell] = 1.f;
    else
        t.seed.ptr<float>(0, cell)[5 + t.classId] = 1.f;
    t.score = at(cell, 5 + t.classId);
    std::cout << (grid ? "cell:    " : "row:     ") << where(cell) << " (objectness " << at(cell, 0) << ", box values";
    for (int v = 1; v < 5; v++)
        std::cout << " " << at(cell, v);
    std::cout << ")\n";
    return true;
}

int main(int argc, char** argv)
{
    if (!checkFlagNames(argc, argv))
        return 1;
    CommandLineParser parser(argc, argv, keys);
    parser.about("Visual explanations (Grad-CAM, counterfactual, guided backprop, Guided Grad-CAM) for a cv::dnn model.");
    if (parser.has("help"))
    {
        parser.printMessage();
        return 0;
    }
    const bool bundled = !parser.has("model");
    const std::string modelPath = bundled ? std::string(EXPLAIN_DATA_DIR "/default_model.onnx") : parser.get<std::string>("model");
    const std::string configPath = parser.get<std::string>("config");
    const std::string imagePath = parser.has("input") ? parser.get<std::string>("input")
                                                      : std::string(EXPLAIN_DATA_DIR "/default_image.png");
    const std::string layer = parser.get<std::string>("layer");
    const int classArg = parser.get<int>("class");
    const std::vector<std::string> methods = splitList(parser.get<std::string>("methods"));
    int width = parser.get<int>("width"), height = parser.get<int>("height");
    double scale = parser.get<double>("scale");
    const std::string meanText = parser.get<std::string>("mean");
    const bool rgb = parser.has("rgb") || bundled;
    std::string labelsPath = parser.has("labels") ? parser.get<std::string>("labels")
                                                  : (bundled ? std::string(EXPLAIN_DATA_DIR "/default_labels.txt") : std::string());
    const std::string outDir = parser.get<std::string>("out");
    const std::string rawPath = parser.get<std::string>("raw");
    const std::string target = parser.get<std::string>("target");
    const std::string outputArg = parser.get<std::string>("output");
    const std::string maskPath = parser.get<std::string>("mask");
    const std::string cellText = parser.get<std::string>("cell");
    const int boxIndex = parser.get<int>("box");
    const std::string input2Path = parser.get<std::string>("input2");
    const std::vector<std::string> inputNames = splitList(parser.get<std::string>("input-names"));
    const std::string device = parser.get<std::string>("device");
    if (!parser.check())
    {
        parser.printErrors();
        return 1;
    }
    if (width <= 0) width = bundled ? 64 : 224;
    if (height <= 0) height = bundled ? 64 : 224;
    if (scale <= 0) scale = bundled ? 1.0 / 255 : 1.0;
    Scalar mean;
    {
        std::stringstream ss(meanText);
        for (int i = 0; i < 4 && ss >> mean[i]; i++) {}
    }
    const std::set<std::string> known{"gradcam", "counterfactual", "guided", "guided_gradcam"};
    if (methods.empty())
    {
        std::cerr << "error: --methods is empty; choose from gradcam,counterfactual,guided,guided_gradcam\n";
        return 1;
    }
    for (const std::string& m : methods)
        if (!known.count(m))
        {
            std::cerr << "error: unknown method '" << m << "' in --methods; choose from gradcam,counterfactual,guided,guided_gradcam\n";
            return 1;
        }
    if (device != "cpu" && device != "opencl")
    {
        std::cerr << "error: unknown --device=" << device << "; choose cpu or opencl\n";
        return 1;
    }
    if (target != "class" && target != "mask" && target != "box")
    {
        std::cerr << "error: unknown --target=" << target << "; choose class, mask or box\n";
        return 1;
    }
    if (target == "mask" && maskPath.empty())
    {
        std::cerr << "error: --target=mask needs --mask=<png> (nonzero pixels: the region)\n";
        return 1;
    }
    if (target != "mask" && !maskPath.empty())
    {
        std::cerr << "error: --mask is for --target=mask\n";
        return 1;
    }
    if (target != "box" && (!cellText.empty() || boxIndex >= 0))
    {
        std::cerr << "error: --cell and --box are for --target=box\n";
        return 1;
    }
    if (!cellText.empty() && boxIndex >= 0)
    {
        std::cerr << "error: give either --cell or --box, not both\n";
        return 1;
    }
    if (input2Path.empty() ? inputNames.size() > 1 : inputNames.size() != 2)
    {
        std::cerr << "error: " << (input2Path.empty() ? "--input-names lists two inputs but --input2 is not given"
                                                      : "--input2 needs --input-names=<image input>,<second input>")
                  << "\n";
        return 1;
    }
    for (const std::string& path : {modelPath, imagePath})
        if (!fileExists(path))
        {
            std::cerr << "error: cannot open '" << path << "'\n";
            return 1;
        }
    for (const std::pair<const char*, std::string>& f : {std::make_pair("config", configPath), std::make_pair("mask", maskPath),
                                                          std::make_pair("input2", input2Path)})
        if (!f.second.empty() && !fileExists(f.second))
        {
            std::cerr << "error: cannot open " << f.first << " '" << f.second << "'\n";
            return 1;
        }
    std::vector<std::string> labels;
    if (!labelsPath.empty())
    {
        std::ifstream f(labelsPath);
        for (std::string line; std::getline(f, line);)
            labels.push_back(line);
    }
    auto want = [&](const char* m) { return std::find(methods.begin(), methods.end(), m) != methods.end(); };

    try
    {
        Mat image = imread(imagePath, IMREAD_COLOR);
        if (image.empty())
        {
            std::cerr << "error: '" << imagePath << "' is not a readable image\n";
            return 1;
        }
        TickMeter tm;
        tm.start();
        dnn::Net net = dnn::readNet(modelPath, configPath);
        if (device == "opencl")
        {
            if (!ocl::useOpenCL())
            {
                std::cerr << "error: --device=opencl, but no OpenCL device is in use (cv::ocl::useOpenCL() is false)\n";
                return 1;
            }
            net.setPreferableTarget(dnn::DNN_TARGET_OPENCL);
            explain::checkOpenCLKernels();  // fail here, not in the middle, if a kernel does not compile
        }
        Ptr<explain::GradCAM> cam = explain::GradCAM::create(net, layer, outputArg);
        tm.stop();
        std::cout << "model:   " << modelPath << " (read in " << tm.getTimeMilli() << " ms)\n";
        if (device == "opencl")
            std::cout << "device:  OpenCL, " << ocl::Device::getDefault().name() << "\n";

        Mat blob = dnn::blobFromImage(image, scale, Size(width, height), mean, rgb, false);
        Mat scores;
        tm.reset(); tm.start();
        if (!input2Path.empty())
        {
            Mat second = readSecondInput(input2Path);
            std::cout << "input2:  " << input2Path << " (" << second.size << ") as '" << inputNames[1] << "'\n";
            cam->forwardInputs(std::vector<Mat>{blob, second}, {inputNames[0], inputNames[1]}, scores);
        }
        else
            cam->forward(blob, scores, inputNames.empty() ? String() : String(inputNames[0]));
        tm.stop();
        const String output = cam->getScoreLayerName();
        std::cout << "layer:   " << cam->getLayerName() << " (" << (target == "class" ? "scores" : "output") << ": "
                  << output << ")\n";
        std::cout << "forward: " << tm.getTimeMilli() << " ms\n";
        if (device == "opencl")
            std::cout << "on the device: " << (cam->getBackprop()->isOnDevice() ? "yes" : "no (cv::dnn fell back to the CPU)")
                      << "\n";
        if (target != "class" && layer.empty() && cam->getLayerName() == output)
            std::cout << "note:    the Grad-CAM layer is the output itself; pass --layer (e.g. the encoder's last block)\n";

        int classId = -1;
        float score = 0.f;
        OutputTarget t;  // the seed of a mask or box target
        if (target == "class")
        {
            std::vector<int> order;
            sortIdx(scores.row(0), order, SORT_EVERY_ROW | SORT_DESCENDING);
            std::cout << "top-5:\n";
            for (int i = 0; i < std::min(5, scores.cols); i++)
            {
                const int k = order[i];
                std::cout << "  " << k << "  " << scores.at<float>(0, k)
                          << (k < (int)labels.size() ? "  " + labels[k] : std::string()) << "\n";
            }
            classId = classArg >= 0 ? classArg : order[0];
            if (classId >= scores.cols)
            {
                std::cerr << "error: --class " << classId << " is out of range [0, " << scores.cols << ")\n";
                return 1;
            }
            score = scores.at<float>(0, classId);
        }
        else
        {
            const Mat out = cam->getBackprop()->getActivation(output);
            if (!(target == "mask" ? maskTarget(out, maskPath, classArg, labels, t)
                                   : boxTarget(out, cellText, boxIndex, classArg, labels, t)))
                return 1;
            classId = t.classId;
            score = (float)t.score;
        }
        std::cout << "class:   " << classId << (classId < (int)labels.size() ? " (" + labels[classId] + ")" : std::string())
                  << ", score " << score << (target == "mask" ? " (sum of the logits over the mask)" : "") << "\n";

        std::vector<Mat> maps, counter;
        Mat guided, ggc;
        if (want("gradcam") || want("counterfactual") || want("guided_gradcam"))
        {
            tm.reset(); tm.start();
            if (target == "class")
                cam->compute(classId, maps, counter);
            else
                cam->computeFromGradient(output, t.seed, maps, counter);
            tm.stop();
            std::cout << "gradcam + counterfactual: " << tm.getTimeMilli() << " ms\n";
        }
        if (want("guided") || want("guided_gradcam"))
        {
            tm.reset(); tm.start();
            if (target == "class")
                cam->inputGradient(classId, guided, explain::RECTIFIER_GUIDED);
            else
                cam->inputGradientFromGradient(output, t.seed, guided, explain::RECTIFIER_GUIDED);
            tm.stop();
            std::cout << "guided backprop: " << tm.getTimeMilli() << " ms\n";
        }
        if (want("guided_gradcam"))
        {
            tm.reset(); tm.start();
            explain::combineGuidedGradCAM(maps, guided, ggc);
            tm.stop();
            std::cout << "guided grad-cam: " << tm.getTimeMilli() << " ms\n";
        }
        auto save = [&](const std::string& name, const Mat& img) {
            const std::string path = outDir + "/" + name + ".png";
            if (!imwrite(path, img))
                CV_Error(Error::StsError, "cannot write '" + path + "' (does the --out directory exist?)");
            std::cout << "wrote " << path << "\n";
        };
        Mat shown, heat;
        if (want("gradcam"))
        {
            explain::resizeMap(maps[0], image.size(), heat);
            explain::applyMapOverlay(image, heat, shown);
            save("gradcam", shown);
        }
        if (want("counterfactual"))
        {
            explain::resizeMap(counter[0], image.size(), heat);
            explain::applyMapOverlay(image, heat, shown);
            save("counterfactual", shown);
        }
        if (want("guided"))
        {
            explain::gradientToImage(guided, shown, 0, rgb);
            save("guided", shown);
        }
        if (want("guided_gradcam"))
        {
            explain::gradientToImage(ggc, shown, 0, rgb);
            save("guided_gradcam", shown);
        }
        if (!rawPath.empty())
        {
            FileStorage fs(rawPath, FileStorage::WRITE);
            if (!fs.isOpened())
            {
                std::cerr << "error: cannot write '" << rawPath << "'\n";
                return 1;
            }
            auto dropBatch = [](const Mat& b) { return b.reshape(1, b.dims - 1, b.size.p + 1); };
            if (!maps.empty() && want("gradcam")) fs << "gradcam" << maps[0];
            if (!counter.empty() && want("counterfactual")) fs << "counterfactual" << counter[0];
            if (!guided.empty() && want("guided")) fs << "guided" << dropBatch(guided);
            if (!ggc.empty()) fs << "guided_gradcam" << dropBatch(ggc);
            fs << "class_id" << classId << "score" << score << "layer" << cam->getLayerName();
            fs << "target" << target << "output" << output;
            std::cout << "wrote " << rawPath << "\n";
        }
    }
    catch (const cv::Exception& e)
    {
        std::cerr << "error: " << e.err << "\n";
        return 1;
    }
    return 0;
}
