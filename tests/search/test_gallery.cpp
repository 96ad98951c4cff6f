// The clusters gallery (search/gallery.h) over an in-memory dataset with known clusters at
// two granularities: pages, links between levels, thumbnails made once, every image
// referenced present, purity, assignments.csv and the unreadable page.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "protoclr/search/gallery.h"
#include "support/memory_dataset.h"
#include "support/temp_dir.h"

namespace ps = protoclr::search;
namespace fs = std::filesystem;

namespace {

std::string read(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// 24 images of 3 classes; image 5 "could not be read" (no feature row). Level K=6 splits
/// each class by parity; K=3 is the class. Levels are given fine first.
ps::ClusterSource known_clusters() {
  ps::ClusterSource source;
  source.dataset = std::make_shared<protoclr::test_support::MemoryDataset>(24, 20, 3);
  std::vector<int64_t> rows;
  for (int64_t i = 0; i < 24; ++i)
    if (i != 5) rows.push_back(i);
  const auto r = torch::tensor(rows, torch::kLong);
  torch::manual_seed(0);
  auto f = torch::zeros({23, 8});
  for (int64_t j = 0; j < 23; ++j) {
    const int64_t i = rows[static_cast<size_t>(j)];
    f[j][i % 3] = 1.0;
    f[j][3 + i % 2] = 0.5;
    f[j][6] = 0.05 * static_cast<double>(i);  // a different distance to the prototype for each
  }
  f = f / f.norm(2, 1, true);
  source.features.features = f;
  source.features.rows = r;
  source.features.labels = torch::full({23}, -1, torch::kLong);
  source.features.dataset_size = 24;
  for (const int64_t k : {6, 3}) {
    protoclr::cluster::ClusterLevel level;
    level.k = k;
    auto a = torch::full({24}, -1, torch::kLong);
    for (int64_t i = 0; i < 24; ++i)
      if (i != 5) a[i] = k == 3 ? i % 3 : (i % 3) * 2 + i % 2;
    level.assignments = a;
    auto p = torch::zeros({k, 8});
    for (int64_t j = 0; j < 23; ++j) p[a[rows[static_cast<size_t>(j)]].item<int64_t>()] += f[j];
    level.prototypes = p / p.norm(2, 1, true);
    level.phi = torch::full({k}, 0.2f);
    level.counts = torch::bincount(a.clamp_min(0), {}, k);
    source.clusters.levels.push_back(level);
  }
  source.description = "a test";
  return source;
}

/// Every src="..." of `page`, relative to its folder, must be a file.
void expect_sources_exist(const fs::path& page) {
  const std::string html = read(page);
  const std::regex src("src=\"([^\"]+)\"");
  int count = 0;
  for (auto it = std::sregex_iterator(html.begin(), html.end(), src); it != std::sregex_iterator(); ++it, ++count)
    EXPECT_TRUE(fs::is_regular_file(page.parent_path() / (*it)[1].str())) << page << ": " << (*it)[1];
  EXPECT_GT(count, 0) << page;
}

}  // namespace

TEST(Gallery, PagesSheetsAndCsvOfTwoLevels) {
  protoclr::test_support::TempDir tmp;
  const auto source = known_clusters();
  ps::GalleryOptions options;
  options.nearest = 2;
  options.sample = 1;
  const auto report = ps::write_gallery(tmp.path(), source, options);
  EXPECT_EQ(report.ks, (std::vector<int64_t>{3, 6})) << "coarse to fine";
  ASSERT_EQ(report.purity.size(), 2u);
  EXPECT_DOUBLE_EQ(report.purity[0], 1.0);
  EXPECT_DOUBLE_EQ(report.purity[1], 1.0);
  EXPECT_EQ(report.images, 23);
  EXPECT_EQ(report.pages, 1 + 3 + 6 + 1);
  EXPECT_EQ(report.thumbnails_made, 23);
  ASSERT_EQ(report.unreadable, (std::vector<std::string>{"memory#5"}));

  const std::string index = read(tmp.path() / "index.html");
  EXPECT_LT(index.find("K = 3"), index.find("K = 6"));
  expect_sources_exist(tmp.path() / "index.html");
  for (int64_t c = 0; c < 3; ++c) {
    const fs::path page = tmp.path() / "k3" / ("c" + std::to_string(c) + ".html");
    expect_sources_exist(page);
    const std::string html = read(page);
    // Class c splits by parity into fine clusters 2c and 2c + 1: both listed under it.
    EXPECT_NE(html.find("k6/c" + std::to_string(2 * c) + ".html"), std::string::npos) << html;
    EXPECT_NE(html.find("k6/c" + std::to_string(2 * c + 1) + ".html"), std::string::npos) << html;
    EXPECT_NE(html.find("100% class" + std::to_string(c)), std::string::npos) << html;
    EXPECT_TRUE(fs::is_regular_file(tmp.path() / "sheets" / ("k3_c" + std::to_string(c) + ".png")));
  }
  for (int64_t c = 0; c < 6; ++c) {
    const std::string html = read(tmp.path() / "k6" / ("c" + std::to_string(c) + ".html"));
    EXPECT_NE(html.find("part of K=3, cluster " + std::to_string(c / 2)), std::string::npos) << html;
    // 2 nearest + a sample of 1 of the rest.
    const std::regex img("<img ");
    const auto images = std::distance(std::sregex_iterator(html.begin(), html.end(), img), std::sregex_iterator());
    EXPECT_EQ(images, 3)
        << html;
  }
  const std::string csv = read(tmp.path() / "assignments.csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 25);
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "file,k3,k6");
  EXPECT_NE(csv.find("\nmemory#5,-1,-1\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find("\nmemory#7,1,3\n"), std::string::npos) << csv;
  EXPECT_NE(read(tmp.path() / "unreadable.html").find("memory#5"), std::string::npos);

  const auto again = ps::write_gallery(tmp.path(), source, options);
  EXPECT_EQ(again.thumbnails_made, 0);
  EXPECT_EQ(again.thumbnails_cached, 23);
}

TEST(Gallery, EachClusterPageShowsTheImageNearestItsPrototypeFirst) {
  protoclr::test_support::TempDir tmp;
  const auto source = known_clusters();
  ps::write_gallery(tmp.path(), source, {});
  // K=3, cluster 0 holds images 0, 3, 6, ...: feature 6 grows with the index, so image 0
  // (the smallest extra component) is not necessarily nearest; compute the truth.
  const auto& level = source.clusters.levels[1];  // K = 3
  const auto scores = source.features.features.matmul(level.prototypes[0]);
  int64_t best = -1;
  float best_score = -2;
  for (int64_t j = 0; j < scores.size(0); ++j) {
    const int64_t i = source.features.rows[j].item<int64_t>();
    if (i % 3 == 0 && scores[j].item<float>() > best_score) best = i, best_score = scores[j].item<float>();
  }
  const std::string html = read(tmp.path() / "k3" / "c0.html");
  const auto first = html.find("alt=\"memory#");
  ASSERT_NE(first, std::string::npos) << html;
  EXPECT_EQ(html.substr(first, html.find('"', first + 5) - first + 1), "alt=\"memory#" + std::to_string(best) + "\"")
      << html;
}
