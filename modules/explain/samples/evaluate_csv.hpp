// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// The ground-truth CSV of example_explain_evaluate (shared by modules/explain/samples/evaluate.cpp and fuzz/fuzz_csv.cpp):
// the header line file,class_id,x,y,w,h (after an optional UTF-8 byte order mark), then one box per line.
#ifndef EXPLAIN_EVALUATE_CSV_HPP
#define EXPLAIN_EVALUATE_CSV_HPP

#include "sample_common.hpp"

#include <climits>
#include <fstream>
#include <istream>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace evaluate_sample {

using cv::Rect;
using cv::format;

/** The boxes of one (image file, class) of the CSV. */
struct Item
{
    std::string file;
    int classId = -1;
    std::vector<Rect> boxes;
};

/** The items of a comma list, each trimmed of spaces, tabs and CRs (empty items kept). */
inline std::vector<std::string> splitList(const std::string& s, char sep = ',')
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

/** The CSV's columns; the header line names them. */
const char* const csvColumns[] = {"file", "class_id", "x", "y", "w", "h"};

/** The box of one data line (six trimmed fields); `where` is "<csv>:<line>" for the error. */
inline bool parseBox(const std::string& where, const std::vector<std::string>& v, int& classId, Rect& box, std::string& error)
{
    if (v[0].empty())
    {
        error = where + ": column 1 (file): the file name is empty";
        return false;
    }
    const int big = 1 << 20, lo[5] = {0, -big, -big, 1, 1}, hi[5] = {INT_MAX, big, big, big, big};
    int n[5];
    for (int i = 0; i < 5; i++)
    {
        const std::string why = sample::parseInt(v[i + 1], lo[i], hi[i], n[i]);
        if (!why.empty())
        {
            error = format("%s: column %d (%s): '%s' %s", where.c_str(), i + 2, csvColumns[i + 1], v[i + 1].c_str(),
                           why.c_str());
            return false;
        }
    }
    if ((int64)n[3] * n[4] > (1 << 30))
    {
        error = format("%s: columns 5 and 6 (w, h): a box of %d x %d pixels is larger than an image can be (2^30 pixels)",
                       where.c_str(), n[3], n[4]);
        return false;
    }
    classId = n[0];
    box = Rect(n[1], n[2], n[3], n[4]);
    return true;
}

/** Reads the ground truth from `f` (`path` names it in the messages): the header line (after a UTF-8 byte
    order mark, if any), then one box per line; one item per (file, class_id), in the order of first
    appearance. Blank lines are skipped. */
inline bool readCSV(std::istream& f, const std::string& path, std::vector<Item>& items, std::string& error)
{
    const std::vector<std::string> header(std::begin(csvColumns), std::end(csvColumns));
    bool headerSeen = false;
    std::map<std::pair<std::string, int>, size_t> index;
    std::string line;
    for (int lineNo = 1; std::getline(f, line); lineNo++)
    {
        if (lineNo == 1 && line.compare(0, 3, "\xEF\xBB\xBF") == 0)
            line.erase(0, 3);
        if (!line.empty() && line.back() == '\r')
            line.pop_back();
        if (line.find_first_not_of(" \t") == std::string::npos)
            continue;
        const std::string where = format("%s:%d", path.c_str(), lineNo);
        const std::vector<std::string> v = splitList(line);
        if (!headerSeen)
        {
            if (v != header)
            {
                error = where + ": expected the header 'file,class_id,x,y,w,h', got '" + line + "'";
                return false;
            }
            headerSeen = true;
            continue;
        }
        int classId = -1;
        Rect box;
        if (v.size() != 6)
            error = format("%s: expected 6 columns file,class_id,x,y,w,h, got %d: '%s'", where.c_str(), (int)v.size(), line.c_str());
        if (v.size() != 6 || !parseBox(where, v, classId, box, error))
            return false;
        auto it = index.emplace(std::make_pair(v[0], classId), items.size()).first;
        if (it->second == items.size())
            items.push_back(Item{v[0], classId, {}});
        items[it->second].boxes.push_back(box);
    }
    if (items.empty())
        error = "'" + path + "' has no boxes";
    return !items.empty();
}

/** readCSV() of the file `path`. */
inline bool readCSV(const std::string& path, std::vector<Item>& items, std::string& error)
{
    std::ifstream f(path, std::ios::binary);
    if (!f)
    {
        error = "cannot open '" + path + "'";
        return false;
    }
    return readCSV(f, path, items, error);
}

} // namespace evaluate_sample

#endif
