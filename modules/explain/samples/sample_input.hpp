// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// What --input can be, as in OpenCV's dnn samples: an image file, a folder of images (sorted by name), an
// image sequence ("frame_%04d.png"), a video file or stream URL, or a camera index ("0"). Shared by the
// samples; the folder listing is also used by example_explain_batch.
#ifndef EXPLAIN_SAMPLE_INPUT_HPP
#define EXPLAIN_SAMPLE_INPUT_HPP

#include <opencv2/core.hpp>
#include <opencv2/core/utils/filesystem.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>

#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

namespace sample {

/** Whether the file name has an extension cv::imread reads (case-insensitive). Listing by name, not by
    content, lets a corrupt image surface as an error of its own instead of being silently left out. */
inline bool hasImageExtension(const std::string& path)
{
    static const char* const known[] = {"bmp", "dib", "jpeg", "jpg", "jpe", "jp2", "png", "webp", "pbm", "pgm", "ppm",
                                        "pxm", "pnm", "pfm", "sr", "ras", "tiff", "tif", "exr", "hdr", "pic"};
    const size_t dot = path.find_last_of('.'), slash = path.find_last_of('/');
    if (dot == std::string::npos || (slash != std::string::npos && dot < slash))
        return false;
    std::string ext = path.substr(dot + 1);
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return (char)std::tolower(c); });
    return std::find(std::begin(known), std::end(known), ext) != std::end(known);
}

/** The image files under `dir` (relative paths, '/'-separated, byte-wise sorted so that every process and
    every machine lists them in the same order), skipping hidden files and folders (".name", which is also
    where the tools keep their temporary files) and anything under `exclude` (a path relative to `dir`,
    e.g. the output folder when it lies inside the input folder). */
inline std::vector<std::string> listImages(const std::string& dir, bool recursive, const std::string& exclude = std::string())
{
    std::vector<cv::String> found;
    cv::utils::fs::glob_relative(dir, "", found, recursive, false);
    std::vector<std::string> files;
    for (std::string f : found)
    {
        std::replace(f.begin(), f.end(), '\\', '/');
        const bool hidden = f[0] == '.' || f.find("/.") != std::string::npos;
        const bool excluded = !exclude.empty() && (f == exclude || f.compare(0, exclude.size() + 1, exclude + "/") == 0);
        if (!hidden && !excluded && hasImageExtension(f))
            files.push_back(f);
    }
    std::sort(files.begin(), files.end());
    return files;
}

/** The file name without folder and extension ("a/b/cat.jpg" -> "cat"). */
inline std::string stemOf(const std::string& path)
{
    const size_t slash = path.find_last_of("/\\");
    std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
    const size_t dot = name.find_last_of('.');
    return dot == std::string::npos || dot == 0 ? name : name.substr(0, dot);
}

/** The frames of --input, one at a time. */
class FrameSource
{
public:
    enum Kind { IMAGE, FOLDER, SEQUENCE, VIDEO, CAMERA };

    /** Opens `input`; false with `error` set ("cannot open ...") when it is none of the kinds. */
    bool open(const std::string& input, std::string& error)
    {
        input_ = input;
        files_.clear();
        next_ = 0;
        cap_.release();
        const bool digits = !input.empty() && input.size() <= 4 &&
                            std::all_of(input.begin(), input.end(), [](unsigned char c) { return std::isdigit(c) != 0; });
        if (digits)
            return openCapture(CAMERA, error);
        if (cv::utils::fs::isDirectory(input))
        {
            kind_ = FOLDER;
            files_ = listImages(input, false);
            for (std::string& f : files_)
                f = input + "/" + f;
            if (files_.empty())
                error = "the folder '" + input + "' has no image files (.png, .jpg, ...)";
            return !files_.empty();
        }
        if (input.find('%') != std::string::npos)
            return openCapture(SEQUENCE, error);
        const bool exists = cv::utils::fs::exists(input);
        if (exists && cv::haveImageReader(input))
        {
            kind_ = IMAGE;
            files_.assign(1, input);
            return true;
        }
        if (!exists && input.find("://") == std::string::npos)
        {
            error = "cannot open '" + input + "'";
            return false;
        }
        return openCapture(VIDEO, error);
    }

    Kind kind() const { return kind_; }
    /** One frame (an image) or many (a folder, a sequence, a video, a camera). */
    bool isStream() const { return kind_ != IMAGE; }
    /** Frames that stand still (images): the viewer waits for a key on each. */
    bool isStill() const { return kind_ == IMAGE || kind_ == FOLDER || kind_ == SEQUENCE; }
    /** The frame rate of a video or camera, 25 when it does not tell. */
    double fps() const
    {
        const double f = cap_.isOpened() ? cap_.get(cv::CAP_PROP_FPS) : 0.0;
        return f > 0 && f < 1000 ? f : 25.0;
    }
    /** What the outputs are named after: the file's stem, "camera<i>" or the sequence's stem. */
    std::string stem() const { return kind_ == CAMERA ? "camera" + input_ : stemOf(input_); }

    /** The next frame and its name (the image's stem, or "frame_<n>"); false at the end. For a folder, an
        unreadable file gives an empty `frame` and `error` set, and the next call goes on. */
    bool read(cv::Mat& frame, std::string& name, std::string& error)
    {
        frame.release();
        error.clear();
        if (kind_ == IMAGE || kind_ == FOLDER)
        {
            if (next_ >= files_.size())
                return false;
            const std::string& path = files_[next_++];
            name = stemOf(path);
            frame = cv::imread(path, cv::IMREAD_COLOR);
            if (frame.empty())
                error = "'" + path + "' is not a readable image";
            return true;
        }
        if (!cap_.read(frame) || frame.empty())
            return false;
        name = cv::format("frame_%06d", (int)next_++);
        return true;
    }

private:
    bool openCapture(Kind kind, std::string& error)
    {
        kind_ = kind;
        if (kind == CAMERA)
            cap_.open(std::stoi(input_));
        else
            cap_.open(input_, kind == SEQUENCE ? cv::CAP_IMAGES : cv::CAP_ANY);
        if (!cap_.isOpened())
            error = kind == CAMERA ? "cannot open camera " + input_
                                   : "cannot open '" + input_ + "' as an image, a video or an image sequence";
        return cap_.isOpened();
    }

    Kind kind_ = IMAGE;
    std::string input_;
    std::vector<std::string> files_;
    size_t next_ = 0;
    cv::VideoCapture cap_;
};

} // namespace sample

#endif
