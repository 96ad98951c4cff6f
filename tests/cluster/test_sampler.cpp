// Negative prototype sampler: distinct, never positive, exact counts, rough uniformity.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <vector>

#include "protoclr/cluster/prototype_sampler.h"
#include "protoclr/core/error.h"

namespace pc = protoclr::cluster;

TEST(NegativePrototypeSampler, NeverPositiveNeverDuplicate) {
  const int64_t k = 200;
  pc::NegativePrototypeSampler sampler(k);
  EXPECT_EQ(sampler.k(), k);
  protoclr::Rng rng(123);
  for (int call = 0; call < 2000; ++call) {
    std::vector<int64_t> pos(16);
    for (auto& p : pos) p = static_cast<int64_t>(protoclr::uniform_index(rng, 40));  // repeats likely
    const std::set<int64_t> pos_set(pos.begin(), pos.end());
    const int64_t r = 1 + call % 150;
    const std::vector<int64_t> neg = sampler.sample(pos.data(), pos.size(), r, rng);
    const int64_t available = k - static_cast<int64_t>(pos_set.size());
    ASSERT_EQ(static_cast<int64_t>(neg.size()), std::min(r, available));
    const std::set<int64_t> neg_set(neg.begin(), neg.end());
    ASSERT_EQ(neg_set.size(), neg.size()) << "duplicate at call " << call;
    for (int64_t id : neg) {
      ASSERT_GE(id, 0);
      ASSERT_LT(id, k);
      ASSERT_EQ(pos_set.count(id), 0u) << "positive " << id << " drawn at call " << call;
    }
  }
}

TEST(NegativePrototypeSampler, AllNonPositivesWhenRTooLarge) {
  pc::NegativePrototypeSampler sampler(10);
  protoclr::Rng rng(5);
  const std::vector<int64_t> pos = {3, 7, 3, 0};
  for (int rep = 0; rep < 5; ++rep) {
    std::vector<int64_t> neg = sampler.sample(pos.data(), pos.size(), 100, rng);
    std::sort(neg.begin(), neg.end());
    EXPECT_EQ(neg, (std::vector<int64_t>{1, 2, 4, 5, 6, 8, 9}));
  }
  // Every id positive: nothing to draw; r = 0: nothing either.
  const std::vector<int64_t> all = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  EXPECT_TRUE(sampler.sample(all.data(), all.size(), 4, rng).empty());
  EXPECT_TRUE(sampler.sample(pos.data(), pos.size(), 0, rng).empty());
  // No positives at all.
  EXPECT_EQ(sampler.sample(nullptr, 0, 10, rng).size(), 10u);
}

TEST(NegativePrototypeSampler, MarkersResetBetweenCalls) {
  pc::NegativePrototypeSampler sampler(4);
  protoclr::Rng rng(9);
  const std::vector<int64_t> pos = {0, 1, 2};
  EXPECT_EQ(sampler.sample(pos.data(), pos.size(), 4, rng), (std::vector<int64_t>{3}));
  // id 0..2 are no longer positive.
  EXPECT_EQ(sampler.sample(nullptr, 0, 4, rng).size(), 4u);
  const std::vector<int64_t> bad = {1, 4};
  EXPECT_THROW(sampler.sample(bad.data(), bad.size(), 2, rng), protoclr::Error);
  EXPECT_EQ(sampler.sample(nullptr, 0, 4, rng).size(), 4u);  // markers clean after a throw
  EXPECT_THROW(sampler.sample(nullptr, 0, -1, rng), protoclr::Error);
  EXPECT_THROW(pc::NegativePrototypeSampler(0), protoclr::Error);
}

TEST(NegativePrototypeSampler, RoughlyUniformCoverage) {
  // K = 50, positives {0..4}, r = 9 of the 45 others per call, 20,000 calls:
  // each non-positive id is expected 20,000 * 9 / 45 = 4,000 times (sd ~ 57).
  const int64_t k = 50;
  pc::NegativePrototypeSampler sampler(k);
  protoclr::Rng rng(42);
  const std::vector<int64_t> pos = {0, 1, 2, 3, 4};
  std::vector<int64_t> hits(k, 0);
  for (int call = 0; call < 20000; ++call) {
    for (int64_t id : sampler.sample(pos.data(), pos.size(), 9, rng)) ++hits[id];
  }
  for (int64_t id = 0; id < 5; ++id) EXPECT_EQ(hits[id], 0);
  for (int64_t id = 5; id < k; ++id) {
    EXPECT_GT(hits[id], 3600) << id;
    EXPECT_LT(hits[id], 4400) << id;
  }
}

// Catches: a saved sampler state that does not reproduce the later draws (a resumed epoch
// would draw other negatives), or a corrupt state accepted.
TEST(NegativePrototypeSampler, ARestoredPermutationDrawsTheSameNegatives) {
  pc::NegativePrototypeSampler a(50), b(50);
  protoclr::Rng rng(7);
  const std::vector<int64_t> pos = {3, 9, 9, 12};
  for (int i = 0; i < 5; ++i) a.sample(pos.data(), pos.size(), 10, rng);
  b.set_permutation(a.permutation());
  protoclr::Rng ra(11), rb(11);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(a.sample(pos.data(), pos.size(), 10, ra), b.sample(pos.data(), pos.size(), 10, rb));
  auto bad = a.permutation();
  bad[0] = bad[1];
  EXPECT_THROW(b.set_permutation(bad), protoclr::Error);
  EXPECT_THROW(b.set_permutation(std::vector<int64_t>(49, 0)), protoclr::Error);
}
