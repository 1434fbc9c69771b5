// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// The samples' helpers that the end-to-end sample tests cannot reach one by one: the viewer's keys, the
// size of every rendered map and of the panel, the folder listing, the shard assignment (against FNV-1a's
// published test vectors), and the manifest and JSON readers of the batch tool.
#include "test_common.hpp"

#include "batch_manifest.hpp"
#include "gradcam_view.hpp"
#include "sample_input.hpp"

#include <opencv2/core/utils/filesystem.hpp>

#include <fstream>
#include <sstream>

namespace opencv_test { namespace {

using gradcam_sample::ViewState;
using gradcam_sample::handleKey;

TEST(SampleView, keys)
{
    ViewState s;
    EXPECT_TRUE(handleKey('3', s, 4, 2, 5));
    EXPECT_EQ(2, s.rank);
    EXPECT_FALSE(handleKey('5', s, 4, 2, 4));  // only 4 classes: no top-5
    EXPECT_EQ(2, s.rank);
    for (int i = 0; i < 5; i++)
        EXPECT_TRUE(handleKey('m', s, 4, 2, 5));
    EXPECT_EQ(1u, s.method);  // 5 presses over 4 methods
    EXPECT_TRUE(handleKey('l', s, 4, 2, 5));
    EXPECT_TRUE(handleKey('l', s, 4, 2, 5));
    EXPECT_EQ(0u, s.layer);
    EXPECT_TRUE(handleKey('p', s, 4, 2, 5));
    EXPECT_TRUE(s.panel);
    EXPECT_FALSE(handleKey(' ', s, 4, 2, 5));
    EXPECT_TRUE(s.paused && s.next);
    EXPECT_FALSE(s.quit);
    EXPECT_FALSE(handleKey(-1, s, 4, 2, 5));  // no key (waitKey's timeout) changes nothing
    EXPECT_FALSE(s.quit);
    EXPECT_FALSE(handleKey(27, s, 4, 2, 5));
    EXPECT_TRUE(s.quit);
}

/** The maps of a 96x64 image explained by a net with 64x64 input and an 8x8 target layer. */
gradcam_sample::Maps fakeMaps()
{
    gradcam_sample::Maps m;
    cv::Mat cam(8, 8, CV_32F);
    cv::randu(cam, 0, 1);
    m.gradcam.push_back(cam);
    m.counterfactual.push_back(1 - cam);
    const int size[] = {1, 3, 64, 64};
    m.guided.create(4, size, CV_32F);
    cv::randn(m.guided, 0, 1);
    m.guidedGradCAM = m.guided * 0.5;
    return m;
}

TEST(SampleView, every_map_has_the_image_size)
{
    const cv::Mat image(64, 96, CV_8UC3, cv::Scalar(10, 200, 30));
    const gradcam_sample::Maps m = fakeMaps();
    for (const char* method : {"gradcam", "counterfactual", "guided", "guided_gradcam"})
    {
        const cv::Mat shown = gradcam_sample::renderMap(method, image, m, true);
        EXPECT_EQ(image.size(), shown.size()) << method;
        EXPECT_EQ(CV_8UC3, shown.type()) << method;
    }
}

TEST(SampleView, panel_has_five_titled_tiles)
{
    const cv::Mat image(64, 96, CV_8UC3, cv::Scalar(10, 200, 30));
    const cv::Mat panel = gradcam_sample::makePanel(image, fakeMaps(), true, "square");
    // 224 pixels high (enlarged from 64) + the title strip; each tile 336 wide (224 * 96 / 64), 4-pixel gaps
    EXPECT_EQ(224 + 26, panel.rows);
    EXPECT_EQ(5 * 336 + 4 * 4, panel.cols);
    // the title strips are white with dark text
    const cv::Mat strip = panel(cv::Rect(0, 224, panel.cols, 26));
    EXPECT_GT(cv::countNonZero(strip.reshape(1) < 100), 100);
}

TEST(SampleView, enlarge_keeps_the_aspect)
{
    EXPECT_EQ(cv::Size(540, 360), gradcam_sample::enlargeTo(cv::Mat(64, 96, CV_8UC3), 360).size());
    EXPECT_EQ(cv::Size(800, 600), gradcam_sample::enlargeTo(cv::Mat(600, 800, CV_8UC3), 360).size());
}

/** A fresh folder under the test's temporary directory. */
std::string freshFolder(const std::string& name)
{
    const std::string dir = cv::tempfile(name.c_str());
    cv::utils::fs::createDirectories(dir + "/sub/.hidden");
    cv::utils::fs::createDirectories(dir + "/out/maps");
    for (const char* f : {"b.PNG", "a.jpg", "sub/c.tif", "sub/.hidden/d.png", ".e.png", "notes.txt", "out/maps/x.png"})
        std::ofstream(dir + "/" + f) << "x";
    return dir;
}

TEST(SampleInput, folder_listing_is_sorted_and_skips_hidden_and_excluded)
{
    const std::string dir = freshFolder("listing");
    EXPECT_EQ(std::vector<std::string>({"a.jpg", "b.PNG", "out/maps/x.png", "sub/c.tif"}), sample::listImages(dir, true));
    EXPECT_EQ(std::vector<std::string>({"a.jpg", "b.PNG", "sub/c.tif"}), sample::listImages(dir, true, "out"));
    EXPECT_EQ(std::vector<std::string>({"a.jpg", "b.PNG"}), sample::listImages(dir, false));
    cv::utils::fs::remove_all(dir);
}

TEST(SampleInput, what_input_is)
{
    sample::FrameSource s;
    std::string error;
    EXPECT_TRUE(s.open(EXPLAIN_DATA_DIR "/default_image.png", error)) << error;
    EXPECT_EQ(sample::FrameSource::IMAGE, s.kind());
    EXPECT_FALSE(s.isStream());
    EXPECT_TRUE(sample::FrameSource().open(EXPLAIN_DATA_DIR, error)) << error;  // a folder
    EXPECT_FALSE(sample::FrameSource().open(EXPLAIN_DATA_DIR "/nothing.png", error));
    EXPECT_EQ("cannot open '" EXPLAIN_DATA_DIR "/nothing.png'", error);
    EXPECT_FALSE(sample::FrameSource().open(EXPLAIN_DATA_DIR "/default_labels.txt", error));
    EXPECT_NE(std::string::npos, error.find("as an image, a video or an image sequence")) << error;
    EXPECT_EQ("cat", sample::stemOf("a/b/cat.jpg"));
    EXPECT_EQ(".hidden", sample::stemOf("x/.hidden"));
}

TEST(BatchShard, fnv1a_test_vectors)
{
    // FNV-1a 64-bit: "" -> cbf29ce484222325, "a" -> af63dc4c8601ec8c, "foobar" -> 85944171f73967e8
    EXPECT_EQ((int)(0xcbf29ce484222325ull % 1000003), batch_sample::shardOf("", 1000003));
    EXPECT_EQ((int)(0xaf63dc4c8601ec8cull % 1000003), batch_sample::shardOf("a", 1000003));
    EXPECT_EQ((int)(0x85944171f73967e8ull % 999983), batch_sample::shardOf("foobar", 999983));
    EXPECT_EQ(0, batch_sample::shardOf("anything", 1));
}

TEST(BatchManifest, csv)
{
    std::istringstream in("\xEF\xBB\xBFpath,class,x,y,w,h\r\na.png,,1,2,3,4\r\nb.png,7,,,,\n\nc d.png,0,-5,0,1,1\n");
    std::vector<batch_sample::Item> items;
    std::string error;
    ASSERT_TRUE(batch_sample::readManifest(in, "m.csv", false, items, error)) << error;
    ASSERT_EQ(3u, items.size());
    EXPECT_EQ("a.png", items[0].id);
    EXPECT_EQ(-1, items[0].classId);
    EXPECT_EQ(std::vector<cv::Rect>{cv::Rect(1, 2, 3, 4)}, items[0].boxes);
    EXPECT_EQ("b.png#7", items[1].id);
    EXPECT_TRUE(items[1].boxes.empty());
    EXPECT_EQ("c d.png#0", items[2].id);
    EXPECT_EQ(cv::Rect(-5, 0, 1, 1), items[2].boxes[0]);

    std::istringstream onlyPath("path\nx.png\n");
    items.clear();
    ASSERT_TRUE(batch_sample::readManifest(onlyPath, "m.csv", false, items, error)) << error;
    EXPECT_EQ("x.png", items[0].id);

    std::istringstream partialBox("path,x,y,w,h\nx.png,1,2,,4\n");
    EXPECT_FALSE(batch_sample::readManifest(partialBox, "m.csv", false, items, error));
    EXPECT_EQ("m.csv:2: column 4 (w): '' is not an integer", error);
}

TEST(BatchManifest, json_lines)
{
    std::istringstream in("{\"path\": \"a\\u00e9.png\", \"box\": [[1, 2, 3, 4], [5, 6, 7, 8]], \"extra\": {\"k\": [1e3, null]}}\n"
                          "{\"path\": \"b.png\", \"class\": 2, \"box\": null}\n");
    std::vector<batch_sample::Item> items;
    std::string error;
    ASSERT_TRUE(batch_sample::readManifest(in, "m.jsonl", true, items, error)) << error;
    ASSERT_EQ(2u, items.size());
    EXPECT_EQ("a\xC3\xA9.png", items[0].path);
    EXPECT_EQ(2u, items[0].boxes.size());
    EXPECT_EQ(cv::Rect(5, 6, 7, 8), items[0].boxes[1]);
    EXPECT_EQ("b.png#2", items[1].id);

    const std::pair<const char*, const char*> bad[] = {
        {"{\"path\": \"a.png\", \"class\": -1}", "\"class\" is out of range [0, 2147483647]"},
        {"{\"path\": \"a.png\", \"class\": \"1\"}", "\"class\" is not a whole number"},
        {"{\"path\": \"a.png\", \"box\": [1, 2, 0, 4]}", "\"box\" has 0, which is not a whole number in [1, 1048576]"},
        {"{\"path\": \"a.png\", \"path\": \"b.png\"}", "at character 19: the member \"path\" is given twice"},
        {"{\"path\": \"a.png\"} x", "at character 19: text after the object"},
        {"{\"path\": 01}", "at character 10: unexpected text (expected a value)"},
        {"{\"path\": \"a\\q\"}", "at character 12: unknown escape \\q"},
        {"{\"path\": \"a.png\"", "at character 17: expected ',' or '}'"},
    };
    for (const auto& b : bad)
    {
        std::istringstream one(b.first);
        items.clear();
        EXPECT_FALSE(batch_sample::readManifest(one, "m.jsonl", true, items, error)) << b.first;
        EXPECT_EQ(std::string("m.jsonl:1: ") + b.second, error) << b.first;
    }
}

TEST(BatchJson, strings_round_trip)
{
    const std::string text = std::string("quote \" backslash \\ tab \t newline \n bell \x07 \xC3\xA9");
    batch_sample::Json v;
    std::string error;
    ASSERT_TRUE(batch_sample::JsonReader::parseObject("{\"s\":" + batch_sample::jsonString(text) + "}", v, error)) << error;
    EXPECT_EQ(text, v.find("s")->text);
    EXPECT_EQ("3.92217922", batch_sample::jsonNumber(3.92217922f));
    EXPECT_EQ("null", batch_sample::jsonNumber(std::numeric_limits<double>::quiet_NaN()));
}

}} // namespace
