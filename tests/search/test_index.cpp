// The collection index (search/index.h): exact and HNSW search against brute force, the
// folder it saves (crash-safe generations, damage named), and what an update re-embeds.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "protoclr/search/index.h"
#include "support/error_of.h"
#include "support/temp_dir.h"

namespace ps = protoclr::search;
namespace fs = std::filesystem;
using protoclr::test_support::error_of;

namespace {

std::vector<ps::CollectionFile> files_named(int64_t n) {
  std::vector<ps::CollectionFile> files;
  for (int64_t i = 0; i < n; ++i) files.push_back({"img/" + std::to_string(i) + ".jpg", 1000 + i, 42 + i});
  return files;
}

torch::Tensor unit_rows(int64_t n, int64_t d, uint64_t seed) {
  torch::manual_seed(seed);
  const auto x = torch::randn({n, d});
  return x / x.norm(2, 1, true);
}

/// Brute force: the k best rows of each query by dot product.
torch::Tensor best_rows(const torch::Tensor& base, const torch::Tensor& queries, int64_t k) {
  return std::get<1>(queries.matmul(base.t()).topk(k, 1));
}

}  // namespace

TEST(CollectionIndex, ExactSearchIsBruteForceWithCosineScores) {
  const auto base = unit_rows(300, 16, 1);
  ps::CollectionIndex index(files_named(300), base * 3.0, {{"layer", "embedding"}});  // normalised inside
  EXPECT_EQ(index.structure(), ps::SearchStructure::kExact);
  EXPECT_NE(index.structure_reason().find("exact"), std::string::npos);
  const auto queries = unit_rows(20, 16, 2);
  const auto lists = index.search(queries, 5);
  const auto expected = best_rows(base, queries, 5);
  for (int64_t q = 0; q < 20; ++q) {
    ASSERT_EQ(lists[q].size(), 5u);
    for (int64_t j = 0; j < 5; ++j) {
      EXPECT_EQ(lists[q][j].row, expected[q][j].item<int64_t>()) << "query " << q << ", rank " << j;
      EXPECT_NEAR(lists[q][j].score, queries[q].dot(base[lists[q][j].row]).item<float>(), 1e-5);
    }
  }
}

TEST(CollectionIndex, AQueryFromTheCollectionDoesNotFindItself) {
  const auto base = unit_rows(50, 8, 3);
  ps::CollectionIndex index(files_named(50), base, nullptr);
  const auto lists = index.search(base.slice(0, 10, 13), 4, {10, 11, 12});
  for (int64_t q = 0; q < 3; ++q) {
    ASSERT_EQ(lists[q].size(), 4u);
    for (const auto& nb : lists[q]) EXPECT_NE(nb.row, 10 + q);
    EXPECT_EQ(lists[q][0].row, best_rows(base, base.slice(0, 10 + q, 11 + q), 2)[0][1].item<int64_t>());
  }
  EXPECT_EQ(index.search(base.slice(0, 0, 1), 100)[0].size(), 50u) << "fewer than k when the index holds fewer";
  EXPECT_EQ(index.row_of("img/7.jpg"), 7);
  EXPECT_FALSE(index.row_of("elsewhere.jpg").has_value());
}

TEST(CollectionIndex, AboveTheExactLimitHnswFindsNearlyAllTrueNeighbours) {
  ps::IndexOptions options;
  options.exact_up_to = 100;
  const auto base = unit_rows(2000, 16, 4);
  ps::CollectionIndex index(files_named(2000), base, nullptr, options);
  EXPECT_EQ(index.structure(), ps::SearchStructure::kHnsw);
  EXPECT_NE(index.structure_reason().find("HNSW"), std::string::npos);
  const auto queries = unit_rows(100, 16, 5);
  const auto lists = index.search(queries, 10);
  const auto expected = best_rows(base, queries, 10);
  int64_t found = 0;
  for (int64_t q = 0; q < 100; ++q) {
    std::set<int64_t> truth;
    for (int64_t j = 0; j < 10; ++j) truth.insert(expected[q][j].item<int64_t>());
    for (const auto& nb : lists[q]) found += truth.count(nb.row);
  }
  EXPECT_GE(found, 950) << "recall@10 of HNSW against exact search";
}

TEST(CollectionIndex, SavesAndLoadsBothStructuresKeepingOneGeneration) {
  protoclr::test_support::TempDir tmp;
  for (const int64_t exact_up_to : {int64_t{1000}, int64_t{10}}) {
    ps::IndexOptions options;
    options.exact_up_to = exact_up_to;
    const auto base = unit_rows(200, 12, 6);
    const nlohmann::json recipe = {{"network", {{"checkpoint", "runs/a"}}}, {"image_size", 32}};
    ps::CollectionIndex index(files_named(200), base, recipe, options);
    const fs::path dir = tmp.path() / ("index" + std::to_string(exact_up_to));
    index.save(dir);
    index.save(dir);  // a second save replaces the first generation
    int data_files = 0;
    for (const auto& entry : fs::directory_iterator(dir)) data_files += entry.path().filename() != "index.json";
    EXPECT_EQ(data_files, exact_up_to == 10 ? 3 : 2) << "embeddings, files (and the HNSW graph) of one generation";

    const auto loaded = ps::CollectionIndex::load(dir);
    EXPECT_EQ(loaded.structure(), index.structure());
    EXPECT_EQ(loaded.size(), 200);
    EXPECT_EQ(loaded.recipe(), recipe);
    EXPECT_TRUE(loaded.files() == index.files());
    EXPECT_TRUE(loaded.embeddings().equal(index.embeddings()));
    const auto queries = unit_rows(7, 12, 7);
    const auto a = index.search(queries, 6), b = loaded.search(queries, 6);
    for (size_t q = 0; q < a.size(); ++q)
      for (size_t j = 0; j < a[q].size(); ++j) EXPECT_EQ(a[q][j].row, b[q][j].row);
  }
}

TEST(CollectionIndex, AMissingOrDamagedIndexIsNamedWithWhatToDo) {
  protoclr::test_support::TempDir tmp;
  std::string message = error_of([&] { ps::CollectionIndex::load(tmp.path() / "nothing"); });
  EXPECT_NE(message.find("is not a protoclr index"), std::string::npos) << message;
  EXPECT_NE(message.find("protoclr index"), std::string::npos) << message;

  const fs::path dir = tmp.path() / "index";
  ps::CollectionIndex(files_named(30), unit_rows(30, 4, 8), nullptr).save(dir);
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.path().filename().string().rfind("files-", 0) == 0) {
      std::ofstream(entry.path()) << R"(["img/0.jpg", 1000, 42])" << "\n";  // 1 of 30 rows left
    }
  message = error_of([&] { ps::CollectionIndex::load(dir); });
  EXPECT_NE(message.find("inconsistent"), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;

  std::ofstream(dir / "index.json") << "{ not json";
  message = error_of([&] { ps::CollectionIndex::load(dir); });
  EXPECT_NE(message.find("not valid JSON"), std::string::npos) << message;

  message = error_of([&] { ps::CollectionIndex(files_named(3), torch::zeros({3, 4}), nullptr); });
  EXPECT_NE(message.find("zero"), std::string::npos) << message;
}

TEST(UpdatePlan, KeepsUnchangedFilesAndEmbedsNewAndChangedOnes) {
  const auto indexed = files_named(5);
  auto current = indexed;
  current.erase(current.begin() + 1);                    // removed
  current[2].mtime_ns += 1;                              // img/3: touched
  current.push_back({"img/new.jpg", 10, 10});            // new
  current.push_back({"data.idx#4", -1, -1});             // a record without a file: never trusted
  const auto plan = ps::plan_update(indexed, current);
  EXPECT_EQ(plan.indexed_row, (std::vector<int64_t>{0, 2, -1, 4, -1, -1}));
  EXPECT_EQ(plan.kept, 3);
  EXPECT_EQ(plan.to_embed, 3);
  EXPECT_EQ(plan.removed, 1);
}

TEST(UpdatePlan, StatFileReadsSizeAndTime) {
  protoclr::test_support::TempDir tmp;
  const auto path = (tmp.path() / "a.bin").string();
  std::ofstream(path) << "12345";
  const auto file = ps::stat_file(path);
  EXPECT_EQ(file.bytes, 5);
  EXPECT_GT(file.mtime_ns, 0);
  EXPECT_EQ(ps::stat_file((tmp.path() / "missing").string()).bytes, -1);
}
