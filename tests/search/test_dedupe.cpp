// Near-duplicate groups (search/dedupe.h) on embeddings with planted copies.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>

#include "protoclr/search/dedupe.h"
#include "support/error_of.h"

namespace ps = protoclr::search;
using protoclr::test_support::error_of;

namespace {

std::vector<ps::CollectionFile> files_named(int64_t n) {
  std::vector<ps::CollectionFile> files;
  for (int64_t i = 0; i < n; ++i) files.push_back({"img/" + std::to_string(i) + ".png", 1, 1});
  return files;
}

/// 100 random directions in 64-d (pairwise cosines about N(0, 1/64): none near the 0.9 used here), then
/// copies: rows 100 and 101 of row 3, row 102 of row 40, and 20 copies (rows 103..122) of row 70.
torch::Tensor planted() {
  torch::manual_seed(11);
  auto base = torch::randn({100, 64});
  base = base / base.norm(2, 1, true);
  std::vector<torch::Tensor> rows{base};
  auto near = [&](int64_t of, double noise) {
    auto v = base[of] + noise * torch::randn({64}) / 8.0;
    return (v / v.norm()).unsqueeze(0);
  };
  rows.push_back(near(3, 0.1));
  rows.push_back(near(3, 0.1));
  rows.push_back(near(40, 0.1));
  for (int i = 0; i < 20; ++i) rows.push_back(near(70, 0.1));
  return torch::cat(rows);
}

}  // namespace

TEST(NearDuplicates, FindsThePlantedCopiesAndNothingElse) {
  ps::CollectionIndex index(files_named(123), planted(), nullptr);
  ps::DedupeOptions options;
  options.threshold = 0.9f;
  options.neighbours = 4;  // fewer than the 21 images of the largest group: found through its members
  const auto groups = ps::near_duplicates(index, options);
  ASSERT_EQ(groups.size(), 3u);
  std::vector<int64_t> largest{70};
  for (int64_t r = 103; r < 123; ++r) largest.push_back(r);
  EXPECT_EQ(groups[0].rows, largest);
  EXPECT_EQ(groups[1].rows, (std::vector<int64_t>{3, 100, 101}));
  EXPECT_EQ(groups[2].rows, (std::vector<int64_t>{40, 102}));
  for (const auto& g : groups) {
    EXPECT_GE(g.lowest, 0.9f);
    EXPECT_LT(g.lowest, 1.0f);
  }
  const float pair = index.embeddings()[40].dot(index.embeddings()[102]).item<float>();
  EXPECT_NEAR(groups[2].lowest, pair, 1e-5);
}

TEST(NearDuplicates, PairsAreListedOnceBestFirst) {
  ps::CollectionIndex index(files_named(123), planted(), nullptr);
  std::vector<float> scores;
  ps::DedupeOptions options;
  options.threshold = 0.9f;
  const auto pairs = ps::near_duplicate_pairs(index, options, &scores);
  ASSERT_EQ(pairs.size(), scores.size());
  std::set<std::pair<int64_t, int64_t>> seen;
  for (size_t i = 0; i < pairs.size(); ++i) {
    EXPECT_LT(pairs[i].first, pairs[i].second);
    EXPECT_TRUE(seen.insert(pairs[i]).second) << "listed twice";
    if (i > 0) {
      EXPECT_LE(scores[i], scores[i - 1]);
    }
  }
  EXPECT_EQ(seen.count({40, 102}), 1u);
  EXPECT_EQ(seen.count({3, 100}), 1u);
  options.threshold = 1.5f;
  EXPECT_NE(error_of([&] { ps::near_duplicate_pairs(index, options); }).find("--threshold"), std::string::npos);
}
