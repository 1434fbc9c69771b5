// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// Evaluates CAM methods on a labelled image set: pointing game, localization accuracy, deletion and
// insertion AUC, Average Drop and Increase in Confidence (optionally ROAD and faithfulness).
//
//   example_explain_evaluate --csv=eval/boxes.csv --out=results
//   example_explain_evaluate --model=resnet18.onnx --csv=val/boxes.csv --width=224 --height=224 \
//       --scale=0.017 --mean="123.7 116.3 103.5" --rgb --methods=gradcam,scorecam --out=results
//
// The CSV has the header line file,class_id,x,y,w,h (a UTF-8 byte order mark before it is skipped) and
// one ground-truth box per line (pixels of the image file; file relative to --images, by default the CSV's
// folder): whole numbers, class_id >= 0, x and y in [-2^20, 2^20], w and h in [1, 2^20]; anything else is
// an error naming the file, line, column and text. See doc/evaluation.md.
// Without --model it evaluates the bundled synthetic-shapes model (64x64, scale 1/255, RGB).
// Flags are given as --name=value; an unknown flag, an argument that is not a flag and a value that is not
// a whole, finite, in-range number are errors (exit code 1). The results are written all or nothing: a run
// that fails leaves an earlier run's files in --out as they were.
#include <opencv2/core.hpp>
#include <opencv2/core/utility.hpp>
#include <opencv2/core/utils/filesystem.hpp>
#include <opencv2/dnn.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/explain.hpp>
#include "evaluate_args.hpp"

#include <algorithm>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>

using namespace cv;
using namespace evaluate_sample;


namespace {

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

double iou(const Rect& a, const Rect& b)
{
    const double inter = (a & b).area(), uni = (double)a.area() + b.area() - inter;
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

/** The table's columns: the seven metrics, then ROAD and faithfulness when asked for. */
std::vector<Metric> makeMetrics(const Options& o)
{
    std::vector<Metric> metrics{
        {"pointing %", "pointing_game_pct", "Pointing game %", true, true, &Scores::pointing},
        {"loc. acc. %", "localization_pct", "Localization accuracy %", true, true, &Scores::localization},
        {"mean IoU", "mean_iou", "Mean IoU of the boxes", false, true, &Scores::meanIoU},
        {"deletion AUC", "deletion_auc", "Deletion AUC", false, false, &Scores::deletion},
        {"insertion AUC", "insertion_auc", "Insertion AUC", false, true, &Scores::insertion},
        {"avg drop %", "average_drop_pct", "Average Drop %", true, false, &Scores::drop},
        {"incr. conf. %", "increase_confidence_pct", "Increase in Confidence %", true, true, &Scores::increase}};
    if (o.withRoad)
    {
        metrics.push_back({"ROAD MoRF", "road_morf", "ROAD MoRF mean score", false, false, &Scores::roadMorf});
        metrics.push_back({"ROAD LeRF", "road_lerf", "ROAD LeRF mean score", false, true, &Scores::roadLerf});
    }
    if (o.withFaith)
        metrics.push_back({"faithfulness", "faithfulness", "Faithfulness (rank corr.)", false, true, &Scores::faith});
    metrics[1].title = format("Localization accuracy %% (IoU >= %g)", o.iouMin);
    return metrics;
}

/** One run: the explainer, each method's sums and time, and per_image.csv. */
struct Evaluation
{
    dnn::Net net;
    Ptr<explain::GradCAM> cam;
    std::vector<Scores> results;
    std::vector<double> seconds;
    std::ofstream perImage;
    Mat center = centerMap();
};

/** One image and class to explain, as the model sees it. */
struct Sample
{
    const Item& item;
    size_t index;  // in the CSV's order (ROAD's noise seed)
    Size imageSize;
    Mat blob;
    int classId = -1;
};

/** Reads the image of an item and runs the forward pass; finds the class to explain (--target). */
bool prepareSample(const Options& o, Evaluation& ev, Sample& s)
{
    const std::string path = o.imageDir + "/" + s.item.file;
    Mat image = imread(path, IMREAD_COLOR);
    if (image.empty())
        return fail("cannot read image '" + path + "'", true);
    s.imageSize = image.size();
    s.blob = o.blob.blobFromImage(image);
    Mat scores;
    ev.cam->forward(s.blob, scores);
    if (s.index == 0)
        std::cout << "layer: " << ev.cam->getLayerName() << ", scores: " << ev.cam->getScoreLayerName() << "\n";
    s.classId = s.item.classId;
    if (o.target == "top1")
    {
        Point p;
        minMaxLoc(scores.row(0), nullptr, nullptr, nullptr, &p);
        s.classId = p.x;
    }
    if (s.classId >= scores.cols)
        return fail(format("class %d of '%s' is out of range [0, %d)", s.classId, s.item.file.c_str(), scores.cols), true);
    return true;
}

/** The map of a method (a CAMMethod, or -1 for the centre baseline) for the sample's class. */
Mat methodMap(Evaluation& ev, int method, const Sample& s)
{
    if (method < 0)
        return ev.center;
    ev.cam->setMethod(method);
    std::vector<Mat> maps;
    ev.cam->compute(s.classId, maps);
    return maps[0];
}

/** ROAD: the mean score over 10 ... 90 % removed, MoRF and LeRF (noise seeded by the item index). */
void addRoad(const Options& o, Evaluation& ev, const Sample& s, const Mat& saliency, Scores& sums)
{
    for (int morf = 0; morf < 2; morf++)
    {
        const explain::ROADResult r = explain::road(ev.net, s.blob, saliency, s.classId, morf == 1, std::vector<double>(),
                                                    String(), 0.01, (int64)s.index, true, o.batch);
        double sum = 0;
        for (double v : r.scores)
            sum += v;
        (morf ? sums.roadMorf : sums.roadLerf) += sum / r.scores.size();
    }
}

/** Method k on one sample: its map and every metric, added to the method's sums and written to per_image.csv. */
void evaluateMethod(const Options& o, Evaluation& ev, size_t k, const Sample& s)
{
    TickMeter tm;
    tm.start();
    const Mat map = methodMap(ev, knownMethods().at(o.methods[k]), s);
    const Size inputSize(o.blob.width, o.blob.height);
    Scores& sums = ev.results[k];
    const bool hit = explain::pointingGame(map, s.imageSize, s.item.boxes, o.tolerance);
    const Rect box = explain::mapToBoundingBox(map, s.imageSize, o.threshold);
    double bestIoU = 0;
    for (const Rect& b : s.item.boxes)
        bestIoU = std::max(bestIoU, iou(box, b));
    Mat saliency;
    explain::resizeMap(map, inputSize, saliency);
    const explain::DeletionInsertionResult del =
        explain::deletionInsertion(ev.net, s.blob, saliency, s.classId, String(), o.steps, true, noArray(), true, o.batch);
    const explain::DeletionInsertionResult ins =
        explain::deletionInsertion(ev.net, s.blob, saliency, s.classId, String(), o.steps, false, noArray(), true, o.batch);
    double drop = 0, increase = 0;
    Mat yo;
    explain::averageDropIncrease(ev.net, s.blob, std::vector<Mat>{map}, {s.classId}, drop, increase, String(), true,
                                 o.batch, yo);
    sums.n++;
    sums.pointing += hit ? 100.0 : 0.0;
    sums.localization += bestIoU >= o.iouMin ? 100.0 : 0.0;
    sums.meanIoU += bestIoU;
    sums.deletion += del.auc;
    sums.insertion += ins.auc;
    sums.drop += drop;
    sums.increase += increase;
    if (o.withRoad)
        addRoad(o, ev, s, saliency, sums);
    if (o.withFaith)
        sums.faith += explain::faithfulness(ev.net, s.blob, map, s.classId, String(), 0, 0, 0, true, o.batch);
    tm.stop();
    ev.seconds[k] += tm.getTimeSec();
    ev.perImage << o.methods[k] << "," << s.item.file << "," << s.classId << "," << (hit ? 1 : 0) << "," << bestIoU << ","
                << del.auc << "," << ins.auc << "," << yo.at<double>(0, 0) << "," << yo.at<double>(0, 1) << "\n";
}

/** Every method on every item, with a progress bar; the sums become means. */
bool evaluateAll(const Options& o, const std::vector<Item>& items, const std::vector<Metric>& metrics, Evaluation& ev)
{
    ev.results.assign(o.methods.size(), Scores());
    ev.seconds.assign(o.methods.size(), 0.0);
    const int64 start = getTickCount();
    std::cout << "model: " << o.modelPath << ", input " << o.blob.width << "x" << o.blob.height << ", " << items.size()
              << " items from " << o.csvPath << "\n";
    for (size_t n = 0; n < items.size(); n++)
    {
        Sample s{items[n], n, Size(), Mat()};
        if (!prepareSample(o, ev, s))
            return false;
        for (size_t k = 0; k < o.methods.size(); k++)
            evaluateMethod(o, ev, k, s);
        progress((int)n + 1, (int)items.size(), (getTickCount() - start) / getTickFrequency());
    }
    for (Scores& s : ev.results)
        for (const Metric& m : metrics)
            s.*m.field /= std::max(1, s.n);
    return true;
}

/** The table of evaluation.txt: a row per method, a column per metric. */
std::string formatTable(const std::vector<std::string>& methods, const std::vector<Scores>& results,
                        const std::vector<Metric>& metrics)
{
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
    return table.str();
}

/** evaluation.csv: a row per method, a column per metric. */
std::string formatCSV(const std::vector<std::string>& methods, const std::vector<Scores>& results,
                      const std::vector<Metric>& metrics)
{
    std::ostringstream csv;
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
    return csv.str();
}

/** Prints the table and the times; writes evaluation.txt, evaluation.csv and evaluation.png and replaces
    the files of --out with them and per_image.csv, all together (files.commit()). */
bool writeResults(const Options& o, Evaluation& ev, const std::vector<Metric>& metrics, sample::AtomicFiles& files)
{
    const std::string table = formatTable(o.methods, ev.results, metrics);
    std::cout << "\n" << table;
    std::cout << "time per method (maps + metrics):";
    for (size_t k = 0; k < o.methods.size(); k++)
        std::cout << " " << o.methods[k] << format(" %.1f s", ev.seconds[k]) << (k + 1 < o.methods.size() ? "," : "\n");
    ev.perImage.close();
    if (ev.perImage.fail())
        return fail("cannot write '" + o.outDir + "/per_image.csv'");
    if (!sample::writeText(files, o.outDir + "/evaluation.txt", table) ||
        !sample::writeText(files, o.outDir + "/evaluation.csv", formatCSV(o.methods, ev.results, metrics)) ||
        !sample::writeImage(files, o.outDir + "/evaluation.png", plot(o.methods, ev.results, metrics),
                            {IMWRITE_PNG_COMPRESSION, 9}) ||
        !files.commit())
        return false;
    std::cout << "wrote " << o.outDir << "/evaluation.csv, evaluation.txt, per_image.csv, evaluation.png\n";
    return true;
}

} // namespace

int main(int argc, char** argv)
{
    Options o;
    const int exitCode = parseOptions(argc, argv, o);
    if (exitCode >= 0)
        return exitCode;
    if (!checkOptions(o))
        return 1;
    std::vector<Item> items;
    std::string error;
    if (!readCSV(o.csvPath, items, error))
    {
        fail(error);
        return 1;
    }
    if (o.limit > 0 && (int)items.size() > o.limit)
        items.resize(o.limit);
    const std::vector<Metric> metrics = makeMetrics(o);
    try
    {
        sample::AtomicFiles files;  // declared first: per_image.csv's stream closes before its temporary file goes
        Evaluation ev;
        ev.net = cv::explain::readNet(o.modelPath, o.configPath);
        ev.cam = explain::GradCAM::create(ev.net, o.layer);
        utils::fs::createDirectories(o.outDir);
        ev.perImage.open(files.add(o.outDir + "/per_image.csv"));
        if (!ev.perImage)
        {
            fail("cannot write '" + o.outDir + "/per_image.csv'");
            return 1;
        }
        ev.perImage << "method,file,class_id,pointing_hit,iou,deletion_auc,insertion_auc,score,masked_score\n";
        if (!evaluateAll(o, items, metrics, ev) || !writeResults(o, ev, metrics, files))
            return 1;
    }
    catch (const cv::Exception& e)
    {
        std::cerr << "\nerror: " << e.err << "\n";
        return 1;
    }
    return 0;
}
