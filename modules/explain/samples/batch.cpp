// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// Explains a dataset: every image of a folder (recursively) or of a manifest, in batches through the Net.
//
//   example_explain_batch --input=images/ --out=results
//   example_explain_batch --model=resnet18.onnx --input=val.csv --width=224 --height=224 --scale=0.017 \
//       --mean="123.7 116.3 103.5" --rgb --methods=gradcam,guided_gradcam --save=png,float --batch=16 --out=results
//   example_explain_batch --input=images/ --shard=3/8 --out=results/shard-3      (one task of an array job)
//
// Writes, in --out: maps/<image path>_<method>.png (each map over the image, at its size) and/or
// maps/<image path>.yml.gz (the raw float maps), one line per explained image in index.jsonl (class, score,
// layer, files, metrics, time_ms), and errors.jsonl (the images this run could not explain).
//
// Resumable: an image counts as done when its index line is complete. Its files are written first, each
// to a temporary file renamed when complete, then the line is appended in one write; a rerun reads the
// index, drops a line cut short by a crash (rewriting the index whole), and explains only what is missing.
// Unreadable images get an error line and the run goes on. Exit code: 0; 1 for bad arguments or a model
// that does not load; 2 when no image of the shard could be explained (none is in the index), or with
// --strict when any failed in this run. See doc/batch.md.
#include <opencv2/core.hpp>
#include <opencv2/core/utility.hpp>
#include <opencv2/core/utils/filesystem.hpp>
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/dnn.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/explain.hpp>
#include "batch_args.hpp"
#include "batch_manifest.hpp"

#include <fcntl.h>
#ifdef _WIN32
#include <io.h>
#define EXPLAIN_ISATTY _isatty
#else
#include <unistd.h>
#define EXPLAIN_ISATTY isatty
#endif

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

using namespace cv;
using namespace batch_sample;

namespace {

/** Exit code of --stop-after (EX_TEMPFAIL: try again). */
const int kStoppedExit = 75;

/** index.jsonl: one complete line per explained image, appended one whole line per write(). */
class Index
{
public:
    ~Index()
    {
        if (fd_ >= 0)
            ::close(fd_);
    }

    /** Reads the ids of the complete lines into `done`, rewrites the file (atomically) without a line that
        a crash cut short, and opens it for appending; false after an error message. */
    bool open(const std::string& path, std::set<std::string>& done)
    {
        path_ = path;
        std::ifstream f(path, std::ios::binary);
        std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
        std::string kept;
        int dropped = 0;
        for (size_t start = 0; start < text.size();)
        {
            const size_t nl = text.find('\n', start);
            const std::string line = text.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
            start = nl == std::string::npos ? text.size() : nl + 1;
            Json v;
            std::string error;
            const Json* id = nl != std::string::npos && JsonReader::parseObject(line, v, error) ? v.find("id") : nullptr;
            if (id && id->type == Json::STRING && done.insert(id->text).second)
                kept += line + "\n";
            else
                dropped++;
        }
        if (dropped > 0)
        {
            std::cout << "note: dropped " << dropped << " incomplete line(s) of " << path << " (an interrupted run); "
                      << "their images are explained again\n";
            sample::AtomicFiles files;
            if (!sample::writeText(files, path, kept) || !files.commit())
                return false;
        }
        fd_ = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0644);
        return fd_ >= 0 || fail("cannot open '" + path + "' for appending");
    }

    /** Appends `line` and a newline in one write; false after an error message. */
    bool append(const std::string& line)
    {
        const std::string whole = line + "\n";
        return ::write(fd_, whole.data(), whole.size()) == (long)whole.size() || fail("cannot append to '" + path_ + "'");
    }

    /** --stop-after: what a crash in the middle of a write leaves, the first half of a line. */
    void appendHalf(const std::string& line)
    {
        if (::write(fd_, line.data(), line.size() / 2) < 0)
            std::cerr << "warning: the test write to '" << path_ << "' failed\n";
    }

private:
    std::string path_;
    int fd_ = -1;
};

/** The progress bar on stderr: images done of those to do, rate and time left. On a terminal it is redrawn
    in place; in a log, one line every 10 seconds and at the end. */
class Progress
{
public:
    explicit Progress(int total) : total_(total), tty_(EXPLAIN_ISATTY(2) != 0) { start_ = last_ = getTickCount(); }

    void update(int done, int failed, bool force = false)
    {
        const double now = (double)getTickCount(), seconds = (now - start_) / getTickFrequency();
        if (done == shownDone_ && failed == shownFailed_)
            return;
        if (!tty_ && !force && (now - last_) / getTickFrequency() < 10 && done < total_)
            return;
        last_ = now;
        shownDone_ = done;
        shownFailed_ = failed;
        const double rate = seconds > 0 ? done / seconds : 0;
        const int left = rate > 0 ? (int)((total_ - done) / rate + 0.5) : -1;
        const int width = 30, filled = total_ ? width * done / total_ : width;
        std::cerr << (tty_ ? "\r" : "") << "[" << std::string(filled, '#') << std::string(width - filled, '.') << "] "
                  << done << "/" << total_ << " images" << (failed ? format(" (%d failed)", failed) : std::string())
                  << format(", %.1f images/s, ETA ", rate)
                  << (left < 0 ? std::string("--:--") : format("%d:%02d", left / 60, left % 60))
                  << (tty_ ? "   " : "\n") << std::flush;
        shown_ = tty_;
    }

    /** Ends the bar's line before other output. */
    void breakLine()
    {
        if (shown_)
            std::cerr << "\n";
        shown_ = false;
    }

    void finish(int done, int failed)
    {
        update(done, failed, true);
        breakLine();
    }

private:
    int total_, shownDone_ = -1, shownFailed_ = -1;
    bool tty_, shown_ = false;
    double start_, last_;
};

/** One image of a batch: what it is, and what explaining it gave. */
struct Result
{
    Item item;
    Mat image;
    std::string error;
    int classId = -1, top1 = -1;
    float score = 0;
    std::map<std::string, Mat> maps;  // CAM maps (2D, layer resolution), guided / guided_gradcam (1 x C x H x W)
    std::map<std::string, double> ms; // per method, this image's share of the batch's time
};

bool isCamMethod(const std::string& m)
{
    return knownMethods().at(m) >= 0;
}

/** Image i of an N x C x H x W blob, as 1 x C x H x W. */
Mat blobImage(const Mat& blob, int i)
{
    std::vector<Range> r(blob.dims, Range::all());
    r[0] = Range(i, i + 1);
    return blob(r).clone();
}

/** The forward pass of a batch and the class of each image: its given class, or its top-1. */
bool forwardBatch(const Options& o, explain::GradCAM& cam, std::vector<Result*>& rs, double& ms)
{
    std::vector<Mat> images;
    for (Result* r : rs)
        images.push_back(r->image);
    const Mat blob = dnn::blobFromImages(images, o.blob.scale, Size(o.blob.width, o.blob.height), o.blob.mean, o.blob.rgb, false);
    TickMeter tm;
    tm.start();
    Mat scores;
    cam.forward(blob, scores);
    tm.stop();
    ms = tm.getTimeMilli() / rs.size();
    scores = scores.reshape(1, (int)rs.size());
    bool any = false;
    for (size_t i = 0; i < rs.size(); i++)
    {
        Point best;
        minMaxLoc(scores.row((int)i), nullptr, nullptr, nullptr, &best);
        rs[i]->top1 = best.x;
        rs[i]->classId = rs[i]->item.classId >= 0 ? rs[i]->item.classId : best.x;
        if (rs[i]->classId >= scores.cols)
            rs[i]->error = format("class %d is out of range: the model has %d classes", rs[i]->classId, scores.cols);
        else
            rs[i]->score = scores.at<float>((int)i, rs[i]->classId), any = true;
    }
    return any;
}

/** The images of a batch grouped by the class to explain: -1 for those explained for their top-1 class (one
    call serves them all), then one group per other class. */
std::map<int, std::vector<int>> classGroups(const std::vector<Result*>& rs)
{
    std::map<int, std::vector<int>> groups;
    for (size_t i = 0; i < rs.size(); i++)
        if (rs[i]->error.empty())
            groups[rs[i]->classId == rs[i]->top1 ? -1 : rs[i]->classId].push_back((int)i);
    return groups;
}

/** The maps of --methods for a batch after forwardBatch(); each method timed. */
void computeBatch(const Options& o, explain::GradCAM& cam, std::vector<Result*>& rs)
{
    const auto groups = classGroups(rs);
    const bool cf = o.wants("counterfactual"), ggc = o.wants("guided_gradcam");
    std::vector<std::string> camMethods;
    for (const std::string& m : o.methods)
        if (isCamMethod(m))
            camMethods.push_back(m);
    if ((cf || ggc) && !o.wants("gradcam"))
        camMethods.push_back("gradcam");  // the counterfactual comes with Grad-CAM, Guided Grad-CAM needs it
    auto share = [&](const std::string& m, TickMeter& tm) {
        for (Result* r : rs)
            r->ms[m] += tm.getTimeMilli() / rs.size();
    };
    for (const std::string& m : camMethods)
    {
        TickMeter tm;
        tm.start();
        cam.setMethod(knownMethods().at(m));
        for (const auto& g : groups)
        {
            std::vector<Mat> maps, counter;
            if (m == "gradcam" && cf)
                cam.compute(g.first, maps, counter);
            else
                cam.compute(g.first, maps);
            for (int i : g.second)
            {
                rs[i]->maps[m] = maps[i];
                if (!counter.empty())
                    rs[i]->maps["counterfactual"] = counter[i];
            }
        }
        tm.stop();
        share(m, tm);
    }
    cam.setMethod(explain::CAM_GRADCAM);
    if (o.wants("guided") || ggc)
    {
        TickMeter tm;
        tm.start();
        for (const auto& g : groups)
        {
            Mat grad;
            cam.inputGradient(g.first, grad, explain::RECTIFIER_GUIDED);
            for (int i : g.second)
                rs[i]->maps["guided"] = blobImage(grad, i);
        }
        tm.stop();
        share("guided", tm);
    }
    if (ggc)
    {
        TickMeter tm;
        tm.start();
        for (Result* r : rs)
            if (r->error.empty())
                explain::combineGuidedGradCAM(std::vector<Mat>{r->maps["gradcam"]}, r->maps["guided"], r->maps["guided_gradcam"]);
        tm.stop();
        share("guided_gradcam", tm);
    }
}

/** An item's files are maps/<its path without the extension>[_c<class>]...; a path that is absolute or
    climbs out ("..") is kept inside maps/ ("/data/a.png" -> maps/data/a, "../a.png" -> maps/up/a). */
std::string outputStem(const Item& item)
{
    std::string stem;
    std::stringstream ss(item.path);
    for (std::string part; std::getline(ss, part, '/');)
    {
        if (part.empty() || part == ".")
            continue;
        stem += (stem.empty() ? "" : "/") + (part == ".." ? std::string("up") : part);
    }
    const size_t dot = stem.find_last_of('.'), slash = stem.find_last_of('/');
    if (dot != std::string::npos && dot > (slash == std::string::npos ? 0 : slash + 1))
        stem.erase(dot);
    return "maps/" + stem + (item.classId >= 0 ? "_c" + std::to_string(item.classId) : std::string());
}

/** The map of method `m` as a picture of the image's size: CAM maps over the image, gradients as images
    (stretched back from the net's input size). */
Mat renderMap(const Options& o, const Result& r, const std::string& m)
{
    Mat shown, heat;
    const Mat& map = r.maps.at(m);
    if (map.dims == 2)
    {
        explain::resizeMap(map, r.image.size(), heat);
        explain::applyMapOverlay(r.image, heat, shown);
        return shown;
    }
    explain::gradientToImage(map, shown, 0, o.blob.rgb);
    resize(shown, shown, r.image.size(), 0, 0, INTER_LINEAR);
    return shown;
}

std::string jsonBox(const Rect& b)
{
    return format("[%d,%d,%d,%d]", b.x, b.y, b.width, b.height);
}

double iou(const Rect& a, const Rect& b)
{
    const double inter = (a & b).area(), uni = (double)a.area() + b.area() - inter;
    return uni > 0 ? inter / uni : 0.0;
}

/** The metrics of each CAM map: the box of the map's largest component above 15 % (the paper's weakly
    supervised localization), and with ground-truth boxes the pointing game and the best IoU. */
std::string metricsJson(const Options& o, const Result& r)
{
    std::string out;
    for (const std::string& m : o.methods)
    {
        if (!isCamMethod(m))
            continue;
        const Mat& map = r.maps.at(m);
        const Rect box = explain::mapToBoundingBox(map, r.image.size());
        out += (out.empty() ? "" : ",") + jsonString(m) + ":{\"bbox\":" + jsonBox(box);
        if (!r.item.boxes.empty())
        {
            double best = 0;
            for (const Rect& b : r.item.boxes)
                best = std::max(best, iou(box, b));
            out += std::string(",\"pointing_game\":") + (explain::pointingGame(map, r.image.size(), r.item.boxes) ? "true" : "false") +
                   ",\"iou\":" + format("%.4f", best);
        }
        out += "}";
    }
    return "{" + out + "}";
}

/** The image's files (all complete, or none) and its index line (without time_ms); false after an error. */
bool writeFiles(const Options& o, const Result& r, std::string& filesJson)
{
    const std::string stem = outputStem(r.item), parent = o.outDir + "/" + stem.substr(0, stem.find_last_of('/'));
    if (!utils::fs::createDirectories(parent))
        return fail("cannot create '" + parent + "'");
    sample::AtomicFiles files;
    for (const std::string& m : o.methods)
    {
        if (!o.savePng)
            break;
        const std::string rel = stem + "_" + m + ".png";
        if (!sample::writeImage(files, o.outDir + "/" + rel, renderMap(o, r, m)))
            return false;
        filesJson += (filesJson.empty() ? "" : ",") + jsonString(m) + ":" + jsonString(rel);
    }
    if (o.saveFloat)
    {
        const std::string rel = stem + ".yml.gz";
        FileStorage fs(files.add(o.outDir + "/" + rel), FileStorage::WRITE);
        for (const std::string& m : o.methods)
        {
            const Mat& map = r.maps.at(m);
            fs << m << (map.dims == 2 ? map : map.reshape(1, map.dims - 1, map.size.p + 1));  // C x H x W
        }
        fs << "class_id" << r.classId << "score" << r.score;
        fs.release();
        filesJson += (filesJson.empty() ? "" : ",") + std::string("\"float\":") + jsonString(rel);
    }
    return files.commit();
}

/** The index line of an explained image; time_ms comes last, so that comparisons can cut it off. */
std::string indexLine(const Options& o, const Result& r, const std::vector<std::string>& labels, const String& layer,
                      const std::string& filesJson)
{
    std::string line = "{\"id\":" + jsonString(r.item.id) + ",\"path\":" + jsonString(r.item.path) +
                       format(",\"class\":%d", r.classId);
    if (r.classId < (int)labels.size())
        line += ",\"label\":" + jsonString(labels[r.classId]);
    line += ",\"score\":" + jsonNumber(r.score) + format(",\"top1\":%d", r.top1) +
            ",\"target\":" + (r.item.classId >= 0 ? "\"given\"" : "\"top1\"") + ",\"layer\":" + jsonString(layer) +
            format(",\"size\":[%d,%d]", r.image.cols, r.image.rows);
    if (!r.item.boxes.empty())
    {
        std::string boxes;
        for (const Rect& b : r.item.boxes)
            boxes += (boxes.empty() ? "" : ",") + jsonBox(b);
        line += ",\"boxes\":[" + boxes + "]";
    }
    line += ",\"maps\":{" + filesJson + "},\"metrics\":" + metricsJson(o, r) + ",\"time_ms\":{";
    std::string times;
    for (const auto& t : r.ms)
        times += (times.empty() ? "" : ",") + jsonString(t.first) + ":" + format("%.3f", t.second);
    return line + times + "}}";
}

/** The path of an item's image. */
std::string imagePath(const Options& o, const Item& item)
{
    return item.path[0] == '/' ? item.path : o.imageDir + "/" + item.path;
}

/** What the run does and counts. */
struct Run
{
    const Options& o;
    explain::GradCAM& cam;
    const std::vector<std::string>& labels;
    Index& index;
    Progress& progress;
    int batchSize;  // --batch, or 1 once the net has refused a batch
    int explained = 0;
    std::vector<std::string> errors;  // lines of errors.jsonl

    void error(const Item& item, const std::string& what)
    {
        progress.breakLine();
        std::cerr << "error: '" << item.path << "': " << what << " (skipped; the run goes on)\n";
        errors.push_back("{\"id\":" + jsonString(item.id) + ",\"path\":" + jsonString(item.path) + ",\"error\":" +
                         jsonString(what) + "}");
    }

    /** Explains the loaded images of `rs` in one batch; a batch that fails is tried again image by image,
        so that one bad image does not take the others with it. */
    void explain(std::vector<Result*> rs)
    {
        try
        {
            double forwardMs = 0;
            if (forwardBatch(o, cam, rs, forwardMs))
                computeBatch(o, cam, rs);
            for (Result* r : rs)
                r->ms["forward"] = forwardMs;
        }
        catch (const cv::Exception& e)
        {
            if (rs.size() > 1)
            {
                const int before = (int)errors.size();
                for (Result* r : rs)
                    explain({r});
                if ((int)errors.size() == before)  // every image works alone: the net takes no batches
                    singleImages(e.err, (int)rs.size());
                return;
            }
            rs[0]->error = e.err;
        }
        for (Result* r : rs)
            finish(*r);
    }

    /** From now on one image per forward pass, said once. */
    void singleImages(const std::string& why, int n)
    {
        progress.breakLine();
        std::cerr << "note: the net refused a batch of " << n << " images (" << why << "); they were explained one at a "
                  << "time, and so will the rest (--batch=1 avoids the retry)\n";
        batchSize = 1;
    }

    /** Writes one image's files and index line (or reports its error). */
    void finish(Result& r)
    {
        if (!r.error.empty())
            return error(r.item, r.error);
        std::string filesJson;
        if (!writeFiles(o, r, filesJson))
            return error(r.item, "its files could not be written");
        const std::string line = indexLine(o, r, labels, cam.getLayerName(), filesJson);
        if (o.stopAfter > 0 && explained == o.stopAfter)
        {
            index.appendHalf(line);
            std::cerr << "\nstopped after " << explained << " images (--stop-after)\n";
            std::_Exit(kStoppedExit);
        }
        if (!index.append(line))
            std::exit(1);  // the index cannot be trusted: stop
        explained++;
    }
};

/** The images of `todo`, in batches of --batch (of 1 once the net has refused a batch). */
void runBatches(Run& run, const std::vector<Item>& todo)
{
    for (size_t start = 0, end = 0; start < todo.size(); start = end)
    {
        end = std::min(todo.size(), start + run.batchSize);
        std::vector<Result> results(end - start);
        std::vector<Result*> loaded;
        for (size_t i = start; i < end; i++)
        {
            Result& r = results[i - start];
            r.item = todo[i];
            r.image = imread(imagePath(run.o, r.item), IMREAD_COLOR);
            if (r.image.empty())
                run.error(r.item, utils::fs::exists(imagePath(run.o, r.item)) ? "not a readable image" : "no such file");
            else
                loaded.push_back(&r);
        }
        if (!loaded.empty())
            run.explain(loaded);
        run.progress.update((int)end, (int)run.errors.size());
    }
}

/** Removes the temporary files that an interrupted run left in --out (".tmp-*", see sample::AtomicFiles). */
void removeStaleTemporaries(const std::string& outDir)
{
    std::vector<String> found;
    utils::fs::glob_relative(outDir, ".tmp-*", found, true, false);
    for (const String& f : found)
        std::remove((outDir + "/" + f).c_str());
}

/** --out relative to --input when it lies inside it (so that a rerun does not explain its own maps). */
std::string outInsideInput(const Options& o)
{
    if (!utils::fs::isDirectory(o.input))
        return std::string();
    const std::string in = utils::fs::canonical(o.input) + "/", out = utils::fs::canonical(o.outDir);
    return out.compare(0, in.size(), in) == 0 ? out.substr(in.size()) : std::string();
}

std::vector<std::string> readLabels(const std::string& path)
{
    std::vector<std::string> labels;
    std::ifstream f(path);
    for (std::string line; std::getline(f, line);)
        labels.push_back(line);
    return labels;
}

/** The items of this shard that the index does not have yet (`indexed`: how many it has); prints the counts. */
bool itemsToDo(const Options& o, const std::set<std::string>& done, std::vector<Item>& todo, int& indexed)
{
    std::vector<Item> items;
    std::string error;
    if (!readItems(o.input, outInsideInput(o), items, error))
        return fail(error);
    int inShard = 0;
    for (const Item& item : items)
        if (shardOf(item.id, o.shardCount) == o.shardIndex && (inShard++, !done.count(item.id)))
            todo.push_back(item);
    std::cout << "images:  " << items.size() << " in " << o.input;
    if (o.shardCount > 1)
        std::cout << ", " << inShard << " in shard " << o.shardIndex << "/" << o.shardCount;
    indexed = inShard - (int)todo.size();
    std::cout << ", " << indexed << " already in the index, " << todo.size() << " to explain\n";
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
    utils::logging::setLogLevel(utils::logging::LOG_LEVEL_ERROR);  // an unreadable image gets our error line, not imread's warning too
    try
    {
        if (!utils::fs::exists(o.input))  // before --out is made: a mistyped --input leaves nothing behind
            return fail("cannot open '" + o.input + "'"), 1;
        if (!utils::fs::createDirectories(o.outDir))
            return fail("cannot create the --out folder '" + o.outDir + "'"), 1;
        removeStaleTemporaries(o.outDir);
        Index index;
        std::set<std::string> done;
        std::vector<Item> todo;
        int indexed = 0;
        if (!index.open(o.outDir + "/index.jsonl", done) || !itemsToDo(o, done, todo, indexed))
            return 1;
        dnn::Net net = cv::explain::readNet(o.modelPath, o.configPath);
        Ptr<explain::GradCAM> cam = explain::GradCAM::create(net, o.layer);
        const std::vector<std::string> labels = readLabels(o.labelsPath);
        Progress progress((int)todo.size());
        Run run{o, *cam, labels, index, progress, o.batch};
        runBatches(run, todo);
        progress.finish((int)todo.size(), (int)run.errors.size());
        std::string errors;
        for (const std::string& e : run.errors)
            errors += e + "\n";
        sample::AtomicFiles files;
        if (!sample::writeText(files, o.outDir + "/errors.jsonl", errors) || !files.commit())
            return 1;
        std::cout << "done:    " << run.explained << " explained, " << run.errors.size() << " failed; index: " << o.outDir
                  << "/index.jsonl\n";
        // every image of the shard failed: nothing to show for the run, most likely a wrong path or model
        const bool allFailed = indexed + run.explained == 0 && !run.errors.empty();
        return allFailed || (o.strict && !run.errors.empty()) ? 2 : 0;
    }
    catch (const cv::Exception& e)
    {
        std::cerr << "error: " << e.err << "\n";
        return 1;
    }
}
