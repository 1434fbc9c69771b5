// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// What the explain samples share: a strict command line (no unknown flag, no positional argument, every
// number read whole), the flags that turn an image into the model's input blob, and output files written
// all or nothing.
#ifndef EXPLAIN_SAMPLE_COMMON_HPP
#define EXPLAIN_SAMPLE_COMMON_HPP

#include <opencv2/core.hpp>
#include <opencv2/core/utility.hpp>
#include <opencv2/dnn.hpp>
#include <opencv2/imgcodecs.hpp>

#include <atomic>
#include <charconv>
#include <climits>
#include <cstdlib>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace sample {

#ifndef EXPLAIN_DATA_DIR
#error "EXPLAIN_DATA_DIR (the folder of the bundled model) must be defined"
#endif
#ifndef EXPLAIN_INSTALLED_DATA_DIR
#define EXPLAIN_INSTALLED_DATA_DIR "../share/opencv_explain"
#endif

/** The path of a bundled file (default_model.onnx, default_image.png, default_labels.txt): in
    $EXPLAIN_DATA_DIR when it is set; otherwise in the data folder installed beside the sample
    (<prefix>/share/opencv_explain, found from the executable's own path, so any prefix works); otherwise in
    the data/ folder of the source tree the sample was built from. */
inline std::string bundledFile(const std::string& name)
{
    if (const char* dir = std::getenv("EXPLAIN_DATA_DIR"))
        return std::string(dir) + "/" + name;
    std::error_code error;
    const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", error);
    if (!error)
    {
        const std::filesystem::path installed = exe.parent_path() / EXPLAIN_INSTALLED_DATA_DIR / name;
        if (std::filesystem::is_regular_file(installed, error))
            return installed.lexically_normal().string();
    }
    return std::string(EXPLAIN_DATA_DIR) + "/" + name;
}

/** Prints "error: <message>" and returns false. */
inline bool fail(const std::string& message)
{
    std::cerr << "error: " << message << "\n";
    return false;
}

/** The whole of `text` as an int in [lo, hi]: "" when it is one, else what is wrong ("is not an integer",
    "is out of range: ..."), to follow the text in a message. */
inline std::string parseInt(const std::string& text, int lo, int hi, int& value)
{
    const char *begin = text.data(), *end = begin + text.size();
    const std::from_chars_result r = std::from_chars(begin, end, value);
    const std::string range = hi == INT_MAX ? cv::format("an integer >= %d", lo) : cv::format("an integer in [%d, %d]", lo, hi);
    if (r.ec == std::errc::result_out_of_range && r.ptr == end)
        return "is out of range: expected " + range;
    if (r.ec != std::errc() || r.ptr != end || text.empty())
        return "is not an integer";
    if (value < lo || value > hi)
        return "is out of range: expected " + range;
    return std::string();
}

/** The whole of `text` as a finite double in [lo, hi] (or (lo, hi] when loOpen); "" or what is wrong. */
inline std::string parseDouble(const std::string& text, double lo, double hi, bool loOpen, double& value)
{
    const char *begin = text.data(), *end = begin + text.size();
    const std::from_chars_result r = std::from_chars(begin, end, value);
    if (r.ec != std::errc() || r.ptr != end || text.empty())
        return "is not a number";
    if (!std::isfinite(value))
        return "is not a finite number";
    const bool unbounded = hi == std::numeric_limits<double>::infinity();
    const std::string range = unbounded ? cv::format("a number %s %g", loOpen ? ">" : ">=", lo)
                                        : cv::format("a number in %c%g, %g]", loOpen ? '(' : '[', lo, hi);
    if (value < lo || (loOpen && value == lo) || value > hi)
        return "is out of range: expected " + range;
    return std::string();
}

/** The flag names (aliases included) of cv::CommandLineParser keys, "{ name alias | default | help }...". */
inline std::set<std::string> flagNames(const char* keys)
{
    std::set<std::string> names;
    std::stringstream ss(keys);
    for (std::string entry; std::getline(ss, entry, '}');)
    {
        const size_t open = entry.find('{'), bar = entry.find('|');
        if (open == std::string::npos || bar == std::string::npos)
            continue;
        std::stringstream list(entry.substr(open + 1, bar - open - 1));
        for (std::string name; list >> name;)
            names.insert(name);
    }
    return names;
}

/** Refuses what cv::CommandLineParser would silently ignore or misread: an argument that is not a flag
    (the samples have no positional arguments; "--input cat.png" reads as --input=true and cat.png), a flag
    it does not know, an empty value ("--class=") and a value given to a switch ("--rgb=false"). */
inline bool checkArguments(int argc, char** argv, const char* keys, const std::set<std::string>& switches)
{
    const std::set<std::string> known = flagNames(keys);
    for (int i = 1; i < argc; i++)
    {
        const std::string arg = argv[i], prev = i > 1 ? argv[i - 1] : "";
        if (arg.size() < 2 || arg[0] != '-')
        {
            const std::string prevName = prev.substr(std::min(prev.find_first_not_of('-'), prev.size()));
            const bool valueFor = prev.size() > 1 && prev[0] == '-' && prev.find('=') == std::string::npos &&
                                  known.count(prevName) && !switches.count(prevName);
            return fail("unexpected argument '" + arg + "'" + (valueFor ? " (did you mean " + prev + "=" + arg + "?)" : "") +
                        "; give flags as --name=value, there are no positional arguments (see --help)");
        }
        const size_t start = std::min(arg.find_first_not_of('-'), arg.size()), eq = arg.find('=');
        const std::string name = arg.substr(start, eq == std::string::npos ? std::string::npos : eq - start);
        if (!known.count(name))
            return fail("unknown flag '" + arg + "' (see --help)");
        if (eq != std::string::npos && switches.count(name))
            return fail(arg + ": --" + name + " takes no value (it is a switch)");
        if (eq == arg.size() - 1)
            return fail(arg + " has an empty value (leave the flag out for its default)");
    }
    return true;
}

/** Reads flag values strictly; the first bad one prints "error: --name=value is ..." and ok() turns false. */
class FlagReader
{
public:
    explicit FlagReader(const cv::CommandLineParser& parser) : parser_(parser) {}

    bool ok() const { return ok_; }
    bool has(const char* name) const { return parser_.has(name); }
    std::string text(const char* name) const { return parser_.get<std::string>(name); }

    int getInt(const char* name, int lo, int hi = INT_MAX)
    {
        int value = lo;
        check(name, parseInt(text(name), lo, hi, value));
        return value;
    }

    double getDouble(const char* name, double lo, double hi, bool loOpen = false)
    {
        double value = lo;
        check(name, parseDouble(text(name), lo, hi, loOpen, value));
        return value;
    }

    /** Up to four finite numbers separated by spaces or commas ("" is none). */
    cv::Scalar getScalar(const char* name)
    {
        std::string s = text(name);
        for (char& c : s)
            if (c == ',')
                c = ' ';
        std::stringstream ss(s);
        const double big = std::numeric_limits<double>::max();
        cv::Scalar value;
        int n = 0;
        for (std::string item; ss >> item; n++)
        {
            const std::string why = n < 4 ? parseDouble(item, -big, big, false, value[n]) : "is one too many";
            if (!why.empty())
                return check(name, "has '" + item + "', which " + why + " (expected 1 to 4 numbers)"), cv::Scalar();
        }
        return value;
    }

private:
    void check(const char* name, const std::string& why)
    {
        if (!why.empty() && ok_)
            fail(std::string("--") + name + "=" + text(name) + " " + why);
        ok_ = ok_ && why.empty();
    }

    const cv::CommandLineParser& parser_;
    bool ok_ = true;
};

/** The preprocessing flags --width, --height, --scale, --mean and --rgb. */
struct BlobOptions
{
    int width = 0, height = 0;
    double scale = 0;
    cv::Scalar mean;
    bool rgb = false;

    /** Reads the flags; sizes and scale not given take the defaults of the bundled model (64 x 64, 1/255,
        RGB) or of an ImageNet model (224 x 224, 1). False after an "error: " message. */
    bool read(FlagReader& flags, bool bundled)
    {
        width = flags.has("width") ? flags.getInt("width", 1, 16384) : (bundled ? 64 : 224);
        height = flags.has("height") ? flags.getInt("height", 1, 16384) : (bundled ? 64 : 224);
        scale = flags.has("scale") ? flags.getDouble("scale", 0, std::numeric_limits<double>::infinity(), true)
                                   : (bundled ? 1.0 / 255 : 1.0);
        mean = flags.getScalar("mean");
        rgb = flags.has("rgb") || bundled;
        return flags.ok();
    }

    cv::Mat blobFromImage(const cv::Mat& image) const
    {
        return cv::dnn::blobFromImage(image, scale, cv::Size(width, height), mean, rgb, false);
    }
};

/** Files written all or nothing: each is written to a temporary file in its target's folder (so that
    rename() replaces the target in one step), and commit() renames them all over their targets. What is not
    committed (an error, an exception) is removed: a run that fails leaves an earlier run's files as they
    were. (On Windows a target is removed before the rename, so the replacement there is not atomic.) */
class AtomicFiles
{
public:
    AtomicFiles() = default;
    AtomicFiles(const AtomicFiles&) = delete;
    AtomicFiles& operator=(const AtomicFiles&) = delete;
    ~AtomicFiles()
    {
        for (const Entry& e : pending_)
            std::remove(e.temp.c_str());
    }

    /** The temporary file to write `path` to: ".tmp-<id>-<name>" in path's folder, so it keeps path's
        extension (imwrite and FileStorage choose the format by it). */
    std::string add(const std::string& path)
    {
        static std::atomic<unsigned> counter{0};
        const size_t slash = path.find_last_of("/\\");
        const std::string dir = slash == std::string::npos ? std::string() : path.substr(0, slash + 1);
        const std::string name = path.substr(dir.size());
        const unsigned long long id = (unsigned long long)cv::getTickCount() ^ ((unsigned long long)counter++ << 48);
        pending_.push_back({dir + cv::format(".tmp-%llx-", id) + name, path});
        return pending_.back().temp;
    }

    /** Renames every temporary file over its target; false after an "error: " message. */
    bool commit()
    {
        for (size_t i = 0; i < pending_.size(); i++)
        {
#ifdef _WIN32
            std::remove(pending_[i].target.c_str());
#endif
            if (std::rename(pending_[i].temp.c_str(), pending_[i].target.c_str()) != 0)
            {
                pending_.erase(pending_.begin(), pending_.begin() + i);
                return fail("cannot replace '" + pending_[0].target + "'");
            }
            written_.push_back(pending_[i].target);
        }
        pending_.clear();
        return true;
    }

    /** The targets commit() has written, in the order they were added. */
    const std::vector<std::string>& written() const { return written_; }

private:
    struct Entry
    {
        std::string temp, target;
    };
    std::vector<Entry> pending_;
    std::vector<std::string> written_;
};

/** imwrite() to a temporary file of `files`; false after an "error: " message. */
inline bool writeImage(AtomicFiles& files, const std::string& path, const cv::Mat& image,
                       const std::vector<int>& params = std::vector<int>())
{
    return cv::imwrite(files.add(path), image, params) || fail("cannot write '" + path + "'");
}

/** `text` to a temporary file of `files`; false after an "error: " message. */
inline bool writeText(AtomicFiles& files, const std::string& path, const std::string& text)
{
    std::ofstream f(files.add(path), std::ios::binary);
    f << text;
    f.close();
    return !f.fail() || fail("cannot write '" + path + "'");
}

} // namespace sample

#endif
