// LIBLINEAR SVM probe on toy sets whose answers are known.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include <torch/torch.h>

#include "protoclr/core/error.h"
#include "protoclr/eval/svm.h"
#include "svm_reference.h"

namespace protoclr::eval {
namespace {

/// n points per class around 3 * e_c in D dimensions (plus small noise): linearly separable.
std::pair<torch::Tensor, torch::Tensor> clusters(int64_t classes, int64_t per_class, int64_t dim, uint64_t seed) {
  torch::manual_seed(seed);
  auto labels = torch::arange(classes, torch::kLong).repeat_interleave(per_class);
  auto x = torch::rand({classes * per_class, dim}) * 0.5;
  x.index_put_({torch::arange(classes * per_class), labels}, x.index({torch::arange(classes * per_class), labels}) + 3.0);
  return {x, labels};
}

/// Multi-label: each row holds a random non-empty subset of the classes; features are the
/// sum of the classes' directions plus a constant feature and small noise.
std::pair<torch::Tensor, torch::Tensor> multi_label_set(int64_t classes, int64_t n, uint64_t seed) {
  torch::manual_seed(seed);
  auto present = torch::rand({n, classes}) < 0.4;
  present.index_put_({torch::arange(n), torch::arange(n) % classes}, true);
  auto x = torch::cat({present.to(torch::kFloat) * 2.0 + torch::rand({n, classes}) * 0.2, torch::ones({n, 1})}, 1);
  auto targets = present.to(torch::kChar) * 2 - 1;  // 1 / -1
  return {x, targets};
}

SvmOptions small_options() {
  SvmOptions o;
  o.costs = {0.01, 1.0, 10.0};
  o.threads = 2;
  return o;
}

TEST(Svm, SingleLabelSeparableSetIsPerfect) {
  auto [xtr, ytr] = clusters(3, 20, 8, 1);
  auto [xte, yte] = clusters(3, 10, 8, 2);
  SvmOptions o = small_options();
  SvmTargets train{ytr, {}}, test{yte, {}};
  const SvmReport r = svm_evaluate(xtr, train, xte, test, o);
  EXPECT_EQ(r.metric, "top1");
  EXPECT_DOUBLE_EQ(r.value, 100.0);
  EXPECT_EQ(r.classes, 3);
  EXPECT_EQ(r.train_samples, 60);
  EXPECT_EQ(r.test_samples, 30);
  ASSERT_EQ(r.per_cost.size(), 3u);
  for (const auto& f : r.per_cost) EXPECT_FALSE(std::isnan(f.cross_validation)) << f.cost;
  EXPECT_NE(r.selection_text.find("3-fold cross-validation"), std::string::npos) << r.selection_text;
  EXPECT_TRUE(r.per_class_ap.empty());
  // Test-max: the same per-cost test figures, no CV.
  o.selection = CostSelection::kTestMax;
  const SvmReport t = svm_evaluate(xtr, train, xte, test, o);
  EXPECT_DOUBLE_EQ(t.value, 100.0);
  for (size_t k = 0; k < 3; ++k) {
    EXPECT_NEAR(t.per_cost[k].test, r.per_cost[k].test, 1e-9);
    EXPECT_TRUE(std::isnan(t.per_cost[k].cross_validation));
  }
  EXPECT_NE(t.selection_text.find("test-max"), std::string::npos) << t.selection_text;
}

TEST(Svm, MultiLabelSeparableSetIsPerfect) {
  auto [xtr, ttr] = multi_label_set(4, 80, 3);
  auto [xte, tte] = multi_label_set(4, 40, 4);
  SvmTargets train{{}, ttr}, test{{}, tte};
  const SvmReport r = svm_evaluate(xtr, train, xte, test, small_options());
  EXPECT_EQ(r.metric, "mAP");
  EXPECT_NEAR(r.value, 100.0, 1e-9);
  ASSERT_EQ(r.per_class_ap.size(), 4u);
  for (double ap : r.per_class_ap) EXPECT_NEAR(ap, 100.0, 1e-9);
  EXPECT_NEAR(r.per_cost[static_cast<size_t>(std::find_if(r.per_cost.begin(), r.per_cost.end(),
                                                          [&](const auto& f) { return f.cost == r.selected_cost; }) -
                                             r.per_cost.begin())]
                  .test,
              r.value, 1e-12);
}

TEST(Svm, DifficultTestTargetsFollowThePolicy) {
  // Mark some test positives of class 0 difficult: as negatives they rank above the true
  // negatives and cost AP; ignored, the ranking is perfect again.
  auto [xtr, ttr] = multi_label_set(3, 60, 5);
  auto [xte, tte] = multi_label_set(3, 30, 6);
  auto difficult = tte.clone();
  int marked = 0;
  for (int64_t i = 0; i < difficult.size(0) && marked < 3; ++i)
    if (difficult[i][0].item<int8_t>() == 1) {
      difficult[i][0] = 0;
      ++marked;
    }
  ASSERT_EQ(marked, 3);
  SvmOptions o = small_options();
  o.selection = CostSelection::kTestMax;
  const SvmReport as_negative = svm_evaluate(xtr, {{}, ttr}, xte, {{}, difficult}, o);
  EXPECT_LT(as_negative.per_class_ap[0], 100.0);
  EXPECT_NEAR(as_negative.per_class_ap[1], 100.0, 1e-9);
  o.difficult = DifficultPolicy::kIgnore;
  const SvmReport ignored = svm_evaluate(xtr, {{}, ttr}, xte, {{}, difficult}, o);
  EXPECT_NEAR(ignored.per_class_ap[0], 100.0, 1e-9);
}

TEST(Svm, CrossValidationRejectsAnUnderfittingCost) {
  // Two classes on the unit circle: 90 at angles in [0, 40] degrees, 10 in [50, 90]. A tiny
  // cost leaves the decision to the bias, which favours the big class everywhere; a large
  // cost separates them. CV on the training split must pick the large one.
  torch::manual_seed(7);
  auto angles = [](int64_t n, double lo, double hi) { return torch::rand({n}, torch::kDouble) * (hi - lo) + lo; };
  auto points = [](const torch::Tensor& deg) {
    const auto rad = deg * (M_PI / 180.0);
    return torch::stack({torch::cos(rad), torch::sin(rad)}, 1);
  };
  auto xtr = torch::cat({points(angles(90, 0, 40)), points(angles(10, 50, 90))});
  auto ytr = torch::cat({torch::zeros({90}, torch::kLong), torch::ones({10}, torch::kLong)});
  auto xte = torch::cat({points(angles(20, 0, 40)), points(angles(20, 50, 90))});
  auto yte = torch::cat({torch::zeros({20}, torch::kLong), torch::ones({20}, torch::kLong)});
  SvmOptions o;
  o.costs = {1e-7, 100.0};
  o.threads = 2;
  const SvmReport r = svm_evaluate(xtr, {ytr, {}}, xte, {yte, {}}, o);
  EXPECT_DOUBLE_EQ(r.selected_cost, 100.0) << r.selection_text;
  EXPECT_NEAR(r.per_cost[0].test, 50.0, 1e-9);  // everything called class 0
  EXPECT_GT(r.per_cost[1].test, 95.0);
  EXPECT_GT(r.per_cost[1].cross_validation, r.per_cost[0].cross_validation);
  EXPECT_DOUBLE_EQ(r.value, r.per_cost[1].test);
}

TEST(Svm, SingleThreadRunsRepeatExactly) {
  auto [xtr, ytr] = clusters(4, 15, 6, 8);
  auto [xte, yte] = clusters(4, 5, 6, 9);
  SvmOptions o = small_options();
  o.threads = 1;
  const SvmReport a = svm_evaluate(xtr, {ytr, {}}, xte, {yte, {}}, o);
  const SvmReport b = svm_evaluate(xtr, {ytr, {}}, xte, {yte, {}}, o);
  for (size_t k = 0; k < a.per_cost.size(); ++k) {
    EXPECT_EQ(a.per_cost[k].test, b.per_cost[k].test);
    EXPECT_EQ(a.per_cost[k].cross_validation, b.per_cost[k].cross_validation);
  }
}

TEST(Svm, OptionsAndInputsAreChecked) {
  auto [xtr, ytr] = clusters(3, 4, 5, 10);
  SvmOptions o = small_options();
  EXPECT_EQ(parse_cost_selection("cv"), CostSelection::kCrossValidation);
  EXPECT_EQ(parse_cost_selection("test-max"), CostSelection::kTestMax);
  EXPECT_THROW(parse_cost_selection("best"), Error);
  const auto defaults = default_svm_costs();
  EXPECT_EQ(defaults.size(), 26u);
  EXPECT_DOUBLE_EQ(defaults.front(), 1e-7);
  EXPECT_DOUBLE_EQ(defaults.back(), 100.0);
  EXPECT_TRUE(std::is_sorted(defaults.begin(), defaults.end()));
  // Dimension mismatch, label beyond the training classes, too few positives for the folds.
  EXPECT_THROW(svm_evaluate(xtr, {ytr, {}}, xtr.slice(1, 0, 4), {ytr, {}}, o), Error);
  EXPECT_THROW(svm_evaluate(xtr, {ytr, {}}, xtr, {ytr + 1, {}}, o), Error);
  o.folds = 5;
  try {
    svm_evaluate(xtr, {ytr, {}}, xtr, {ytr, {}}, o);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--folds"), std::string::npos) << e.what();
  }
  o.selection = CostSelection::kTestMax;  // no CV: fine with 4 per class
  EXPECT_NO_THROW(svm_evaluate(xtr, {ytr, {}}, xtr, {ytr, {}}, o));
  o.costs = {};
  EXPECT_THROW(svm_evaluate(xtr, {ytr, {}}, xtr, {ytr, {}}, o), Error);
}

torch::Tensor from(const std::vector<double>& v, int64_t rows, int64_t cols) {
  return torch::tensor(v, torch::kDouble).view({rows, cols});
}

TEST(Svm, MatchesScikitLearnSingleLabel) {
  namespace ref = reference;
  const auto xtr = from(ref::kSingleTrainX, ref::kSingleTrain, ref::kSingleDim);
  const auto xte = from(ref::kSingleTestX, ref::kSingleTest, ref::kSingleDim);
  const auto ytr = torch::tensor(ref::kSingleTrainY, torch::kLong);
  const auto yte = torch::tensor(ref::kSingleTestY, torch::kLong);
  SvmOptions o;
  o.costs = ref::kCosts;
  o.selection = CostSelection::kTestMax;
  // Both solvers stop at a tolerance, not at the exact optimum, and visit coordinates in
  // their own random orders (sklearn's bundled rand, our srand-seeded one; with several
  // threads also in scheduling order): a test point on the boundary may fall either way, so
  // the figures must agree to one test sample.
  o.threads = 2;
  const double one_sample = 100.0 / static_cast<double>(ref::kSingleTest) + 1e-9;
  const SvmReport r = svm_evaluate(xtr, {ytr, {}}, xte, {yte, {}}, o);
  ASSERT_EQ(r.per_cost.size(), ref::kCosts.size());
  for (size_t k = 0; k < ref::kCosts.size(); ++k)
    EXPECT_NEAR(r.per_cost[k].test, ref::kSingleTop1[k], one_sample) << "cost " << ref::kCosts[k];
  double best = 0;
  for (double v : ref::kSingleTop1) best = std::max(best, v);
  EXPECT_NEAR(r.value, best, one_sample);
}

TEST(Svm, MatchesScikitLearnMultiLabelWithDifficultAsNegative) {
  namespace ref = reference;
  const auto xtr = from(ref::kMultiTrainX, ref::kMultiTrain, ref::kMultiDim);
  const auto xte = from(ref::kMultiTestX, ref::kMultiTest, ref::kMultiDim);
  const auto ttr = torch::tensor(ref::kMultiTrainT, torch::kLong).view({ref::kMultiTrain, ref::kMultiClasses});
  const auto tte = torch::tensor(ref::kMultiTestT, torch::kLong).view({ref::kMultiTest, ref::kMultiClasses});
  SvmOptions o;
  o.costs = ref::kCosts;
  o.selection = CostSelection::kTestMax;
  o.threads = 1;  // one thread: LIBLINEAR's coordinate order, and so the figures, repeat exactly
  for (size_t k = 0; k < ref::kCosts.size(); ++k) {
    o.costs = {ref::kCosts[k]};
    const SvmReport r = svm_evaluate(xtr, {{}, ttr.to(torch::kChar)}, xte, {{}, tte.to(torch::kChar)}, o);
    EXPECT_NEAR(r.value, ref::kMultiMeanAp[k], 0.05) << "cost " << ref::kCosts[k];
    for (int64_t c = 0; c < ref::kMultiClasses; ++c)
      EXPECT_NEAR(r.per_class_ap[c], ref::kMultiClassAp[k * ref::kMultiClasses + c], 0.2) << "cost " << o.costs[0];
  }
}

TEST(AveragePrecision, MatchesTheReferenceFormulaWithManyTies) {
  namespace ref = reference;
  std::vector<int8_t> targets(ref::kTieTargets.begin(), ref::kTieTargets.end());
  EXPECT_NEAR(average_precision(ref::kTieScores, targets), ref::kTieAp, 1e-12);
  EXPECT_NEAR(average_precision(ref::kTieScores, targets, DifficultPolicy::kIgnore), ref::kTieApIgnoringDifficult,
              1e-12);
}

}  // namespace
}  // namespace protoclr::eval
