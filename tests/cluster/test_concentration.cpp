// Concentration phi (eq. (12)) on hand-made clusterings, and numpy's linear percentile.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "protoclr/cluster/concentration.h"
#include "protoclr/core/error.h"

namespace pc = protoclr::cluster;

namespace {

/// Builds [N] sq_distances / assignments from per-cluster lists of L2 distances.
void make_clustering(const std::vector<std::vector<double>>& l2, torch::Tensor* sq, torch::Tensor* assign) {
  std::vector<float> d;
  std::vector<int64_t> a;
  for (size_t c = 0; c < l2.size(); ++c) {
    for (double v : l2[c]) {
      d.push_back(static_cast<float>(v * v));
      a.push_back(static_cast<int64_t>(c));
    }
  }
  *sq = torch::tensor(d, torch::kFloat);
  *assign = torch::tensor(a, torch::kLong);
}

std::vector<double> to_vec(const torch::Tensor& t) {
  const torch::Tensor c = t.to(torch::kDouble).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / v.size();
}

}  // namespace

TEST(Percentile, MatchesNumpyLinear) {
  // numpy: np.percentile([3, 1, 4, 1, 5, 9, 2, 6], [0, 10, 25, 50, 90, 100])
  //   sorted [1, 1, 2, 3, 4, 5, 6, 9], rank = 7 q / 100
  //   -> [1.0, 1.0, 1.75, 3.5, 6.9, 9.0]
  const std::vector<double> v = {3, 1, 4, 1, 5, 9, 2, 6};
  EXPECT_DOUBLE_EQ(pc::percentile(v, 0), 1.0);
  EXPECT_DOUBLE_EQ(pc::percentile(v, 10), 1.0);
  EXPECT_DOUBLE_EQ(pc::percentile(v, 25), 1.75);
  EXPECT_DOUBLE_EQ(pc::percentile(v, 50), 3.5);
  EXPECT_NEAR(pc::percentile(v, 90), 6.9, 1e-12);
  EXPECT_DOUBLE_EQ(pc::percentile(v, 100), 9.0);
  // np.percentile([0.5, 2.5, 10.0, 4.0, 1.0], 10) = 0.7 (rank 0.4 between 0.5 and 1.0);
  // np.percentile(same, 90) = 7.6 (sorted [0.5, 1, 2.5, 4, 10], rank 3.6 between 4 and 10).
  EXPECT_NEAR(pc::percentile({0.5, 2.5, 10.0, 4.0, 1.0}, 10), 0.7, 1e-12);
  EXPECT_NEAR(pc::percentile({0.5, 2.5, 10.0, 4.0, 1.0}, 90), 7.6, 1e-12);
  EXPECT_DOUBLE_EQ(pc::percentile({42.0}, 37), 42.0);
}

TEST(Concentration, HandMadeWithSingletonAndLowClamp) {
  // K = 6, alpha = 10, L2 distances per cluster:
  //   c0: {1, 3}        -> mean 2,   Z 2 -> phi = 2 / log(12)
  //   c1: {2, 2, 2}     -> mean 2,   Z 3 -> phi = 2 / log(13)
  //   c2: {0.7}         -> singleton     -> max phi
  //   c3: {.5,.5,.5,.5} -> mean 0.5, Z 4 -> phi = 0.5 / log(14)
  //   c4: {10, 10}      -> mean 10,  Z 2 -> phi = 10 / log(12) (the max)
  //   c5: {}            -> empty         -> max phi
  // sorted raw: [p3, p1, p0, p4, p4, p4] (0.1895, 0.7797, 0.8049, 4.024, 4.024, 4.024)
  // 10th percentile: rank 0.5 -> (p3 + p1) / 2 (bites c3); 90th: rank 4.5 -> p4 (no effect).
  torch::Tensor sq, assign;
  make_clustering({{1, 3}, {2, 2, 2}, {0.7}, {.5, .5, .5, .5}, {10, 10}, {}}, &sq, &assign);
  pc::ConcentrationOptions opt;
  const torch::Tensor phi = pc::concentration(sq, assign, 6, opt);
  ASSERT_EQ(phi.sizes(), (std::vector<int64_t>{6}));
  EXPECT_EQ(phi.scalar_type(), torch::kFloat);

  const double p0 = 2 / std::log(12.0), p1 = 2 / std::log(13.0), p3 = 0.5 / std::log(14.0);
  const double p4 = 10 / std::log(12.0);
  const double low = (p3 + p1) / 2;
  std::vector<double> want = {p0, p1, p4, low, p4, p4};
  const double scale = 0.2 / mean(want);
  const std::vector<double> got = to_vec(phi);
  for (int c = 0; c < 6; ++c) EXPECT_NEAR(got[c], want[c] * scale, 1e-6) << c;
  EXPECT_NEAR(mean(got), 0.2, 1e-6);
  // The reference's own `e_step` phi code (numpy 1.24) on the same clustering prints
  // [0.06829478 0.06616355 0.3414739 0.04111997 0.3414739 0.3414739].
  const std::vector<double> reference = {0.06829478, 0.06616355, 0.3414739, 0.04111997, 0.3414739, 0.3414739};
  for (int c = 0; c < 6; ++c) EXPECT_NEAR(got[c], reference[c], 1e-6) << c;
}

TEST(Concentration, BothClampsBite) {
  // K = 5, no singleton, alpha = 10, every cluster has Z = 2 members at equal L2 distance d_c,
  // so phi_c = d_c / log(12) with d = [1, 2, 3, 4, 20].
  // 10th percentile: rank 0.4 -> (1 + 0.4 * 1) / log(12) = 1.4 / log(12)
  // 90th percentile: rank 3.6 -> (4 + 0.6 * 16) / log(12) = 13.6 / log(12)
  // clipped: [1.4, 2, 3, 4, 13.6] / log(12), then scaled to mean 0.5.
  torch::Tensor sq, assign;
  make_clustering({{1, 1}, {2, 2}, {3, 3}, {4, 4}, {20, 20}}, &sq, &assign);
  pc::ConcentrationOptions opt;
  opt.temperature = 0.5;
  const std::vector<double> got = to_vec(pc::concentration(sq, assign, 5, opt));
  const std::vector<double> clipped = {1.4, 2, 3, 4, 13.6};
  const double scale = 0.5 / mean(clipped);
  for (int c = 0; c < 5; ++c) EXPECT_NEAR(got[c], clipped[c] * scale, 1e-6) << c;
  EXPECT_NEAR(mean(got), 0.5, 1e-6);
  // The reference code (temperature 0.5) prints [0.14583333 0.20833333 0.3125 0.41666667 1.41666667].
  const std::vector<double> reference = {0.14583333, 0.20833333, 0.3125, 0.41666667, 1.41666667};
  for (int c = 0; c < 5; ++c) EXPECT_NEAR(got[c], reference[c], 1e-6) << c;
}

TEST(Concentration, AlphaAndOrderDoNotMatter) {
  // Shuffled points give the same phi; alpha changes the denominator log(Z + alpha).
  torch::Tensor sq = torch::tensor({4.0f, 1.0f, 9.0f, 16.0f});  // L2 2, 1, 3, 4
  torch::Tensor assign = torch::tensor({1, 0, 0, 1}, torch::kLong);
  pc::ConcentrationOptions opt;
  opt.alpha = 1.0;
  opt.clamp_low_percentile = 0;
  opt.clamp_high_percentile = 100;
  // c0: mean(1, 3) / log(3) = 2 / log 3; c1: mean(2, 4) / log(3) = 3 / log 3 -> ratio 2 : 3.
  const std::vector<double> got = to_vec(pc::concentration(sq, assign, 2, opt));
  EXPECT_NEAR(got[0], 0.2 * 2 / 2.5, 1e-6);
  EXPECT_NEAR(got[1], 0.2 * 3 / 2.5, 1e-6);
}

TEST(Concentration, AllSingletonsGiveTemperature) {
  torch::Tensor sq = torch::tensor({0.0f, 0.5f, 1.0f});
  torch::Tensor assign = torch::tensor({0, 1, 2}, torch::kLong);
  const torch::Tensor phi = pc::concentration(sq, assign, 4, {});
  for (double v : to_vec(phi)) EXPECT_NEAR(v, 0.2, 1e-7);
}

TEST(Concentration, ZeroSpreadStaysFinite) {
  // Three of four clusters hold identical points (zero spread): no zero or infinite phi.
  torch::Tensor sq = torch::tensor({0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 1.f, 4.f});
  torch::Tensor assign = torch::tensor({0, 0, 1, 1, 2, 2, 3, 3}, torch::kLong);
  for (double v : to_vec(pc::concentration(sq, assign, 4, {}))) {
    EXPECT_TRUE(std::isfinite(v));
    EXPECT_GT(v, 0);
  }
}

TEST(Concentration, RejectsBadInput) {
  torch::Tensor sq = torch::tensor({1.0f, 1.0f});
  EXPECT_THROW(pc::concentration(sq, torch::tensor({0, 5}, torch::kLong), 2, {}), protoclr::Error);
  EXPECT_THROW(pc::concentration(sq, torch::tensor({0}, torch::kLong), 2, {}), protoclr::Error);
}

TEST(Concentration, TenThousandPointsScaleToTemperature) {
  // Its speed (target < 10 ms) is measured by bench/bench_estep.cpp, not here.
  torch::manual_seed(0);
  const torch::Tensor sq = torch::rand({10000});
  const torch::Tensor assign = torch::randint(0, 500, {10000}, torch::kLong);
  const torch::Tensor phi = pc::concentration(sq, assign, 500, {});
  EXPECT_EQ(phi.size(0), 500);
  EXPECT_NEAR(phi.mean().item<double>(), 0.2, 1e-6);
}
