// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// Grad-CAM, counterfactual, guided backpropagation and Guided Grad-CAM for a cv::dnn model and an image.
//
//   example_explain_gradcam --model=resnet18.onnx --input=cat.jpg --width=224 --height=224 \
//       --scale=0.017 --mean="123.7 116.3 103.5" --rgb --out=out
//
// Without --model and --input it explains the bundled synthetic-shapes model on the bundled image.
// Flags are given as --name=value; an unknown flag, an argument that is not a flag and a value that is not
// a whole, finite, in-range number are errors (exit code 1). The PNGs and --raw are written all or nothing.
//
// Other targets than a class score (see doc/tasks.md for the bundled task models):
//   --target=mask --output=<layer> --mask=<png> [--class=c]   segmentation: the sum of class-c logits of
//       <layer> over the mask (nonzero pixels; resized nearest to the output's H x W), as
//       pytorch-grad-cam's SemanticSegmentationTarget
//   --target=box --output=<layer> (--cell=<row>,<col> | --box=<index>) [--class=c]   detection: the class-c
//       logit of one cell of a raw single-shot head, N x (5 + K) x H x W (channel 0 objectness, 1-4 box,
//       5.. class logits) or N x B x (5 + K) (one row per box)
//   --target=word --output=<layer> --word=<t> [--class=w]   sequences (captions): the word-w output of step t
//       of a T x 1 x V output (steps, image, vocabulary), e.g. its log-probability in a caption fed word by word
//   --input2=<file> --input-names=image,question   multi-input nets: the second input is held fixed
//
// --input may also be a folder of images, an image sequence (img_%04d.png), a video file or a camera index
// (0), as in OpenCV's dnn samples. With a display, a window shows the explanation of each frame (keys: 1-5
// class, m method, l layer, p panel, space, n, q); with --headless or no display, a video becomes an
// annotated MJPG .avi in --out and a folder one set of images per file. --panel adds the paper's figure.
#include <opencv2/core.hpp>
#include <opencv2/core/ocl.hpp>
#include <opencv2/core/utility.hpp>
#include <opencv2/dnn.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/highgui.hpp>
#include <opencv2/videoio.hpp>
#include <opencv2/explain.hpp>
#include "gradcam_args.hpp"
#include "gradcam_view.hpp"
#include "sample_input.hpp"

#include <algorithm>
#include <csignal>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

using namespace cv;
using namespace gradcam_sample;


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

/** What is explained: a class score, or the seed gradient of a mask or box target on an output layer. */
struct Target
{
    String output;     // the layer holding the scores (class) or the output the seed is put on
    int classId = -1;
    float score = 0.f; // the target's value
    Mat seed;          // mask and box targets: d(target)/d(output), of the output's shape
};

/** " (name)" of class k when the labels name it. */
static std::string labelText(const std::vector<std::string>& labels, int k)
{
    return k < (int)labels.size() ? " (" + labels[k] + ")" : std::string();
}

/** The model and the optional files exist (--input is checked when it is opened). */
static bool checkFiles(const Options& o)
{
    if (!fileExists(o.modelPath))
        return fail("cannot open '" + o.modelPath + "'");
    for (const std::pair<const char*, std::string>& f : {std::make_pair("config", o.configPath), std::make_pair("mask", o.maskPath),
                                                          std::make_pair("input2", o.input2Path)})
        if (!f.second.empty() && !fileExists(f.second))
            return fail(std::string("cannot open ") + f.first + " '" + f.second + "'");
    return true;
}

static std::vector<std::string> readLabels(const std::string& path)
{
    std::vector<std::string> labels;
    if (!path.empty())
    {
        std::ifstream f(path);
        for (std::string line; std::getline(f, line);)
            labels.push_back(line);
    }
    return labels;
}

/** Reads the Net (on DNN_TARGET_OPENCL for --device=opencl) and creates the explainer; empty on error. */
/** The explainer of a target layer, reading it as tokens when --tokens is given. */
static Ptr<explain::GradCAM> createExplainer(const dnn::Net& net, const std::string& layer, const Options& o)
{
    //! [create]
    Ptr<explain::GradCAM> cam = explain::GradCAM::create(net, layer, o.outputArg);
    //! [create]
    if (!o.tokenGrid.empty())
        cam->setTokenGrid(o.tokenGrid.height, o.tokenGrid.width, o.prefixTokens);
    return cam;
}

static Ptr<explain::GradCAM> loadExplainer(const Options& o, dnn::Net& net)
{
    TickMeter tm;
    tm.start();
    //! [read]
    net = cv::explain::readNet(o.modelPath, o.configPath);
    //! [read]
    if (o.device == "opencl")
    {
        if (!ocl::useOpenCL())
        {
            fail("--device=opencl, but no OpenCL device is in use (cv::ocl::useOpenCL() is false)");
            return Ptr<explain::GradCAM>();
        }
        net.setPreferableTarget(dnn::DNN_TARGET_OPENCL);
        explain::checkOpenCLKernels();  // fail here, not in the middle, if a kernel does not compile
    }
    Ptr<explain::GradCAM> cam = createExplainer(net, o.layer, o);
    tm.stop();
    std::cout << "model:   " << o.modelPath << " (read in " << tm.getTimeMilli() << " ms)\n";
    if (o.device == "opencl")
        std::cout << "device:  OpenCL, " << ocl::Device::getDefault().name() << "\n";
    return cam;
}

/** The forward pass (--input2 held fixed as the second input); prints the layers and where it ran. */
static Mat forwardImage(const Options& o, explain::GradCAM& cam, const Mat& image)
{
    //! [blob]
    Mat blob = o.blob.blobFromImage(image);
    //! [blob]
    Mat scores;
    TickMeter tm;
    tm.start();
    if (!o.input2Path.empty())
    {
        Mat second = readSecondInput(o.input2Path);
        std::cout << "input2:  " << o.input2Path << " (" << second.size << ") as '" << o.inputNames[1] << "'\n";
        cam.forwardInputs(std::vector<Mat>{blob, second}, {o.inputNames[0], o.inputNames[1]}, scores);
    }
    else
        //! [forward]
        cam.forward(blob, scores, o.inputNames.empty() ? String() : String(o.inputNames[0]));
        //! [forward]
    tm.stop();
    const String output = cam.getScoreLayerName();
    std::cout << "layer:   " << cam.getLayerName() << " (" << (o.target == "class" ? "scores" : "output") << ": "
              << output << ")\n";
    std::cout << "forward: " << tm.getTimeMilli() << " ms\n";
    if (o.device == "opencl")
        std::cout << "on the device: " << (cam.getBackprop()->isOnDevice() ? "yes" : "no (cv::dnn fell back to the CPU)")
                  << "\n";
    if (o.target != "class" && o.layer.empty() && cam.getLayerName() == output)
        std::cout << "note:    the Grad-CAM layer is the output itself; pass --layer (e.g. the encoder's last block)\n";
    return scores;
}

/** --target=class: prints the top-5 classes and explains --class, or the top one. */
static bool chooseClass(const Options& o, const Mat& scores, const std::vector<std::string>& labels, Target& t)
{
    std::vector<int> order;
    sortIdx(scores.row(0), order, SORT_EVERY_ROW | SORT_DESCENDING);
    std::cout << "top-5:\n";
    for (int i = 0; i < std::min(5, scores.cols); i++)
    {
        const int k = order[i];
        std::cout << "  " << k << "  " << scores.at<float>(0, k) << (k < (int)labels.size() ? "  " + labels[k] : std::string()) << "\n";
    }
    t.classId = o.classArg >= 0 ? o.classArg : order[0];
    if (t.classId >= scores.cols)
        return fail(format("--class %d is out of range [0, %d)", t.classId, scores.cols));
    t.score = scores.at<float>(0, t.classId);
    return true;
}

/** How many of the region's pixels each class wins (per-pixel argmax over the channels of a 1 x C x H x W output). */
static std::vector<int> classVotes(const Mat& out, const Mat& region)
{
    const int C = out.size[1], H = out.size[2], W = out.size[3];
    std::vector<int> votes(C, 0);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            if (region.at<uchar>(y, x))
            {
                int best = 0;
                for (int c = 1; c < C; c++)
                    if (out.ptr<float>(0, c, y)[x] > out.ptr<float>(0, best, y)[x])
                        best = c;
                votes[best]++;
            }
    return votes;
}

/** --target=mask: the sum of class-c logits over the mask's pixels (explain::maskTarget); c defaults to
    the class that wins (per-pixel argmax) on most of the mask's pixels. */
static bool chooseMaskTarget(const Options& o, const Mat& out, const std::vector<std::string>& labels, Target& t)
{
    if (out.dims != 4 || out.size[0] != 1)
    {
        std::cerr << "error: --target=mask needs a 1 x C x H x W output; the --output layer gives " << out.size << "\n";
        return false;
    }
    const int C = out.size[1], H = out.size[2], W = out.size[3];
    Mat mask = imread(o.maskPath, IMREAD_GRAYSCALE);
    if (mask.empty())
        return fail("--mask '" + o.maskPath + "' is not a readable image");
    Mat region;
    resize(mask, region, Size(W, H), 0, 0, INTER_NEAREST);
    const int pixels = countNonZero(region);
    if (pixels == 0)
        return fail(format("--mask '%s' has no nonzero pixel at the output's %dx%d", o.maskPath.c_str(), W, H));
    const std::vector<int> votes = classVotes(out, region);
    std::cout << "mask:    " << pixels << " of " << W << "x" << H << " output pixels; classes winning there:";
    for (int c = 0; c < C; c++)
        if (votes[c] > 0)
            std::cout << "  " << c << labelText(labels, c) << " " << votes[c];
    std::cout << "\n";
    t.classId = o.classArg >= 0 ? o.classArg : (int)(std::max_element(votes.begin(), votes.end()) - votes.begin());
    if (t.classId >= C)
        return fail(format("--class %d is out of range [0, %d) for the output's channels", t.classId, C));
    explain::maskTarget(out, t.classId, mask, t.seed);
    t.score = (float)out.dot(t.seed);  // the target is linear in the output
    return true;
}

/** A raw single-shot detection head, 1 x (5+K) x H x W (a grid of cells) or 1 x B x (5+K) (rows): per
    cell, objectness (value 0), 4 box values and K class logits. */
struct DetectionHead
{
    const Mat& out;
    const bool grid;
    const int K, cells, W;

    explicit DetectionHead(const Mat& m)
        : out(m), grid(m.dims == 4), K(m.size[grid ? 1 : 2] - 5), cells(grid ? m.size[2] * m.size[3] : m.size[1]),
          W(grid ? m.size[3] : 1) {}

    /** Whether `m` has one of the two layouts, batch 1 and K >= 1. */
    static bool fits(const Mat& m) { return (m.dims == 4 || m.dims == 3) && m.size[0] == 1 && m.size[m.dims == 4 ? 1 : 2] >= 6; }

    /** Value v of cell i. */
    float at(int i, int v) const { return grid ? out.ptr<float>(0, v)[i] : out.ptr<float>(0, i)[v]; }

    /** "row,col" of a grid cell, the row of a box. */
    std::string where(int i) const { return grid ? format("%d,%d", i / W, i % W) : format("%d", i); }

    int topClass(int i) const
    {
        int best = 0;
        for (int k = 1; k < K; k++)
            if (at(i, 5 + k) > at(i, 5 + best))
                best = k;
        return best;
    }

    /** The cells by objectness, highest first (stable). */
    std::vector<int> byObjectness() const
    {
        std::vector<int> order(cells);
        for (int i = 0; i < cells; i++)
            order[i] = i;
        std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return at(a, 0) > at(b, 0); });
        return order;
    }
};

/** --cell=<row>,<col> as a cell index of the grid. */
static bool parseCell(const std::string& text, const DetectionHead& head, int& cell)
{
    const MatSize& size = head.out.size;
    const size_t comma = text.find(',');
    int row = -1, col = -1;
    if (!head.grid || comma == std::string::npos ||
        !sample::parseInt(text.substr(0, comma), 0, size[2] - 1, row).empty() ||
        !sample::parseInt(text.substr(comma + 1), 0, size[3] - 1, col).empty())
        return fail("--cell=" + text + " is not a cell <row>,<col> of the " +
                    (head.grid ? format("%d x %d grid", size[2], size[3]) : std::string("output (rows of boxes: use --box)")));
    cell = row * head.W + col;
    return true;
}

/** --target=box: the class logit of one cell or row of a raw detection head (explain::boxTarget): --cell, or
    the one ranked --box by objectness; the class defaults to the cell's top class. */
static bool chooseBoxTarget(const Options& o, const Mat& out, const std::vector<std::string>& labels, Target& t)
{
    if (!DetectionHead::fits(out))
    {
        std::cerr << "error: --target=box needs a 1 x (5+K) x H x W or 1 x B x (5+K) output (objectness, 4 box "
                     "values, K class logits); the --output layer gives " << out.size << "\n";
        return false;
    }
    const DetectionHead head(out);
    const std::vector<int> order = head.byObjectness();
    std::cout << "detections by objectness (" << (head.grid ? "cell row,col" : "row") << ": objectness, top class):\n";
    for (int r = 0; r < std::min(5, head.cells); r++)
    {
        const int i = order[r], k = head.topClass(i);
        std::cout << "  " << r << "  " << head.where(i) << ": " << head.at(i, 0) << ", " << k << labelText(labels, k) << "\n";
    }
    int cell = -1;
    if (!o.cellText.empty())
    {
        if (!parseCell(o.cellText, head, cell))
            return false;
    }
    else if (o.boxIndex >= head.cells)
        return fail(format("--box %d is out of range [0, %d)", o.boxIndex, head.cells));
    else
        cell = order[std::max(o.boxIndex, 0)];
    t.classId = o.classArg >= 0 ? o.classArg : head.topClass(cell);
    if (t.classId >= head.K)
        return fail(format("--class %d is out of range [0, %d) for the head's classes", t.classId, head.K));
    explain::boxTarget(out, t.classId, cell, t.seed);
    t.score = head.at(cell, 5 + t.classId);
    std::cout << (head.grid ? "cell:    " : "row:     ") << head.where(cell) << " (objectness " << head.at(cell, 0) << ", box values";
    for (int v = 1; v < 5; v++)
        std::cout << " " << head.at(cell, v);
    std::cout << ")\n";
    return true;
}

/** --target=word: the output of word w at step --word of a T x 1 x V sequence (explain::wordTarget); w is
    --class, or the top word of that step. Prints the top word of every step (a caption's words). */
static bool chooseWordTarget(const Options& o, const Mat& out, const std::vector<std::string>& labels, Target& t)
{
    if (out.dims != 3 || out.size[1] != 1)
    {
        std::cerr << "error: --target=word needs a T x 1 x V output (steps, image, vocabulary); the --output layer gives "
                  << out.size << "\n";
        return false;
    }
    const int T = out.size[0], V = out.size[2];
    if (o.wordStep >= T)
        return fail(format("--word %d is out of range [0, %d) of the output's steps", o.wordStep, T));
    std::vector<int> top(T);
    std::cout << "words (step: top word, value):";
    for (int s = 0; s < T; s++)
    {
        const float* step = out.ptr<float>(s);
        top[s] = int(std::max_element(step, step + V) - step);
        std::cout << "  " << s << ": " << top[s] << labelText(labels, top[s]) << " " << step[top[s]];
    }
    std::cout << "\n";
    if (o.classArg >= V)
        return fail(format("--class %d is out of range [0, %d) of the output's words", o.classArg, V));
    t.classId = o.classArg >= 0 ? o.classArg : top[o.wordStep];
    explain::wordTarget(out, o.wordStep, t.classId, t.seed);
    t.score = out.ptr<float>(o.wordStep)[t.classId];
    std::cout << "step:    " << o.wordStep << "\n";
    return true;
}

/** The target of --target on the scores or on the --output layer's activation; prints the class. */
static bool chooseTarget(const Options& o, explain::GradCAM& cam, const Mat& scores,
                         const std::vector<std::string>& labels, Target& t)
{
    t.output = cam.getScoreLayerName();
    bool ok;
    if (o.target == "class")
        ok = chooseClass(o, scores, labels, t);
    else
    {
        const Mat out = cam.getBackprop()->getActivation(t.output);
        ok = o.target == "mask"  ? chooseMaskTarget(o, out, labels, t)
           : o.target == "word" ? chooseWordTarget(o, out, labels, t)
                                : chooseBoxTarget(o, out, labels, t);
    }
    if (ok)
        std::cout << "class:   " << t.classId << labelText(labels, t.classId) << ", score " << t.score
                  << (o.target == "mask" ? " (sum of the logits over the mask)" : "") << "\n";
    return ok;
}

/** The maps of --methods, each step timed. */
static void computeMaps(const Options& o, explain::GradCAM& cam, const Target& t, Maps& m)
{
    const bool byClass = o.target == "class", all = o.panel;
    TickMeter tm;
    if (all || o.wants("gradcam") || o.wants("counterfactual") || o.wants("guided_gradcam"))
    {
        tm.reset(); tm.start();
        if (byClass)
            //! [compute]
            cam.compute(t.classId, m.gradcam, m.counterfactual);
            //! [compute]
        else
            cam.computeFromGradient(t.output, t.seed, m.gradcam, m.counterfactual);
        tm.stop();
        std::cout << "gradcam + counterfactual: " << tm.getTimeMilli() << " ms\n";
    }
    if (all || o.wants("guided") || o.wants("guided_gradcam"))
    {
        tm.reset(); tm.start();
        if (byClass)
            //! [guided]
            cam.inputGradient(t.classId, m.guided, explain::RECTIFIER_GUIDED);
            //! [guided]
        else
            cam.inputGradientFromGradient(t.output, t.seed, m.guided, explain::RECTIFIER_GUIDED);
        tm.stop();
        std::cout << "guided backprop: " << tm.getTimeMilli() << " ms\n";
    }
    if (all || o.wants("guided_gradcam"))
    {
        tm.reset(); tm.start();
        //! [combine]
        explain::combineGuidedGradCAM(m.gradcam, m.guided, m.guidedGradCAM);
        //! [combine]
        tm.stop();
        std::cout << "guided grad-cam: " << tm.getTimeMilli() << " ms\n";
    }
}

/** <--out>/<prefix><name>.png, written by files.commit(). */
static bool saveImage(const Options& o, sample::AtomicFiles& files, const std::string& name, const Mat& img)
{
    const std::string path = o.outDir + "/" + name + ".png";
    return imwrite(files.add(path), img) || fail("cannot write '" + path + "'");
}

/** The PNG images, each at the image's size: the CAM maps over the image, the gradients as images, and
    with --panel the whole figure; names start with `prefix`. False after an error message. */
static bool saveImages(const Options& o, sample::AtomicFiles& files, const Mat& image, const Maps& m,
                       const std::string& className, const std::string& prefix = std::string())
{
    for (const std::string& method : o.methods)
        if (!saveImage(o, files, prefix + method, renderMap(method, image, m, o.blob.rgb)))
            return false;
    return !o.panel || saveImage(o, files, prefix + "panel", makePanel(image, m, o.blob.rgb, className));
}

/** --raw: the float maps (batch dimension dropped) and what they explain, in a FileStorage file written by
    files.commit(). */
static bool writeRaw(const Options& o, sample::AtomicFiles& files, const Maps& m, const Target& t, const String& layer)
{
    FileStorage fs(files.add(o.rawPath), FileStorage::WRITE);
    if (!fs.isOpened())
        return fail("cannot write '" + o.rawPath + "'");
    auto dropBatch = [](const Mat& b) { return b.reshape(1, b.dims - 1, b.size.p + 1); };
    if (!m.gradcam.empty() && o.wants("gradcam")) fs << "gradcam" << m.gradcam[0];
    if (!m.counterfactual.empty() && o.wants("counterfactual")) fs << "counterfactual" << m.counterfactual[0];
    if (!m.guided.empty() && o.wants("guided")) fs << "guided" << dropBatch(m.guided);
    if (!m.guidedGradCAM.empty() && o.wants("guided_gradcam")) fs << "guided_gradcam" << dropBatch(m.guidedGradCAM);
    fs << "class_id" << t.classId << "score" << t.score << "layer" << layer;
    fs << "target" << o.target << "output" << t.output;
    fs.release();
    return true;
}

/** The PNGs and --raw, all or nothing: an earlier run's files stay as they were when one cannot be written. */
static bool writeOutputs(const Options& o, const Mat& image, const Maps& maps, const Target& t, const String& layer,
                         const std::string& className)
{
    sample::AtomicFiles files;
    if (!saveImages(o, files, image, maps, className) || (!o.rawPath.empty() && !writeRaw(o, files, maps, t, layer)) || !files.commit())
        return false;
    for (const std::string& path : files.written())
        std::cout << "wrote " << path << "\n";
    return true;
}

/** The name of class k: its label, or "class k". */
static std::string className(const std::vector<std::string>& labels, int k)
{
    return k >= 0 && k < (int)labels.size() ? labels[k] : format("class %d", k);
}

/** One image: the steps printed and timed, every map of --methods (and --panel) written to --out. */
static int runImage(const Options& o, explain::GradCAM& cam, const Mat& image, const std::vector<std::string>& labels)
{
    const Mat scores = forwardImage(o, cam, image);
    Target t;
    if (!chooseTarget(o, cam, scores, labels, t))
        return 1;
    Maps maps;
    computeMaps(o, cam, t, maps);
    return writeOutputs(o, image, maps, t, cam.getLayerName(), className(labels, t.classId)) ? 0 : 1;
}

/** Whether a window can open, or why not ("" when it can): highgui needs a display, and on Linux its Qt
    backend aborts the process when the one in DISPLAY does not answer, so a local X display (":N") is looked
    for first (its socket, /tmp/.X11-unix/XN). */
static std::string whyNoDisplay()
{
#if defined(_WIN32) || defined(__APPLE__)
    return std::string();
#else
    const char* x11 = std::getenv("DISPLAY");
    const char* wayland = std::getenv("WAYLAND_DISPLAY");
    if (wayland && *wayland)
        return std::string();
    if (!x11 || !*x11)
        return "no display (DISPLAY and WAYLAND_DISPLAY are not set)";
    const std::string display = x11;
    const size_t colon = display.find(':');
    const bool local = colon == 0 || display.compare(0, colon, "unix") == 0;
    if (!local || colon == std::string::npos)
        return std::string();  // a remote or forwarded display: Qt will tell
    const std::string number = display.substr(colon + 1, display.find('.', colon) - colon - 1);
    if (!utils::fs::exists("/tmp/.X11-unix/X" + number))
        return "DISPLAY=" + display + ", but no X server listens there (/tmp/.X11-unix/X" + number + ")";
    return std::string();
#endif
}

/** The target layers the viewer's `l` key cycles through: `first` (the explainer's), then the other layers
    with a spatial output, deepest first; convolutions are left out (their activation follows). */
static std::vector<String> candidateLayers(const dnn::Net& net, const explain::MatShape& input, const String& first)
{
    std::vector<String> layers{first};
    std::vector<int> ids;
    std::vector<std::vector<explain::MatShape>> in, out;
    try
    {
#if CV_VERSION_MAJOR >= 5  // OpenCV 5 also takes the input types
        net.getLayersShapes(std::vector<explain::MatShape>{input}, std::vector<int>{CV_32F}, ids, in, out);
#else
        net.getLayersShapes(input, ids, in, out);
#endif
    }
    catch (const cv::Exception&)
    {
        return layers;  // shapes unknown: the explainer's layer only
    }
    static const std::set<std::string> skip{"Convolution", "BatchNorm", "Scale", "Padding", "Permute", "Reshape",
                                            "Slice", "Split", "Identity"};
    for (size_t i = ids.size(); i-- > 0;)
    {
        const Ptr<dnn::Layer> layer = net.getLayer(ids[i]);
        const bool spatial = !out[i].empty() && out[i][0].size() == 4 && out[i][0][2] * out[i][0][3] > 1;
        if (spatial && !skip.count(layer->type) && layer->name != first)
            layers.push_back(layer->name);
    }
    return layers;
}

/** One frame explained: the scores, the classes by score, the explained class and the maps. */
struct FrameResult
{
    Mat scores;
    std::vector<int> order;
    int classId = -1;
    Maps maps;
    double ms = 0;
};

/** The methods whose maps a frame needs: all four for the panel. */
static std::vector<std::string> neededMethods(const Options& o, const ViewState& s, bool allMethods)
{
    if (s.panel || (o.panel && allMethods))
        return {"gradcam", "counterfactual", "guided", "guided_gradcam"};
    return allMethods ? o.methods : std::vector<std::string>{o.methods[s.method]};
}

/** Forward pass and the maps of `methods` for the class ranked s.rank (or --class until a key picks one). */
static bool explainFrame(const Options& o, explain::GradCAM& cam, const Mat& frame, const ViewState& s,
                         const std::vector<std::string>& methods, FrameResult& r)
{
    TickMeter tm;
    tm.start();
    cam.forward(o.blob.blobFromImage(frame), r.scores, o.inputNames.empty() ? String() : String(o.inputNames[0]));
    r.scores = r.scores.reshape(1, 1);
    sortIdx(r.scores, r.order, SORT_EVERY_ROW | SORT_DESCENDING);
    r.classId = s.rank < 0 ? o.classArg : r.order[std::min(s.rank, r.scores.cols - 1)];
    if (r.classId >= r.scores.cols)
        return fail(format("--class %d is out of range [0, %d)", r.classId, r.scores.cols));
    auto any = [&](std::initializer_list<const char*> names) {
        for (const char* n : names)
            if (std::find(methods.begin(), methods.end(), n) != methods.end())
                return true;
        return false;
    };
    r.maps = Maps();
    if (any({"gradcam", "counterfactual", "guided_gradcam"}))
        cam.compute(r.classId, r.maps.gradcam, r.maps.counterfactual);
    if (any({"guided", "guided_gradcam"}))
        cam.inputGradient(r.classId, r.maps.guided, explain::RECTIFIER_GUIDED);
    if (any({"guided_gradcam"}))
        explain::combineGuidedGradCAM(r.maps.gradcam, r.maps.guided, r.maps.guidedGradCAM);
    tm.stop();
    r.ms = tm.getTimeMilli();
    return true;
}

/** The frame as the viewer and the annotated video show it: the method's map over the frame (enlarged to
    at least 360 pixels so that the text is readable) with the method, the layer, the top-5 classes (the
    explained one marked) and the frame rate; or the panel. */
static Mat renderFrame(const Options& o, const Mat& frame, const FrameResult& r, const ViewState& s, const String& layer,
                       const std::vector<std::string>& labels, double fps)
{
    if (s.panel)
        return makePanel(frame, r.maps, o.blob.rgb, className(labels, r.classId));
    Mat shown = enlargeTo(renderMap(o.methods[s.method], frame, r.maps, o.blob.rgb), 360);
    std::vector<std::string> lines{methodTitle(o.methods[s.method]) + " at " + layer};
    for (int i = 0; i < std::min(5, r.scores.cols); i++)
    {
        const int k = r.order[i];
        lines.push_back(format("%s%d %s %.3f", k == r.classId ? "> " : "   ", i + 1, className(labels, k).c_str(),
                               r.scores.at<float>(0, k)));
    }
    lines.push_back(format("%.1f fps", fps));
    drawLines(shown, lines);
    return shown;
}

/** --headless outputs of a stream: an annotated video (video, camera) or images per frame (folder, sequence). */
class StreamOutput
{
public:
    StreamOutput(const Options& o, const sample::FrameSource& source) : o_(o), source_(source) {}

    /** Writes one frame's outputs; false after an error message. */
    bool write(const Mat& frame, const Mat& shown, const FrameResult& r, const std::string& name,
               const std::vector<std::string>& labels, const ViewState& s)
    {
        if (!source_.isStill())
            return writeVideoFrame(shown, s);
        sample::AtomicFiles files;
        if (!saveImages(o_, files, frame, r.maps, className(labels, r.classId), name + "_") || !files.commit())
            return false;
        for (const std::string& path : files.written())
            std::cout << "wrote " << path << "\n";
        return true;
    }

    /** Closes and commits the video; false after an error message. */
    bool finish()
    {
        if (!writer_.isOpened())
            return true;
        writer_.release();
        if (!files_.commit())
            return false;
        std::cout << "wrote " << files_.written().back() << " (" << frames_ << " frames, MJPG)\n";
        return true;
    }

private:
    bool writeVideoFrame(const Mat& shown, const ViewState& s)
    {
        if (!writer_.isOpened())
        {
            // MJPG in AVI by OpenCV's own writer: no codec package needed, on every OpenCV build
            path_ = o_.outDir + "/" + source_.stem() + "_" + (s.panel ? std::string("panel") : o_.methods[s.method]) + ".avi";
            if (!writer_.open(files_.add(path_), CAP_OPENCV_MJPEG, VideoWriter::fourcc('M', 'J', 'P', 'G'), source_.fps(),
                              shown.size()))
                return fail("cannot write the video '" + path_ + "'");
            size_ = shown.size();
        }
        if (shown.size() != size_)
            return fail(format("the frames changed size (%dx%d, then %dx%d); a video needs one size", size_.width,
                               size_.height, shown.cols, shown.rows));
        writer_.write(shown);
        frames_++;
        return true;
    }

    const Options& o_;
    const sample::FrameSource& source_;
    sample::AtomicFiles files_;
    VideoWriter writer_;
    std::string path_;
    Size size_;
    int frames_ = 0;
};

/** What the frame loop keeps from frame to frame: the explainer (replaced when the layer changes), the
    viewer's state, the target layers to cycle through, the frame rate and the outputs. */
class FrameLoop
{
public:
    FrameLoop(const Options& o, const dnn::Net& net, Ptr<explain::GradCAM> cam, const sample::FrameSource& source,
              const std::vector<std::string>& labels, const std::string& window)
        : o_(o), net_(net), cam_(cam), source_(source), labels_(labels), window_(window), output_(o, source),
          filesPerFrame_(window.empty() && source.isStill())  // a folder or a sequence, --headless
    {
        s_.rank = o.classArg >= 0 ? -1 : 0;  // --class until a key picks a rank
        s_.panel = o.panel && !filesPerFrame_;
    }

    bool quit() const { return s_.quit; }
    bool finish() { return output_.finish(); }

    /** Explains `frame` and shows it (again after each key that changes the view; a still frame or a paused
        video waits for a key) or writes it; false after an error message. */
    bool frame(const Mat& frame, const std::string& name, int count)
    {
        FrameResult r;
        for (bool dirty = true;;)
        {
            if (dirty && !update(frame, name, count, r))
                return false;
            const Mat shown = filesPerFrame_ ? Mat() : renderFrame(o_, frame, r, s_, cam_->getLayerName(), labels_, fps_);
            if (window_.empty())
                return output_.write(frame, shown, r, name, labels_, s_);
            dirty = showAndWait(shown, r);
            if (s_.quit || (source_.isStill() ? s_.next : !s_.paused))
                return true;
        }
    }

private:
    /** The explanation of the frame for the current view; prints it (every 30th frame of a video). */
    bool update(const Mat& frame, const std::string& name, int count, FrameResult& r)
    {
        if (!explainFrame(o_, *cam_, frame, s_, neededMethods(o_, s_, filesPerFrame_), r))
            return false;
        if (layers_.empty())
        {
            const Mat blob = o_.blob.blobFromImage(frame);
            layers_ = candidateLayers(net_, explain::MatShape(blob.size.p, blob.size.p + blob.dims), cam_->getLayerName());
        }
        fps_ = fps_ == 0 ? 1000 / r.ms : 0.9 * fps_ + 100 / r.ms;  // smoothed over about 10 frames
        if (source_.isStill() || count % 30 == 1)
            std::cout << name << ": class " << r.classId << labelText(labels_, r.classId) << ", score "
                      << r.scores.at<float>(0, r.classId) << format(" (%.1f ms)", r.ms) << std::endl;  // live in a log
        return true;
    }

    /** Shows the frame and applies the key pressed; returns whether the view changed. */
    bool showAndWait(const Mat& shown, const FrameResult& r)
    {
        imshow(window_, shown);
        const int key = waitKey(source_.isStill() || s_.paused ? 0 : 1);
        const size_t layer = s_.layer;
        s_.next = false;
        const bool changed = handleKey(key, s_, o_.methods.size(), layers_.size(), std::min(5, r.scores.cols));
        if (s_.layer != layer)
            cam_ = createExplainer(net_, layers_[s_.layer], o_);
        s_.quit = s_.quit || getWindowProperty(window_, WND_PROP_VISIBLE) < 1;  // closed by its title bar
        return changed;
    }

    const Options& o_;
    const dnn::Net& net_;
    Ptr<explain::GradCAM> cam_;
    const sample::FrameSource& source_;
    const std::vector<std::string>& labels_;
    const std::string window_;
    StreamOutput output_;
    const bool filesPerFrame_;
    ViewState s_;
    std::vector<String> layers_;
    double fps_ = 0;
};

/** Set by Ctrl-C (SIGINT) while frames are written: the loop stops and the video is closed whole, as a
    camera recording ends. */
static volatile std::sig_atomic_t interrupted = 0;

static void onInterrupt(int)
{
    interrupted = 1;
}

/** The frames of `source`, each explained, then shown in `window` or written (FrameLoop). Unreadable images
    of a folder are skipped with an error line, and make the exit code 1 at the end. Returns the exit code. */
static int runFrames(const Options& o, const dnn::Net& net, Ptr<explain::GradCAM> cam, sample::FrameSource& source,
                     const std::vector<std::string>& labels, const std::string& window)
{
    FrameLoop loop(o, net, cam, source, labels, window);
    int count = 0, unreadable = 0;
    Mat frame;
    std::string name, error;
    if (window.empty())
        std::signal(SIGINT, onInterrupt);
    while (!loop.quit() && !interrupted && (o.frames == 0 || count < o.frames) && source.read(frame, name, error))
    {
        if (frame.empty())
        {
            std::cout.flush();  // the error line after what was printed before it
            fail(error + " (skipped)");
            unreadable++;
        }
        else if (!loop.frame(frame, name, ++count))
            return 1;
    }
    if (interrupted)
        std::cout << "interrupted after " << count << " frames\n";
    if (!loop.finish())
        return 1;
    if (count == 0 && unreadable == 0)
        return fail("'" + o.imagePath + "' has no frames"), 1;
    if (unreadable > 0)
        return fail(format("%d of %d images could not be read", unreadable, count + unreadable)), 1;
    return 0;
}

/** The window for the viewer, or "" to write files: --headless, no display, or a highgui without a GUI. */
static std::string openWindow(const Options& o)
{
    if (o.headless)
        return std::string();
    const std::string why = whyNoDisplay();
    if (!why.empty())
    {
        if (std::getenv("DISPLAY") && *std::getenv("DISPLAY"))  // a display was meant: say why there is no window
            std::cout << "note:    " << why << "; writing files as with --headless\n";
        return std::string();
    }
    const std::string title = "explain: " + o.imagePath;
    try
    {
        namedWindow(title, WINDOW_AUTOSIZE);
    }
    catch (const cv::Exception& e)
    {
        std::cout << "note:    no window (" << e.err << "); writing files as with --headless\n";
        return std::string();
    }
    std::cout << keyHelp() << "\n";
    return title;
}

/** Opens --input and explains it: one image (its files, then the window), or a stream of frames. */
static int run(const Options& o, const std::vector<std::string>& labels)
{
    sample::FrameSource source;
    std::string error;
    if (!source.open(o.imagePath, error))
        return fail(error), 1;
    if (source.isStream() && (o.target != "class" || !o.input2Path.empty() || !o.rawPath.empty()))
        return fail("--target=mask, --target=box, --target=word, --input2 and --raw work on a single image, not on a folder or a video"), 1;
    if (!utils::fs::createDirectories(o.outDir))
        return fail("cannot create the --out folder '" + o.outDir + "'"), 1;
    dnn::Net net;
    Ptr<explain::GradCAM> cam = loadExplainer(o, net);
    if (!cam)
        return 1;
    const std::string window = openWindow(o);
    if (source.isStream())
        return runFrames(o, net, cam, source, labels, window);
    Mat image;
    std::string name;
    source.read(image, name, error);
    if (image.empty())
        return fail(error), 1;
    const int code = runImage(o, *cam, image, labels);
    if (code != 0 || window.empty())
        return code;
    source.open(o.imagePath, error);  // from the start again, for the window
    return runFrames(o, net, cam, source, labels, window);
}

int main(int argc, char** argv)
{
    Options o;
    const int exitCode = parseOptions(argc, argv, o);
    if (exitCode >= 0)
        return exitCode;
    if (!checkOptions(o) || !checkFiles(o))
        return 1;
    try
    {
        return run(o, readLabels(o.labelsPath));
    }
    catch (const cv::Exception& e)
    {
        std::cerr << "error: " << e.err << "\n";
        return 1;
    }
}
