// Plots: sizes, colours at the expected pixels, legends, determinism, errors. With
// PROTOCLR_PLOT_DIR set, the examples are also written there as PNG to look at.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "protoclr/core/error.h"
#include "protoclr/plot/png_writer.h"
#include "protoclr/plot/plot.h"

namespace {

using protoclr::plot::category_color;

/// Pixels of exactly colour c inside `roi`.
int count_color(const cv::Mat& img, const cv::Vec3b& c, cv::Rect roi = {}) {
  if (roi.area() == 0) roi = cv::Rect(0, 0, img.cols, img.rows);
  int count = 0;
  for (int y = roi.y; y < roi.y + roi.height; ++y)
    for (int x = roi.x; x < roi.x + roi.width; ++x) count += img.at<cv::Vec3b>(y, x) == c;
  return count;
}

int distinct_colors(const cv::Mat& img) {
  std::vector<uint32_t> seen;
  for (int y = 0; y < img.rows; ++y)
    for (int x = 0; x < img.cols; ++x) {
      const auto p = img.at<cv::Vec3b>(y, x);
      seen.push_back((p[0] << 16) | (p[1] << 8) | p[2]);
    }
  std::sort(seen.begin(), seen.end());
  return static_cast<int>(std::unique(seen.begin(), seen.end()) - seen.begin());
}

void maybe_write(const std::string& name, const cv::Mat& img) {
  if (const char* dir = std::getenv("PROTOCLR_PLOT_DIR"))
    protoclr::plot::write_png(std::filesystem::path(dir) / name, img);
}

}  // namespace

TEST(Plot, PaletteIsDistinctAndDeterministic) {
  EXPECT_EQ(category_color(0), cv::Vec3b(31, 119, 180));  // tab10 blue
  EXPECT_EQ(category_color(3), cv::Vec3b(214, 39, 40));   // tab10 red
  std::vector<cv::Vec3b> colors;
  for (int i = -1; i < 60; ++i) colors.push_back(category_color(i));
  for (size_t a = 0; a < colors.size(); ++a)
    for (size_t b = a + 1; b < colors.size(); ++b) EXPECT_NE(colors[a], colors[b]) << a << " " << b;
  EXPECT_EQ(category_color(123), category_color(123));
}

TEST(Plot, ScatterPointsAtTheExpectedPixels) {
  // Without title and legend, the data box (a square here) fills the square plot area
  // inset by margin + radius: corners of the data land on known pixels.
  protoclr::plot::ScatterOptions o;
  o.width = o.height = 200;
  o.legend = false;
  o.margin = 10;
  o.point_radius = 4;
  const auto coords = torch::tensor({0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.5, 0.5}).view({5, 2});
  const auto labels = torch::tensor({0, 1, 2, 3, -1}, torch::kLong);
  const cv::Mat img = protoclr::plot::scatter_plot(coords, labels, {}, o);
  ASSERT_EQ(img.type(), CV_8UC3);
  ASSERT_EQ(img.size(), cv::Size(200, 200));
  const int lo = 10 + 4, hi = 200 - 10 - 4;  // pixel range of the data
  EXPECT_EQ(img.at<cv::Vec3b>(hi, lo), category_color(0));  // (0, 0): bottom left (y up)
  EXPECT_EQ(img.at<cv::Vec3b>(hi, hi), category_color(1));  // (1, 0): bottom right
  EXPECT_EQ(img.at<cv::Vec3b>(lo, lo), category_color(2));  // (0, 1): top left
  EXPECT_EQ(img.at<cv::Vec3b>(lo, hi), category_color(3));  // (1, 1): top right
  EXPECT_EQ(img.at<cv::Vec3b>(100, 100), category_color(-1));
  EXPECT_EQ(img.at<cv::Vec3b>(2, 2), cv::Vec3b(255, 255, 255));
}

TEST(Plot, ScatterLegendListsEveryClassAndOutputIsDeterministic) {
  auto coords = torch::randn({400, 2}, torch::TensorOptions().dtype(torch::kFloat));
  const auto labels = torch::arange(400, torch::kLong) % 12;
  std::vector<std::string> names = {"airplane", "automobile", "bird", "cat", "deer", "dog",
                                    "frog", "horse", "ship", "truck"};  // 10 and 11 fall back
  protoclr::plot::ScatterOptions o;
  o.title = "t-SNE of random points";
  const cv::Mat img = protoclr::plot::scatter_plot(coords, labels, names, o);
  ASSERT_EQ(img.size(), cv::Size(1000, 1000));
  // The legend sits right of the points: every class colour appears there too.
  const cv::Rect right(820, 0, 180, 1000);
  int rightmost = 0;
  for (int y = 0; y < img.rows; ++y)
    for (int x = 0; x < 820; ++x)
      if (img.at<cv::Vec3b>(y, x) == category_color(0)) rightmost = std::max(rightmost, x);
  for (int c = 0; c < 12; ++c) {
    EXPECT_GT(count_color(img, category_color(c), cv::Rect(0, 0, 820, 1000)), 50) << c;
    EXPECT_GT(count_color(img, category_color(c), right), 20) << "legend swatch of class " << c;
  }
  EXPECT_GT(distinct_colors(img), 30);
  EXPECT_TRUE(cv::norm(img, protoclr::plot::scatter_plot(coords, labels, names, o), cv::NORM_INF) == 0);
  EXPECT_EQ(protoclr::plot::encode_png(img),
            protoclr::plot::encode_png(protoclr::plot::scatter_plot(coords, labels, names, o)));
}

TEST(Plot, ScatterManyClassesAndNoLabels) {
  const auto coords = torch::randn({3000, 2});
  const auto labels = torch::arange(3000, torch::kLong) % 150;
  protoclr::plot::ScatterOptions o;
  o.fallback_name = "cluster ";
  const cv::Mat img = protoclr::plot::scatter_plot(coords, labels, {}, o);
  EXPECT_EQ(img.size(), cv::Size(1000, 1000));
  maybe_write("scatter_150_clusters.png", img);
  const cv::Mat plain = protoclr::plot::scatter_plot(coords, torch::Tensor(), {}, o);
  EXPECT_GT(count_color(plain, category_color(-1)), 1000);
  EXPECT_THROW(protoclr::plot::scatter_plot(torch::zeros({3, 3}), torch::Tensor(), {}, o), protoclr::Error);
  EXPECT_THROW(protoclr::plot::scatter_plot(coords, torch::zeros({5}, torch::kLong), {}, o), protoclr::Error);
  auto bad = coords.clone();
  bad[0][0] = NAN;
  EXPECT_THROW(protoclr::plot::scatter_plot(bad, labels, {}, o), protoclr::Error);
  // Empty and single-point inputs still draw.
  EXPECT_EQ(protoclr::plot::scatter_plot(torch::zeros({0, 2}), torch::Tensor(), {}, o).size(), cv::Size(1000, 1000));
  EXPECT_EQ(protoclr::plot::scatter_plot(torch::zeros({1, 2}), torch::zeros({1}, torch::kLong), {}, o).size(),
            cv::Size(1000, 1000));
}

TEST(Plot, NiceTicks) {
  EXPECT_EQ(protoclr::plot::nice_ticks(0, 1, 6), (std::vector<double>{0, 0.2, 0.4, 0.6, 0.8, 1.0}));
  const auto t = protoclr::plot::nice_ticks(1, 200, 8);
  EXPECT_EQ(t.front(), 0);
  EXPECT_EQ(t.back(), 200);
  EXPECT_DOUBLE_EQ(t[1] - t[0], 50);
  const auto c = protoclr::plot::nice_ticks(3, 3, 5);  // constant series
  EXPECT_LE(c.front(), 2.5);
  EXPECT_GE(c.back(), 3.5);
  const auto s = protoclr::plot::nice_ticks(0.0312, 0.0377, 6);
  EXPECT_LE(s.front(), 0.0312);
  EXPECT_GE(s.back(), 0.0377);
  EXPECT_LE(s.size(), 8u);
}

TEST(Plot, LinePlotCurvesAxesLegend) {
  std::vector<protoclr::plot::LineSeries> series(2);
  series[0].name = "loss";
  series[1].name = "kNN top-1 / 10";
  for (int e = 1; e <= 200; ++e) {
    series[0].xs.push_back(e);
    series[0].ys.push_back(9.0 * std::exp(-e / 40.0) + 1.0);
    series[1].xs.push_back(e);
    series[1].ys.push_back(e == 100 ? NAN : 8.0 * (1 - std::exp(-e / 50.0)));
  }
  protoclr::plot::LinePlotOptions o;
  o.title = "Training curves";
  o.x_label = "epoch";
  o.y_label = "value";
  const cv::Mat img = protoclr::plot::line_plot(series, o);
  ASSERT_EQ(img.size(), cv::Size(1000, 600));
  ASSERT_EQ(img.type(), CV_8UC3);
  EXPECT_GT(count_color(img, category_color(0)), 500);
  EXPECT_GT(count_color(img, category_color(1)), 500);
  EXPECT_GT(distinct_colors(img), 20);
  EXPECT_EQ(protoclr::plot::encode_png(img), protoclr::plot::encode_png(protoclr::plot::line_plot(series, o)));
  maybe_write("line_plot.png", img);

  std::vector<protoclr::plot::LineSeries> few(1);
  few[0] = {"accuracy", {1, 2, 3, 4, 5}, {10.5, 30.25, 45, 52, 55.5}};
  const cv::Mat small = protoclr::plot::line_plot(few, {});
  EXPECT_GT(count_color(small, category_color(0)), 100);
  maybe_write("line_plot_few.png", small);
  few[0].ys = {1, 1, 1, 1, 1};  // constant
  EXPECT_NO_THROW(protoclr::plot::line_plot(few, {}));

  EXPECT_THROW(protoclr::plot::line_plot({}, {}), protoclr::Error);
  few[0].ys = {1, 2};
  EXPECT_THROW(protoclr::plot::line_plot(few, {}), protoclr::Error);
}

TEST(Plot, ImageGrid) {
  std::vector<cv::Mat> tiles;
  std::vector<std::string> captions;
  for (int i = 0; i < 10; ++i) {
    const auto c = category_color(i);
    tiles.emplace_back(32 + 4 * i, 48, CV_8UC3, cv::Scalar(c[0], c[1], c[2]));
    captions.push_back("cluster " + std::to_string(i));
  }
  protoclr::plot::ImageGridOptions o;
  o.tile_size = 64;
  o.title = "Cluster sheet";
  const cv::Mat img = protoclr::plot::image_grid(tiles, 4, captions, o);
  EXPECT_EQ(img.cols, 6 + 4 * (64 + 6));
  for (int i = 0; i < 10; ++i) EXPECT_GT(count_color(img, category_color(i)), 1000) << i;
  maybe_write("image_grid.png", img);
  EXPECT_THROW(protoclr::plot::image_grid({}, 4), protoclr::Error);
  EXPECT_THROW(protoclr::plot::image_grid(tiles, 0), protoclr::Error);
  EXPECT_THROW(protoclr::plot::image_grid(tiles, 4, {"one"}), protoclr::Error);
  EXPECT_THROW(protoclr::plot::image_grid({cv::Mat(4, 4, CV_8UC1)}, 1), protoclr::Error);
}
