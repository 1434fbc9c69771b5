// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// The JSON that example_explain_batch reads and writes, one object per line: a reader for the flat objects
// of a manifest and of its own index (strings, numbers, true/false/null, arrays and nested objects), and the
// writing of strings and numbers. Strict: anything else is an error saying where. (Shared with
// fuzz/fuzz_csv.cpp.)
#ifndef EXPLAIN_BATCH_JSON_HPP
#define EXPLAIN_BATCH_JSON_HPP

#include <opencv2/core.hpp>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace batch_sample {

/** A parsed JSON value. */
struct Json
{
    enum Type { NUL, BOOL, NUMBER, STRING, ARRAY, OBJECT };
    Type type = NUL;
    bool flag = false;
    double number = 0;
    std::string text;
    std::vector<Json> items;                            // ARRAY
    std::vector<std::pair<std::string, Json>> members;  // OBJECT, in the order given

    /** The member `key` of an object, or nullptr. */
    const Json* find(const std::string& key) const
    {
        for (const auto& m : members)
            if (m.first == key)
                return &m.second;
        return nullptr;
    }
};

/** Parses one JSON value from text; the first error sets `error` ("at character N: ..."). */
class JsonReader
{
public:
    /** The whole of `text` as one JSON object; false with `error` set. */
    static bool parseObject(const std::string& text, Json& value, std::string& error)
    {
        JsonReader r(text);
        if (!r.value(value, 0))
        {
            error = r.error_;
            return false;
        }
        r.space();
        if (r.pos_ != text.size())
            return r.fail("text after the object"), error = r.error_, false;
        if (value.type != Json::OBJECT)
            return error = "not a JSON object ({...})", false;
        return true;
    }

private:
    explicit JsonReader(const std::string& text) : s_(text) {}

    bool fail(const std::string& what)
    {
        if (error_.empty())
            error_ = cv::format("at character %d: %s", (int)pos_ + 1, what.c_str());
        return false;
    }
    void space()
    {
        while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\r' || s_[pos_] == '\n'))
            pos_++;
    }
    bool literal(const char* word)
    {
        const std::string w(word);
        if (s_.compare(pos_, w.size(), w) != 0)
            return fail("unexpected text (expected a value)");
        pos_ += w.size();
        return true;
    }

    bool value(Json& v, int depth)
    {
        if (depth > 16)
            return fail("nested too deeply");
        space();
        if (pos_ >= s_.size())
            return fail("the line ends where a value should be");
        const char c = s_[pos_];
        if (c == '{')
            return object(v, depth);
        if (c == '[')
            return array(v, depth);
        if (c == '"')
            return v.type = Json::STRING, string(v.text);
        if (c == 't' || c == 'f')
            return v.type = Json::BOOL, v.flag = c == 't', literal(c == 't' ? "true" : "false");
        if (c == 'n')
            return v.type = Json::NUL, literal("null");
        return number(v);
    }

    bool object(Json& v, int depth)
    {
        v.type = Json::OBJECT;
        pos_++;
        space();
        if (pos_ < s_.size() && s_[pos_] == '}')
            return pos_++, true;
        for (;;)
        {
            space();
            std::string key;
            const size_t keyStart = pos_;
            if (pos_ >= s_.size() || s_[pos_] != '"')
                return fail("expected a member name in double quotes");
            if (!string(key))
                return false;
            if (v.find(key))
                return pos_ = keyStart, fail("the member \"" + key + "\" is given twice");
            space();
            if (pos_ >= s_.size() || s_[pos_] != ':')
                return fail("expected ':' after the member name");
            pos_++;
            v.members.emplace_back(key, Json());
            if (!value(v.members.back().second, depth + 1))
                return false;
            space();
            if (pos_ < s_.size() && s_[pos_] == ',')
            {
                pos_++;
                continue;
            }
            if (pos_ < s_.size() && s_[pos_] == '}')
                return pos_++, true;
            return fail("expected ',' or '}'");
        }
    }

    bool array(Json& v, int depth)
    {
        v.type = Json::ARRAY;
        pos_++;
        space();
        if (pos_ < s_.size() && s_[pos_] == ']')
            return pos_++, true;
        for (;;)
        {
            v.items.emplace_back();
            if (!value(v.items.back(), depth + 1))
                return false;
            space();
            if (pos_ < s_.size() && s_[pos_] == ',')
            {
                pos_++;
                continue;
            }
            if (pos_ < s_.size() && s_[pos_] == ']')
                return pos_++, true;
            return fail("expected ',' or ']'");
        }
    }

    /** A string (the opening quote at pos_); \uXXXX escapes are kept as UTF-8. */
    bool string(std::string& out)
    {
        pos_++;
        while (pos_ < s_.size() && s_[pos_] != '"')
        {
            const unsigned char c = (unsigned char)s_[pos_++];
            if (c < 0x20)
                return fail("a control character in a string (write it as \\n, \\t, ...)");
            if (c != '\\')
            {
                out += (char)c;
                continue;
            }
            if (pos_ >= s_.size())
                break;
            const char e = s_[pos_++];
            const char* from = "\"\\/bfnrt";
            const char* to = "\"\\/\b\f\n\r\t";
            const char* k = e ? std::strchr(from, e) : nullptr;
            if (k)
                out += to[k - from];
            else if (e == 'u' && !unicode(out))
                return false;
            else if (e != 'u')
                return pos_ -= 2, fail(std::string("unknown escape \\") + e);
        }
        if (pos_ >= s_.size())
            return fail("the string is not closed");
        pos_++;
        return true;
    }

    bool unicode(std::string& out)
    {
        unsigned cp = 0;
        for (int i = 0; i < 4; i++, pos_++)
        {
            const char h = pos_ < s_.size() ? s_[pos_] : 0;
            const int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
            if (d < 0)
                return fail("\\u needs four hex digits");
            cp = cp * 16 + d;
        }
        if (cp >= 0xD800 && cp <= 0xDFFF)
            return fail("\\u surrogate pairs are not supported (write the character as UTF-8)");
        if (cp < 0x80)
            out += (char)cp;
        else if (cp < 0x800)
            out += (char)(0xC0 | (cp >> 6)), out += (char)(0x80 | (cp & 0x3F));
        else
            out += (char)(0xE0 | (cp >> 12)), out += (char)(0x80 | ((cp >> 6) & 0x3F)), out += (char)(0x80 | (cp & 0x3F));
        return true;
    }

    bool number(Json& v)
    {
        // the JSON grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
        const size_t start = pos_;
        auto digits = [&]() {
            const size_t from = pos_;
            while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9')
                pos_++;
            return pos_ > from;
        };
        if (pos_ < s_.size() && s_[pos_] == '-')
            pos_++;
        const bool leadingZero = pos_ + 1 < s_.size() && s_[pos_] == '0' && s_[pos_ + 1] >= '0' && s_[pos_ + 1] <= '9';
        if (!digits() || leadingZero)
            return pos_ = start, fail("unexpected text (expected a value)");
        if (pos_ < s_.size() && s_[pos_] == '.' && (pos_++, !digits()))
            return fail("a number needs digits after '.'");
        if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E'))
        {
            pos_++;
            if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-'))
                pos_++;
            if (!digits())
                return fail("a number needs digits in its exponent");
        }
        v.type = Json::NUMBER;
        v.number = std::strtod(s_.substr(start, pos_ - start).c_str(), nullptr);
        if (!std::isfinite(v.number))
            return pos_ = start, fail("the number is out of range");
        return true;
    }

    const std::string& s_;
    size_t pos_ = 0;
    std::string error_;
};

/** `s` as a JSON string, quoted and escaped. */
inline std::string jsonString(const std::string& s)
{
    std::string out = "\"";
    for (unsigned char c : s)
    {
        if (c == '"' || c == '\\')
            out += '\\', out += (char)c;
        else if (c < 0x20)
            out += cv::format("\\u%04x", c);
        else
            out += (char)c;
    }
    return out + "\"";
}

/** A number with 9 significant digits, enough for a float to read back exactly ("null" when not finite). */
inline std::string jsonNumber(double v)
{
    return std::isfinite(v) ? cv::format("%.9g", v) : std::string("null");
}

} // namespace batch_sample

#endif
