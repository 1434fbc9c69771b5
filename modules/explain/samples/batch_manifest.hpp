// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// What example_explain_batch explains: the images of a folder, or the items of a manifest, a CSV file
// (header "path[,class][,x,y,w,h]") or JSON lines ({"path": ..., "class": k, "box": [x, y, w, h]}), and
// which of them fall to a shard. (Shared with fuzz/fuzz_csv.cpp.)
#ifndef EXPLAIN_BATCH_MANIFEST_HPP
#define EXPLAIN_BATCH_MANIFEST_HPP

#include "batch_json.hpp"
#include "sample_common.hpp"
#include "sample_input.hpp"

#include <climits>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <istream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace batch_sample {

/** One image to explain. */
struct Item
{
    std::string id;    // unique: the path, plus "#<class>" when the manifest gives a class
    std::string path;  // as listed (relative to the folder or to --images)
    int classId = -1;  // -1: the top-1 class
    std::vector<cv::Rect> boxes;
};

/** The id of an item: its path, and its class when one is given (an image may be listed once per class). */
inline std::string itemId(const std::string& path, int classId)
{
    return classId >= 0 ? path + "#" + std::to_string(classId) : path;
}

/** The shard an item falls to: FNV-1a (64 bit) of its id, modulo `count`. It depends on the id alone, so
    every process computes the same split, and adding images to a folder moves no other image to another
    shard (a resumed shard stays valid). */
inline int shardOf(const std::string& id, int count)
{
    uint64_t h = 14695981039346656037ull;  // the 64-bit offset basis
    for (unsigned char c : id)
        h = (h ^ c) * 1099511628211ull;
    return (int)(h % (uint64_t)count);
}

/** A whole number in [lo, hi] from a JSON value (a number without a fractional part); "" or what is wrong. */
inline std::string jsonInt(const Json& v, int lo, int hi, int& out)
{
    if (v.type != Json::NUMBER || v.number != std::floor(v.number))
        return "is not a whole number";
    if (v.number < lo || v.number > hi)
        return cv::format("is out of range [%d, %d]", lo, hi);
    out = (int)v.number;
    return std::string();
}

/** A box [x, y, w, h] (whole numbers, w and h >= 1) from 4 fields; "" or what is wrong. */
inline std::string makeBox(const int v[4], cv::Rect& box)
{
    if ((int64_t)v[2] * v[3] > (1 << 30))
        return "is larger than an image can be (2^30 pixels)";
    box = cv::Rect(v[0], v[1], v[2], v[3]);
    return std::string();
}

/** A box from a JSON array [x, y, w, h]; "" or what is wrong. */
inline std::string jsonBox(const Json& v, cv::Rect& box)
{
    if (v.type != Json::ARRAY || v.items.size() != 4)
        return "is not an array [x, y, w, h]";
    const int big = 1 << 20, lo[4] = {-big, -big, 1, 1};
    int n[4];
    for (int i = 0; i < 4; i++)
        if (!jsonInt(v.items[i], lo[i], big, n[i]).empty())
            return cv::format("has %s, which is not a whole number in [%d, %d]",
                              v.items[i].type == Json::NUMBER ? cv::format("%g", v.items[i].number).c_str() : "a non-number",
                              lo[i], big);
    return makeBox(n, box);
}

/** One JSON line of a manifest: {"path": "a.jpg"} with optional "class" (>= 0) and "box" ([x, y, w, h] or
    a list of them); other members are allowed and ignored (a manifest may carry its own fields). */
inline bool parseJsonItem(const std::string& line, Item& item, std::string& error)
{
    Json v;
    if (!JsonReader::parseObject(line, v, error))
        return false;
    const Json* path = v.find("path");
    if (!path || path->type != Json::STRING || path->text.empty())
        return error = "needs \"path\": a non-empty string", false;
    item.path = path->text;
    if (const Json* c = v.find("class"))
        if (c->type != Json::NUL)
        {
            const std::string why = jsonInt(*c, 0, INT_MAX, item.classId);
            if (!why.empty())
                return error = "\"class\" " + why, false;
        }
    if (const Json* b = v.find("box"))
    {
        const bool many = b->type == Json::ARRAY && !b->items.empty() && b->items[0].type == Json::ARRAY;
        for (size_t i = 0; i < (many ? b->items.size() : (b->type == Json::NUL ? 0 : 1)); i++)
        {
            cv::Rect box;
            const std::string why = jsonBox(many ? b->items[i] : *b, box);
            if (!why.empty())
                return error = "\"box\" " + why, false;
            item.boxes.push_back(box);
        }
    }
    return true;
}

/** The columns of a CSV manifest, from its header: path first, then optionally class, then optionally the
    four box columns x,y,w,h; "" or what is wrong. */
inline std::string csvColumns(const std::vector<std::string>& header, bool& hasClass, bool& hasBox)
{
    const std::vector<std::string> box{"x", "y", "w", "h"};
    hasClass = header.size() >= 2 && header[1] == "class";
    const std::vector<std::string> rest(header.begin() + std::min<size_t>(header.size(), hasClass ? 2 : 1), header.end());
    hasBox = rest == box;
    if (header.empty() || header[0] != "path" || !(rest.empty() || hasBox))
        return "expected the header path[,class][,x,y,w,h]";
    return std::string();
}

/** The fields of a CSV line, each trimmed of spaces and tabs (no quoting: a path with a comma needs JSON lines). */
inline std::vector<std::string> splitCsv(const std::string& line)
{
    std::vector<std::string> fields;
    std::stringstream ss(line);
    std::string f;
    while (std::getline(ss, f, ','))
    {
        f.erase(0, f.find_first_not_of(" \t"));
        f.erase(f.find_last_not_of(" \t") + 1);
        fields.push_back(f);
    }
    if (!line.empty() && line.back() == ',')
        fields.push_back(std::string());
    return fields;
}

/** One CSV data line; an empty class means the top-1 class, empty box fields no box. */
inline bool parseCsvItem(const std::vector<std::string>& v, bool hasClass, bool hasBox, Item& item, std::string& error)
{
    const size_t columns = 1 + (hasClass ? 1 : 0) + (hasBox ? 4 : 0);
    if (v.size() != columns)
        return error = cv::format("expected %d columns, got %d", (int)columns, (int)v.size()), false;
    if (v[0].empty())
        return error = "column 1 (path) is empty", false;
    item.path = v[0];
    if (hasClass && !v[1].empty())
    {
        const std::string why = sample::parseInt(v[1], 0, INT_MAX, item.classId);
        if (!why.empty())
            return error = "column 2 (class): '" + v[1] + "' " + why, false;
    }
    if (!hasBox)
        return true;
    const size_t b = hasClass ? 2 : 1;
    const bool none = v[b].empty() && v[b + 1].empty() && v[b + 2].empty() && v[b + 3].empty();
    if (none)
        return true;
    const char* names[] = {"x", "y", "w", "h"};
    const int big = 1 << 20, lo[4] = {-big, -big, 1, 1};
    int n[4];
    for (int i = 0; i < 4; i++)
    {
        const std::string why = sample::parseInt(v[b + i], lo[i], big, n[i]);
        if (!why.empty())
            return error = cv::format("column %d (%s): '%s' %s", (int)(b + i + 1), names[i], v[b + i].c_str(), why.c_str()), false;
    }
    cv::Rect box;
    const std::string why = makeBox(n, box);
    if (!why.empty())
        return error = "the box " + why, false;
    item.boxes.push_back(box);
    return true;
}

/** Reads a manifest (`json`: JSON lines, else CSV with a header) from `f`, `name` naming it in messages.
    Blank lines are skipped; an id given twice is an error naming both lines. */
inline bool readManifest(std::istream& f, const std::string& name, bool json, std::vector<Item>& items, std::string& error)
{
    bool hasClass = false, hasBox = false, headerSeen = json;
    std::map<std::string, int> lineOf;
    std::string line;
    for (int lineNo = 1; std::getline(f, line); lineNo++)
    {
        if (lineNo == 1 && line.compare(0, 3, "\xEF\xBB\xBF") == 0)
            line.erase(0, 3);
        if (!line.empty() && line.back() == '\r')
            line.pop_back();
        if (line.find_first_not_of(" \t") == std::string::npos)
            continue;
        const std::string where = cv::format("%s:%d: ", name.c_str(), lineNo);
        std::string why;
        if (!headerSeen)
        {
            why = csvColumns(splitCsv(line), hasClass, hasBox);
            if (!why.empty())
                return error = where + why + ", got '" + line + "'", false;
            headerSeen = true;
            continue;
        }
        Item item;
        if (json ? !parseJsonItem(line, item, why) : !parseCsvItem(splitCsv(line), hasClass, hasBox, item, why))
            return error = where + why, false;
        item.id = itemId(item.path, item.classId);
        const auto seen = lineOf.emplace(item.id, lineNo);
        if (!seen.second)
            return error = where + "'" + item.id + "' is listed again (first on line " + std::to_string(seen.first->second) +
                           "; an image is listed once per class)", false;
        items.push_back(item);
    }
    if (items.empty())
        error = "'" + name + "' lists no images";
    return !items.empty();
}

/** The items of --input: the images of a folder (recursively; `exclude`: the output folder when it lies
    inside), or a manifest (.jsonl/.json: JSON lines, else CSV). */
inline bool readItems(const std::string& input, const std::string& exclude, std::vector<Item>& items, std::string& error)
{
    if (cv::utils::fs::isDirectory(input))
    {
        for (const std::string& f : sample::listImages(input, true, exclude))
            items.push_back(Item{f, f, -1, {}});
        if (items.empty())
            error = "the folder '" + input + "' has no image files (.png, .jpg, ...)";
        return !items.empty();
    }
    std::ifstream f(input, std::ios::binary);
    if (!f)
        return error = "cannot open '" + input + "'", false;
    const size_t dot = input.find_last_of('.');
    const std::string ext = dot == std::string::npos ? std::string() : input.substr(dot);
    return readManifest(f, input, ext == ".jsonl" || ext == ".json" || ext == ".ndjson", items, error);
}

} // namespace batch_sample

#endif
