// Low-shot sampling (exactly k positives per class, reproducible by seed) and evaluation.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include <torch/torch.h>

#include "protoclr/core/error.h"
#include "protoclr/eval/low_shot.h"

namespace protoclr::eval {
namespace {

SvmTargets single_label(int64_t classes, int64_t per_class) {
  return {torch::arange(classes, torch::kLong).repeat(per_class), {}};  // 0 1 2 ... 0 1 2 ...
}

TEST(LowShot, SingleLabelPicksExactlyKPerClass) {
  const SvmTargets t = single_label(5, 20);
  const auto labels = t.labels;
  for (int64_t k : {1, 2, 4, 8, 16}) {
    const LowShotSample s = low_shot_sample(t, k, /*run=*/0, /*seed=*/3);
    ASSERT_EQ(s.picked.size(), 5u);
    EXPECT_EQ(static_cast<int64_t>(s.rows.size()), 5 * k);
    std::set<int64_t> distinct(s.rows.begin(), s.rows.end());
    EXPECT_EQ(distinct.size(), s.rows.size());
    for (int64_t c = 0; c < 5; ++c) {
      ASSERT_EQ(static_cast<int64_t>(s.picked[c].size()), k);
      for (int64_t r : s.picked[c]) EXPECT_EQ(labels[r].item<int64_t>(), c);
    }
  }
}

TEST(LowShot, SamplesRepeatBySeedAndDifferAcrossRunsAndSeeds) {
  const SvmTargets t = single_label(4, 50);
  const auto a = low_shot_sample(t, 4, 0, 11).rows;
  EXPECT_EQ(a, low_shot_sample(t, 4, 0, 11).rows);
  EXPECT_NE(a, low_shot_sample(t, 4, 1, 11).rows);
  EXPECT_NE(a, low_shot_sample(t, 4, 0, 12).rows);
}

TEST(LowShot, MultiLabelDrawsOnlyPositivesAndKeepsRepeats) {
  // Row i: class 0 present for even i, class 1 for i % 3 == 0, class 2 difficult for every
  // row but the last four, which hold it.
  const int64_t n = 24;
  auto m = torch::full({n, 3}, -1, torch::kChar);
  for (int64_t i = 0; i < n; ++i) {
    if (i % 2 == 0) m[i][0] = 1;
    if (i % 3 == 0) m[i][1] = 1;
    m[i][2] = i >= n - 4 ? 1 : 0;
  }
  const SvmTargets t{{}, m};
  const LowShotSample s = low_shot_sample(t, 4, 0, 5);
  ASSERT_EQ(s.picked.size(), 3u);
  EXPECT_EQ(s.rows.size(), 12u);  // concatenated, class by class, repeats kept
  for (int64_t c = 0; c < 3; ++c) {
    ASSERT_EQ(s.picked[c].size(), 4u);
    std::set<int64_t> distinct(s.picked[c].begin(), s.picked[c].end());
    EXPECT_EQ(distinct.size(), 4u);
    for (int64_t r : s.picked[c]) EXPECT_EQ(m[r][c].item<int8_t>(), 1) << "class " << c << " row " << r;
    EXPECT_EQ(std::vector<int64_t>(s.rows.begin() + 4 * c, s.rows.begin() + 4 * c + 4), s.picked[c]);
  }
  EXPECT_EQ(std::set<int64_t>(s.picked[2].begin(), s.picked[2].end()), (std::set<int64_t>{20, 21, 22, 23}));
  try {
    low_shot_sample(t, 5, 0, 5);  // class 2 has 4 positives
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--low-shot 5"), std::string::npos) << e.what();
  }
}

TEST(LowShot, SeparableSetIsPerfectAndSelectionIsStated) {
  // Classes around 3 * e_c: even one image per class separates them.
  torch::manual_seed(21);
  const int64_t classes = 4, per_class = 30;
  auto make = [&](int64_t per) {
    auto labels = torch::arange(classes, torch::kLong).repeat_interleave(per);
    auto x = torch::rand({classes * per, 6}) * 0.3;
    for (int64_t i = 0; i < x.size(0); ++i) x[i][labels[i].item<int64_t>()] += 3.0;
    return std::make_pair(x, labels);
  };
  auto [xtr, ytr] = make(per_class);
  auto [xte, yte] = make(10);
  SvmOptions o;
  o.costs = {0.1, 1.0, 10.0};
  o.threads = 2;
  const LowShotReport r = svm_low_shot(xtr, {ytr, {}}, xte, {yte, {}}, {1, 2, 4}, /*runs=*/3, o);
  EXPECT_EQ(r.metric, "top1");
  EXPECT_EQ(r.test_samples, 40);
  ASSERT_EQ(r.shots.size(), 3u);
  for (const auto& f : r.shots) {
    EXPECT_EQ(f.runs.size(), 3u);
    EXPECT_DOUBLE_EQ(f.mean, 100.0) << "k=" << f.shots;
    EXPECT_DOUBLE_EQ(f.stddev, 0.0);
    EXPECT_EQ(f.per_cost.size(), 3u);
    EXPECT_EQ(f.train_samples, classes * f.shots);
  }
  // 1 and 2 shots are too few for 3 folds: test-max over the mean of the runs, one cost.
  EXPECT_EQ(r.shots[0].selection, CostSelection::kTestMax);
  EXPECT_EQ(r.shots[0].selected_costs.size(), 1u);
  EXPECT_NE(r.shots[0].selection_text.find("too few"), std::string::npos) << r.shots[0].selection_text;
  EXPECT_TRUE(std::isnan(r.shots[0].per_cost[0].cross_validation));
  EXPECT_EQ(r.shots[1].selection, CostSelection::kTestMax);
  // 4 shots: cross-validation per run.
  EXPECT_EQ(r.shots[2].selection, CostSelection::kCrossValidation);
  EXPECT_EQ(r.shots[2].selected_costs.size(), 3u);
  EXPECT_FALSE(std::isnan(r.shots[2].per_cost[0].cross_validation));
}

TEST(LowShot, MeanAndStdAreOverRuns) {
  // A noisy set: runs differ, and mean / population std match the per-run values.
  torch::manual_seed(5);
  auto ytr = torch::arange(3, torch::kLong).repeat(40);
  auto xtr = torch::randn({120, 5}) + torch::nn::functional::one_hot(ytr, 5).to(torch::kFloat);
  auto yte = torch::arange(3, torch::kLong).repeat(30);
  auto xte = torch::randn({90, 5}) + torch::nn::functional::one_hot(yte, 5).to(torch::kFloat);
  SvmOptions o;
  o.costs = {0.1, 1.0};
  o.selection = CostSelection::kTestMax;
  o.threads = 1;
  const LowShotReport r = svm_low_shot(xtr, {ytr, {}}, xte, {yte, {}}, {2}, /*runs=*/4, o);
  const auto& f = r.shots.at(0);
  ASSERT_EQ(f.runs.size(), 4u);
  double mean = 0, var = 0;
  for (double v : f.runs) mean += v / 4;
  for (double v : f.runs) var += (v - mean) * (v - mean) / 4;
  EXPECT_NEAR(f.mean, mean, 1e-9);
  EXPECT_NEAR(f.stddev, std::sqrt(var), 1e-9);
  EXPECT_NE(f.selection_text.find("PCL reference"), std::string::npos) << f.selection_text;
  // The reported runs are those of the selected cost, whose mean is the best per-cost mean.
  for (const auto& c : f.per_cost) EXPECT_LE(c.test, f.mean + 1e-9);
  // Same options, same answer (single thread: LIBLINEAR's rand() sequence repeats too).
  const LowShotReport again = svm_low_shot(xtr, {ytr, {}}, xte, {yte, {}}, {2}, 4, o);
  EXPECT_EQ(again.shots[0].runs, f.runs);
}

}  // namespace
}  // namespace protoclr::eval
