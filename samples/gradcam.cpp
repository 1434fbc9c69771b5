// Grad-CAM, counterfactual, guided backpropagation and Guided Grad-CAM for a cv::dnn model and an image.
//
//   example_explain_gradcam --model=resnet18.onnx --input=cat.jpg --width=224 --height=224 \
//       --scale=0.017 --mean="123.7 116.3 103.5" --rgb --out=out
//
// Without --model and --input it explains the bundled synthetic-shapes model on the bundled image.
#include <opencv2/core.hpp>
#include <opencv2/core/utility.hpp>
#include <opencv2/dnn.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/explain.hpp>

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
    "{ raw            |     | optional FileStorage file (.yml, .yml.gz, .json) for the float maps }";

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
    for (const std::string& path : {modelPath, imagePath})
        if (!fileExists(path))
        {
            std::cerr << "error: cannot open '" << path << "'\n";
            return 1;
        }
    if (!configPath.empty() && !fileExists(configPath))
    {
        std::cerr << "error: cannot open config '" << configPath << "'\n";
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
        Ptr<explain::GradCAM> cam = explain::GradCAM::create(net, layer);
        tm.stop();
        std::cout << "model:   " << modelPath << " (read in " << tm.getTimeMilli() << " ms)\n";

        Mat blob = dnn::blobFromImage(image, scale, Size(width, height), mean, rgb, false);
        Mat scores;
        tm.reset(); tm.start();
        cam->forward(blob, scores);
        tm.stop();
        std::cout << "layer:   " << cam->getLayerName() << " (scores: " << cam->getScoreLayerName() << ")\n";
        std::cout << "forward: " << tm.getTimeMilli() << " ms\n";

        std::vector<int> order;
        sortIdx(scores.row(0), order, SORT_EVERY_ROW | SORT_DESCENDING);
        std::cout << "top-5:\n";
        for (int i = 0; i < std::min(5, scores.cols); i++)
        {
            const int k = order[i];
            std::cout << "  " << k << "  " << scores.at<float>(0, k)
                      << (k < (int)labels.size() ? "  " + labels[k] : std::string()) << "\n";
        }
        const int classId = classArg >= 0 ? classArg : order[0];
        if (classId >= scores.cols)
        {
            std::cerr << "error: --class " << classId << " is out of range [0, " << scores.cols << ")\n";
            return 1;
        }
        std::cout << "class:   " << classId << (classId < (int)labels.size() ? " (" + labels[classId] + ")" : std::string())
                  << ", score " << scores.at<float>(0, classId) << "\n";

        std::vector<Mat> maps, counter;
        Mat guided, ggc;
        if (want("gradcam") || want("counterfactual") || want("guided_gradcam"))
        {
            tm.reset(); tm.start();
            cam->compute(classId, maps, counter);
            tm.stop();
            std::cout << "gradcam + counterfactual: " << tm.getTimeMilli() << " ms\n";
        }
        if (want("guided") || want("guided_gradcam"))
        {
            tm.reset(); tm.start();
            cam->inputGradient(classId, guided, explain::RECTIFIER_GUIDED);
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
            fs << "class_id" << classId << "score" << scores.at<float>(0, classId) << "layer" << cam->getLayerName();
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
