// Low-shot SVM evaluation: k positives per class, several seeded runs, mean and std per k.
#include "protoclr/eval/low_shot.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <limits>
#include <sstream>

#include "protoclr/core/error.h"
#include "protoclr/core/log.h"
#include "protoclr/core/rng.h"
#include "svm_internal.h"

namespace protoclr::eval {
namespace {

constexpr uint64_t kLowShotTag = 0x10775407ULL;

LowShotSample sample_resolved(const detail::ResolvedTargets& t, int64_t rows, int64_t k, int64_t run,
                              uint64_t seed) {
  PROTOCLR_CHECK(k > 0, "--low-shot values must be positive, got ", k);
  LowShotSample out;
  out.picked.resize(static_cast<size_t>(t.classes));
  for (int64_t c = 0; c < t.classes; ++c) {
    std::vector<int64_t> positives;
    for (int64_t i = 0; i < rows; ++i)
      if (t.at(i, c) == 1) positives.push_back(i);
    PROTOCLR_CHECK(static_cast<int64_t>(positives.size()) >= k, "--low-shot ", k, ": class ", c, " has only ",
                   positives.size(), " positive training image(s) (use smaller shots)");
    Rng rng(stream_seed(seed, kLowShotTag, static_cast<uint64_t>(k), static_cast<uint64_t>(run),
                        static_cast<uint64_t>(c)));
    auto& picked = out.picked[static_cast<size_t>(c)];
    for (int64_t j = 0; j < k; ++j) {  // partial Fisher-Yates
      const size_t at = static_cast<size_t>(j) + uniform_index(rng, positives.size() - static_cast<size_t>(j));
      std::swap(positives[static_cast<size_t>(j)], positives[at]);
      picked.push_back(positives[static_cast<size_t>(j)]);
    }
    out.rows.insert(out.rows.end(), picked.begin(), picked.end());
  }
  return out;
}

double mean_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? std::numeric_limits<double>::quiet_NaN() : s / static_cast<double>(v.size());
}

double population_std(const std::vector<double>& v) {
  if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
  const double m = mean_of(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / static_cast<double>(v.size()));
}

}  // namespace

LowShotSample low_shot_sample(const SvmTargets& targets, int64_t k, int64_t run, uint64_t seed) {
  const int64_t rows = targets.is_multi_label() ? targets.multi.size(0) : targets.labels.size(0);
  return sample_resolved(detail::resolve_targets(targets, rows, 0, "training"), rows, k, run, seed);
}

LowShotReport svm_low_shot(const torch::Tensor& train_features, const SvmTargets& train,
                           const torch::Tensor& test_features, const SvmTargets& test,
                           const std::vector<int64_t>& shots, int runs, const SvmOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  PROTOCLR_CHECK(train_features.dim() == 2 && test_features.dim() == 2 &&
                     train_features.size(1) == test_features.size(1) && train_features.size(1) > 0,
                 "low-shot SVM: train and test features must be [N, D] and [M, D] with the same D, got ",
                 train_features.sizes(), " and ", test_features.sizes());
  PROTOCLR_CHECK(train.is_multi_label() == test.is_multi_label(),
                 "low-shot SVM: train and test targets must both be single-label or both multi-label");
  PROTOCLR_CHECK(runs >= 1, "--runs must be at least 1, got ", runs);
  PROTOCLR_CHECK(!shots.empty(), "--low-shot is empty: give shots such as 1,2,4,8,16");
  for (int64_t k : shots) PROTOCLR_CHECK(k >= 1, "--low-shot values must be positive, got ", k);
  const std::vector<double> costs = detail::checked_costs(options);
  const int64_t n = train_features.size(0);
  const detail::ResolvedTargets tr = detail::resolve_targets(train, n, 0, "training");
  const detail::ResolvedTargets te = detail::resolve_targets(test, test_features.size(0), tr.classes, "test");

  // Draw every sample first, so only the rows they use are converted for LIBLINEAR.
  std::vector<std::vector<LowShotSample>> samples(shots.size());
  std::vector<int64_t> needed;
  for (size_t s = 0; s < shots.size(); ++s)
    for (int r = 0; r < runs; ++r) {
      samples[s].push_back(sample_resolved(tr, n, shots[s], r, options.seed));
      needed.insert(needed.end(), samples[s].back().rows.begin(), samples[s].back().rows.end());
    }
  std::sort(needed.begin(), needed.end());
  needed.erase(std::unique(needed.begin(), needed.end()), needed.end());
  const detail::SvmRows rows(detail::normalize_rows(train_features), needed);
  const torch::Tensor test_normalized = detail::normalize_rows(test_features);

  LowShotReport report;
  report.metric = tr.multi ? "mAP" : "top1";
  report.classes = tr.classes;
  for (int64_t i = 0; i < test_features.size(0); ++i) report.test_samples += tr.multi || te.labels[i] >= 0;
  for (size_t s = 0; s < shots.size(); ++s) {
    const int64_t k = shots[s];
    const bool cv = options.selection == CostSelection::kCrossValidation && k >= options.folds;
    LowShotFigure fig;
    fig.shots = k;
    fig.selection = cv ? CostSelection::kCrossValidation : CostSelection::kTestMax;
    fig.train_samples = static_cast<int64_t>(samples[s][0].rows.size());
    std::vector<detail::CostGrid> grids;
    for (int r = 0; r < runs; ++r) {
      SvmOptions run_options = options;
      run_options.seed = stream_seed(options.seed, kLowShotTag, static_cast<uint64_t>(k), static_cast<uint64_t>(r));
      grids.push_back(detail::svm_cost_grid(rows, tr, samples[s][static_cast<size_t>(r)].rows, test_normalized, te, cv,
                                            run_options));
    }
    std::vector<double> mean_test(costs.size()), mean_cv(costs.size());
    for (size_t c = 0; c < costs.size(); ++c) {
      std::vector<double> t, v;
      for (const auto& g : grids) {
        t.push_back(g.test[c]);
        v.push_back(g.cv[c]);
      }
      mean_test[c] = mean_of(t);
      mean_cv[c] = cv ? mean_of(v) : std::numeric_limits<double>::quiet_NaN();
      fig.per_cost.push_back({costs[c], mean_test[c], mean_cv[c]});
    }
    std::ostringstream text;
    if (cv) {
      for (const auto& g : grids) {
        const size_t best = detail::best_index(g.cv);
        fig.runs.push_back(g.test[best]);
        fig.selected_costs.push_back(costs[best]);
      }
      text << "cost chosen per run by " << options.folds << "-fold cross-validation on its " << k
           << "-shot sample among " << costs.size() << " costs";
    } else {
      const size_t best = detail::best_index(mean_test);
      for (const auto& g : grids) fig.runs.push_back(g.test[best]);
      fig.selected_costs.push_back(costs[best]);
      text << "cost " << costs[best] << " has the best mean test " << report.metric << " over " << runs
           << " runs among " << costs.size() << " costs (test-max"
           << (options.selection == CostSelection::kCrossValidation
                   ? ", since " + std::to_string(k) + " shot(s) are too few for " + std::to_string(options.folds) +
                         "-fold cross-validation"
                   : std::string(", as the PCL reference reports"))
           << "; optimistic)";
    }
    fig.selection_text = text.str();
    fig.mean = mean_of(fig.runs);
    fig.stddev = population_std(fig.runs);
    log::debug("svm low-shot k=", k, ": ", report.metric, " ", fig.mean, " +- ", fig.stddev, "; ", fig.selection_text);
    report.shots.push_back(std::move(fig));
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace protoclr::eval
