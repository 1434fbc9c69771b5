// Evaluates CAM methods on a labelled image set: pointing game, localization accuracy, deletion and
// insertion AUC, Average Drop and Increase in Confidence (optionally ROAD and faithfulness).
//
//   example_explain_evaluate --csv=eval/boxes.csv --out=results
//   example_explain_evaluate --model=resnet18.onnx --csv=val/boxes.csv --width=224 --height=224 \
//       --scale=0.017 --mean="123.7 116.3 103.5" --rgb --methods=gradcam,scorecam --out=results
//
// The CSV has a header line and one ground-truth box per line: file,class_id,x,y,w,h (pixels of the
// image file; file relative to --images, by default the CSV's folder). See doc/evaluation.md.
// Without --model it evaluates the bundled synthetic-shapes model (64x64, scale 1/255, RGB).
#include <opencv2/core.hpp>
#include <opencv2/core/utility.hpp>
#include <opencv2/core/utils/filesystem.hpp>
#include <opencv2/dnn.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/explain.hpp>

#include <algorithm>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>

using namespace cv;

static const char* keys =
    "{ help h usage ? |     | print this message }"
    "{ csv            |     | ground truth: header line, then file,class_id,x,y,w,h per box (required) }"
    "{ images         |     | folder of the image files; default: the CSV's folder }"
    "{ model m        |     | model file (.onnx, .caffemodel, .pb, ...); default: the bundled model }"
    "{ config c       |     | optional config file (.prototxt, .pbtxt, .cfg) }"
    "{ layer l        |     | CAM target layer; default: the last layer with a spatial output }"
    "{ methods        | gradcam,gradcampp,xgradcam,hirescam,elementwise,layercam,eigencam,eigengradcam,scorecam "
    "| comma list of gradcam,gradcampp,xgradcam,hirescam,elementwise,layercam,eigencam,eigengradcam,scorecam and "
    "center (a centred Gaussian, as a baseline) }"
    "{ target         | gt  | explained class: gt (the CSV's class_id) or top1 (the model's prediction) }"
    "{ width          | 0   | input width  (0: 64 for the bundled model, else 224) }"
    "{ height         | 0   | input height (0: 64 for the bundled model, else 224) }"
    "{ scale          | 0   | multiplier for pixel values (0: 1/255 for the bundled model, else 1) }"
    "{ mean           |     | mean subtracted before scaling, e.g. \"104 117 123\" }"
    "{ rgb            |     | swap R and B (the model takes RGB); implied for the bundled model }"
    "{ limit          | 0   | evaluate at most this many (image, class) items; 0: all }"
    "{ steps          | 30  | deletion / insertion steps }"
    "{ threshold      | 0.15 | localization threshold (fraction of the map's maximum) }"
    "{ iou            | 0.5 | IoU for a correct localization }"
    "{ tolerance      | 0   | pointing game tolerance in image pixels }"
    "{ batch          | 16  | images per forward pass in the metrics (1 for fixed-batch models) }"
    "{ road           |     | also ROAD: mean score over 10..90 % removed, MoRF and LeRF }"
    "{ faithfulness   |     | also the occlusion rank correlation (patch = input/8, stride = patch/2) }"
    "{ out o          | .   | directory (created) for evaluation.csv, evaluation.txt, per_image.csv, evaluation.png }";

namespace {

struct Item
{
    std::string file;
    int classId = -1;
    std::vector<Rect> boxes;
};

struct Scores
{
    int n = 0;
    double pointing = 0, localization = 0, meanIoU = 0, deletion = 0, insertion = 0, drop = 0, increase = 0;
    double roadMorf = 0, roadLerf = 0, faith = 0;
};

struct Metric
{
    const char* header;  // table column
    const char* csv;     // CSV column
    std::string title;   // plot title
    bool percent, higherIsBetter;
    double Scores::*field;
};

std::vector<std::string> splitList(const std::string& s, char sep = ',')
{
    std::vector<std::string> items;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, sep))
    {
        item.erase(0, item.find_first_not_of(" \t\r"));
        item.erase(item.find_last_not_of(" \t\r") + 1);
        items.push_back(item);
    }
    return items;
}

std::string directoryOf(const std::string& path)
{
    const size_t p = path.find_last_of('/');
    return p == std::string::npos ? std::string(".") : path.substr(0, p);
}

/** Reads the ground truth; one item per (file, class_id), in the order of first appearance. */
bool readCSV(const std::string& path, std::vector<Item>& items, std::string& error)
{
    std::ifstream f(path);
    if (!f)
    {
        error = "cannot open '" + path + "'";
        return false;
    }
    std::map<std::pair<std::string, int>, size_t> index;
    std::string line;
    for (int lineNo = 1; std::getline(f, line); lineNo++)
    {
        if (line.find_first_not_of(" \t\r") == std::string::npos)
            continue;
        std::vector<std::string> v = splitList(line);
        if (lineNo == 1 && !v.empty() && v[0] == "file")
            continue;  // header
        int c, x, y, w, h;
        if (v.size() != 6 || sscanf(v[1].c_str(), "%d", &c) != 1 || sscanf(v[2].c_str(), "%d", &x) != 1 ||
            sscanf(v[3].c_str(), "%d", &y) != 1 || sscanf(v[4].c_str(), "%d", &w) != 1 ||
            sscanf(v[5].c_str(), "%d", &h) != 1 || c < 0 || w <= 0 || h <= 0)
        {
            error = format("%s:%d: expected file,class_id,x,y,w,h with class_id >= 0 and w, h > 0, got '%s'",
                           path.c_str(), lineNo, line.c_str());
            return false;
        }
        auto key = std::make_pair(v[0], c);
        auto it = index.find(key);
        if (it == index.end())
        {
            it = index.emplace(key, items.size()).first;
            items.push_back(Item{v[0], c, {}});
        }
        items[it->second].boxes.emplace_back(x, y, w, h);
    }
    if (items.empty())
    {
        error = "'" + path + "' has no boxes";
        return false;
    }
    return true;
}

double iou(const Rect& a, const Rect& b)
{
    const double inter = (a & b).area(), uni = a.area() + b.area() - inter;
    return uni > 0 ? inter / uni : 0.0;
}

void progress(int done, int total, double seconds)
{
    const int width = 40, filled = total ? width * done / total : width;
    std::cerr << "\r[" << std::string(filled, '#') << std::string(width - filled, '.') << "] " << done << "/" << total
              << format(" (%.1f s)", seconds) << std::flush;
    if (done == total)
        std::cerr << "\n";
}

/** A centred Gaussian map (baseline method "center"). */
Mat centerMap()
{
    Mat m(32, 32, CV_32F);
    for (int y = 0; y < 32; y++)
        for (int x = 0; x < 32; x++)
            m.at<float>(y, x) = (float)std::exp(-((x - 15.5) * (x - 15.5) + (y - 15.5) * (y - 15.5)) / (2 * 8.0 * 8.0));
    return m;
}

std::string formatValue(double v, bool percent)
{
    return percent ? format("%.2f", v) : format("%.4f", v);
}

/** Small multiples: one panel per metric, a horizontal bar per method. */
Mat plot(const std::vector<std::string>& methods, const std::vector<Scores>& results, const std::vector<Metric>& metrics)
{
    static const Scalar palette[] = {Scalar(180, 119, 31), Scalar(14, 127, 255), Scalar(44, 160, 44), Scalar(40, 39, 214),
                                     Scalar(189, 103, 148), Scalar(75, 86, 140), Scalar(194, 119, 227), Scalar(127, 127, 127),
                                     Scalar(34, 189, 188), Scalar(207, 190, 23)};
    const int cols = (int)std::min<size_t>(metrics.size() > 6 ? 4 : 3, metrics.size()), rows = (int)(metrics.size() + cols - 1) / cols;
    const int barH = 18, gap = 6, panelW = 430, labelW = 125, valueW = 70, top = 48;
    const int panelH = top + (int)methods.size() * (barH + gap) + 10;
    Mat img(rows * panelH, cols * panelW, CV_8UC3, Scalar::all(255));
    const int font = FONT_HERSHEY_SIMPLEX;
    for (size_t k = 0; k < metrics.size(); k++)
    {
        const Metric& m = metrics[k];
        const Point o((int)(k % cols) * panelW, (int)(k / cols) * panelH);
        double hi = m.percent ? 100.0 : 1.0, lo = 0.0;
        for (const Scores& s : results)
        {
            hi = std::max(hi, s.*m.field);
            lo = std::min(lo, s.*m.field);
        }
        putText(img, m.title, o + Point(10, 20), font, 0.5, Scalar::all(0), 1, LINE_AA);
        putText(img, m.higherIsBetter ? "higher is better" : "lower is better", o + Point(10, 37), font, 0.4,
                Scalar::all(110), 1, LINE_AA);
        const int x0 = o.x + labelW, x1 = o.x + panelW - valueW;
        const int zero = x0 + (int)std::lround((0 - lo) / (hi - lo) * (x1 - x0));
        for (size_t i = 0; i < methods.size(); i++)
        {
            const int y = o.y + top + (int)i * (barH + gap);
            putText(img, methods[i], Point(o.x + 10, y + barH - 5), font, 0.45, Scalar::all(0), 1, LINE_AA);
            const double v = results[i].*m.field;
            const int xv = x0 + (int)std::lround((v - lo) / (hi - lo) * (x1 - x0));
            rectangle(img, Point(std::min(zero, xv), y), Point(std::max(zero, xv), y + barH), palette[i % 10], FILLED);
            putText(img, formatValue(v, m.percent), Point(std::max(zero, xv) + 4, y + barH - 5), font, 0.4,
                    Scalar::all(40), 1, LINE_AA);
        }
        line(img, Point(zero, o.y + top - 4), Point(zero, o.y + panelH - 8), Scalar::all(120), 1);
        rectangle(img, Rect(o.x + 2, o.y + 2, panelW - 4, panelH - 4), Scalar::all(200), 1);
    }
    return img;
}

} // namespace

int main(int argc, char** argv)
{
    CommandLineParser parser(argc, argv, keys);
    parser.about("Evaluates CAM methods of cv::explain on a labelled image set (pointing game, localization, "
                 "deletion/insertion AUC, Average Drop, Increase in Confidence).");
    if (parser.has("help"))
    {
        parser.printMessage();
        return 0;
    }
    const bool bundled = !parser.has("model");
    const std::string modelPath = bundled ? std::string(EXPLAIN_DATA_DIR "/default_model.onnx") : parser.get<std::string>("model");
    const std::string configPath = parser.get<std::string>("config");
    const std::string csvPath = parser.get<std::string>("csv");
    std::string imageDir = parser.get<std::string>("images");
    const std::string layer = parser.get<std::string>("layer");
    const std::vector<std::string> methods = splitList(parser.get<std::string>("methods"));
    const std::string target = parser.get<std::string>("target");
    int width = parser.get<int>("width"), height = parser.get<int>("height");
    double scale = parser.get<double>("scale");
    const std::string meanText = parser.get<std::string>("mean");
    const bool rgb = parser.has("rgb") || bundled;
    const int limit = parser.get<int>("limit");
    const int steps = parser.get<int>("steps");
    const double threshold = parser.get<double>("threshold");
    const double iouMin = parser.get<double>("iou");
    const int tolerance = parser.get<int>("tolerance");
    const int batch = parser.get<int>("batch");
    const bool withRoad = parser.has("road"), withFaith = parser.has("faithfulness");
    const std::string outDir = parser.get<std::string>("out");
    if (!parser.check())
    {
        parser.printErrors();
        return 1;
    }
    if (csvPath.empty())
    {
        std::cerr << "error: --csv is required (a header line, then file,class_id,x,y,w,h per box)\n";
        return 1;
    }
    if (imageDir.empty())
        imageDir = directoryOf(csvPath);
    if (width <= 0) width = bundled ? 64 : 224;
    if (height <= 0) height = bundled ? 64 : 224;
    if (scale <= 0) scale = bundled ? 1.0 / 255 : 1.0;
    Scalar mean;
    {
        std::stringstream ss(meanText);
        for (int i = 0; i < 4 && ss >> mean[i]; i++) {}
    }
    const std::map<std::string, int> known{
        {"gradcam", explain::CAM_GRADCAM}, {"gradcampp", explain::CAM_GRADCAM_PLUS_PLUS},
        {"xgradcam", explain::CAM_XGRADCAM}, {"hirescam", explain::CAM_HIRESCAM},
        {"elementwise", explain::CAM_GRADCAM_ELEMENTWISE}, {"layercam", explain::CAM_LAYERCAM},
        {"eigencam", explain::CAM_EIGENCAM}, {"eigengradcam", explain::CAM_EIGENGRADCAM},
        {"scorecam", explain::CAM_SCORECAM}, {"center", -1}};
    if (methods.empty())
    {
        std::cerr << "error: --methods is empty\n";
        return 1;
    }
    for (const std::string& m : methods)
        if (!known.count(m))
        {
            std::cerr << "error: unknown method '" << m << "' in --methods; choose from gradcam,gradcampp,xgradcam,"
                         "hirescam,elementwise,layercam,eigencam,eigengradcam,scorecam,center\n";
            return 1;
        }
    if (target != "gt" && target != "top1")
    {
        std::cerr << "error: --target must be gt or top1, got '" << target << "'\n";
        return 1;
    }
    if (steps < 1 || batch < 1 || limit < 0 || tolerance < 0 || threshold < 0 || threshold > 1 || iouMin <= 0 || iouMin > 1)
    {
        std::cerr << "error: need --steps >= 1, --batch >= 1, --limit >= 0, --tolerance >= 0, --threshold in [0, 1], "
                     "--iou in (0, 1]\n";
        return 1;
    }
    std::vector<Item> items;
    std::string error;
    if (!readCSV(csvPath, items, error))
    {
        std::cerr << "error: " << error << "\n";
        return 1;
    }
    if (limit > 0 && (int)items.size() > limit)
        items.resize(limit);

    std::vector<Metric> metrics{
        {"pointing %", "pointing_game_pct", "Pointing game %", true, true, &Scores::pointing},
        {"loc. acc. %", "localization_pct", "Localization accuracy %", true, true, &Scores::localization},
        {"mean IoU", "mean_iou", "Mean IoU of the boxes", false, true, &Scores::meanIoU},
        {"deletion AUC", "deletion_auc", "Deletion AUC", false, false, &Scores::deletion},
        {"insertion AUC", "insertion_auc", "Insertion AUC", false, true, &Scores::insertion},
        {"avg drop %", "average_drop_pct", "Average Drop %", true, false, &Scores::drop},
        {"incr. conf. %", "increase_confidence_pct", "Increase in Confidence %", true, true, &Scores::increase}};
    if (withRoad)
    {
        metrics.push_back({"ROAD MoRF", "road_morf", "ROAD MoRF mean score", false, false, &Scores::roadMorf});
        metrics.push_back({"ROAD LeRF", "road_lerf", "ROAD LeRF mean score", false, true, &Scores::roadLerf});
    }
    if (withFaith)
        metrics.push_back({"faithfulness", "faithfulness", "Faithfulness (rank corr.)", false, true, &Scores::faith});
    metrics[1].title = format("Localization accuracy %% (IoU >= %g)", iouMin);

    try
    {
        dnn::Net net = dnn::readNet(modelPath, configPath);
        Ptr<explain::GradCAM> cam = explain::GradCAM::create(net, layer);
        utils::fs::createDirectories(outDir);
        std::ofstream perImage(outDir + "/per_image.csv");
        if (!perImage)
        {
            std::cerr << "error: cannot write '" << outDir << "/per_image.csv'\n";
            return 1;
        }
        perImage << "method,file,class_id,pointing_hit,iou,deletion_auc,insertion_auc,score,masked_score\n";
        std::vector<Scores> results(methods.size());
        std::vector<double> seconds(methods.size(), 0.0);
        const Mat center = centerMap();
        const int64 start = getTickCount();
        std::cout << "model: " << modelPath << ", input " << width << "x" << height << ", " << items.size()
                  << " items from " << csvPath << "\n";
        for (size_t n = 0; n < items.size(); n++)
        {
            const Item& item = items[n];
            const std::string path = imageDir + "/" + item.file;
            Mat image = imread(path, IMREAD_COLOR);
            if (image.empty())
            {
                std::cerr << "\nerror: cannot read image '" << path << "'\n";
                return 1;
            }
            Mat blob = dnn::blobFromImage(image, scale, Size(width, height), mean, rgb, false);
            Mat scores;
            cam->forward(blob, scores);
            if (n == 0)
                std::cout << "layer: " << cam->getLayerName() << ", scores: " << cam->getScoreLayerName() << "\n";
            int classId = item.classId;
            if (target == "top1")
            {
                Point p;
                minMaxLoc(scores.row(0), nullptr, nullptr, nullptr, &p);
                classId = p.x;
            }
            if (classId >= scores.cols)
            {
                std::cerr << "\nerror: class " << classId << " of '" << item.file << "' is out of range [0, "
                          << scores.cols << ")\n";
                return 1;
            }
            for (size_t k = 0; k < methods.size(); k++)
            {
                TickMeter tm;
                tm.start();
                Mat map;
                const int method = known.at(methods[k]);
                if (method < 0)
                    map = center;
                else
                {
                    cam->setMethod(method);
                    std::vector<Mat> maps;
                    cam->compute(classId, maps);
                    map = maps[0];
                }
                Scores& s = results[k];
                const bool hit = explain::pointingGame(map, image.size(), item.boxes, tolerance);
                const Rect box = explain::mapToBoundingBox(map, image.size(), threshold);
                double bestIoU = 0;
                for (const Rect& b : item.boxes)
                    bestIoU = std::max(bestIoU, iou(box, b));
                Mat saliency;
                explain::resizeMap(map, Size(width, height), saliency);
                const explain::DeletionInsertionResult del =
                    explain::deletionInsertion(net, blob, saliency, classId, String(), steps, true, noArray(), true, batch);
                const explain::DeletionInsertionResult ins =
                    explain::deletionInsertion(net, blob, saliency, classId, String(), steps, false, noArray(), true, batch);
                double drop = 0, increase = 0;
                Mat yo;
                explain::averageDropIncrease(net, blob, std::vector<Mat>{map}, {classId}, drop, increase, String(),
                                             true, batch, yo);
                s.n++;
                s.pointing += hit ? 100.0 : 0.0;
                s.localization += bestIoU >= iouMin ? 100.0 : 0.0;
                s.meanIoU += bestIoU;
                s.deletion += del.auc;
                s.insertion += ins.auc;
                s.drop += drop;
                s.increase += increase;
                if (withRoad)
                {
                    for (int morf = 0; morf < 2; morf++)
                    {
                        const explain::ROADResult r = explain::road(net, blob, saliency, classId, morf == 1,
                                                                    std::vector<double>(), String(), 0.01, (int64)n,
                                                                    true, batch);
                        double sum = 0;
                        for (double v : r.scores)
                            sum += v;
                        (morf ? s.roadMorf : s.roadLerf) += sum / r.scores.size();
                    }
                }
                if (withFaith)
                    s.faith += explain::faithfulness(net, blob, map, classId, String(), 0, 0, 0, true, batch);
                tm.stop();
                seconds[k] += tm.getTimeSec();
                perImage << methods[k] << "," << item.file << "," << classId << "," << (hit ? 1 : 0) << ","
                         << bestIoU << "," << del.auc << "," << ins.auc << "," << yo.at<double>(0, 0) << ","
                         << yo.at<double>(0, 1) << "\n";
            }
            progress((int)n + 1, (int)items.size(), (getTickCount() - start) / getTickFrequency());
        }
        for (Scores& s : results)
            for (const Metric& m : metrics)
                s.*m.field /= std::max(1, s.n);

        // the table
        std::ostringstream table;
        table << std::left << std::setw(14) << "method" << std::right << std::setw(7) << "images";
        for (const Metric& m : metrics)
            table << std::setw(15) << m.header;
        table << "\n";
        for (size_t k = 0; k < methods.size(); k++)
        {
            table << std::left << std::setw(14) << methods[k] << std::right << std::setw(7) << results[k].n;
            for (const Metric& m : metrics)
                table << std::setw(15) << formatValue(results[k].*m.field, m.percent);
            table << "\n";
        }
        std::cout << "\n" << table.str();
        std::cout << "time per method (maps + metrics):";
        for (size_t k = 0; k < methods.size(); k++)
            std::cout << " " << methods[k] << format(" %.1f s", seconds[k]) << (k + 1 < methods.size() ? "," : "\n");

        std::ofstream txt(outDir + "/evaluation.txt"), csv(outDir + "/evaluation.csv");
        txt << table.str();
        csv << "method,images";
        for (const Metric& m : metrics)
            csv << "," << m.csv;
        csv << "\n";
        for (size_t k = 0; k < methods.size(); k++)
        {
            csv << methods[k] << "," << results[k].n;
            for (const Metric& m : metrics)
                csv << "," << format("%.6g", results[k].*m.field);
            csv << "\n";
        }
        const std::string png = outDir + "/evaluation.png";
        if (!imwrite(png, plot(methods, results, metrics), {IMWRITE_PNG_COMPRESSION, 9}))
            CV_Error(Error::StsError, "cannot write '" + png + "'");
        std::cout << "wrote " << outDir << "/evaluation.csv, evaluation.txt, per_image.csv, evaluation.png\n";
    }
    catch (const cv::Exception& e)
    {
        std::cerr << "\nerror: " << e.err << "\n";
        return 1;
    }
    return 0;
}
