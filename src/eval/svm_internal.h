#pragma once
/// The SVM engine shared by svm_evaluate and svm_low_shot (private to src/eval).
#include <linear.h>

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "protoclr/eval/svm.h"

namespace protoclr::eval::detail {

/// L2-normalised (x / (|x| + 1e-5)) float64 copy of features [N, D].
torch::Tensor normalize_rows(const torch::Tensor& features);

/// Targets resolved into one form: per row and class a value in {1, 0, -1}.
struct ResolvedTargets {
  bool multi = false;
  int64_t classes = 0;
  std::vector<int64_t> labels;   ///< single-label: [N] class, -1 unlabeled; empty for multi-label
  std::vector<int8_t> targets;   ///< [N, classes] row-major

  int8_t at(int64_t row, int64_t c) const { return targets[static_cast<size_t>(row * classes + c)]; }
};

/// Checks and converts `targets` for `rows` rows; `classes` > 0 fixes the class count.
ResolvedTargets resolve_targets(const SvmTargets& targets, int64_t rows, int64_t classes, const char* split);

/// Training rows in LIBLINEAR's sparse form (every feature plus the bias node 1), built once
/// for the rows that are needed and shared read-only by every SVM.
class SvmRows {
 public:
  /// normalized: [N, D] float64; rows: which to convert (empty: all).
  SvmRows(const torch::Tensor& normalized, const std::vector<int64_t>& rows);
  feature_node* row(int64_t i) const;
  int64_t dim() const { return dim_; }

 private:
  int64_t dim_ = 0;
  std::vector<feature_node> nodes_;
  std::vector<int64_t> offset_;  // per row, -1 when not built
};

/// Per-cost figures of one training set.
struct CostGrid {
  std::vector<double> test;  ///< per cost, percent
  std::vector<double> cv;    ///< per cost, percent; NaN when not computed
  std::vector<std::vector<double>> test_class_ap;  ///< multi-label: [cost][class] AP percent
};

/// Trains the one-vs-rest SVMs on the training rows `train_rows` (indices into `rows` and
/// `train`, repeats allowed) for every cost (ascending), scores `test_normalized` [M, D]
/// against `test`, and, when `cross_validate`, the held-out folds too.
CostGrid svm_cost_grid(const SvmRows& rows, const ResolvedTargets& train, const std::vector<int64_t>& train_rows,
                       const torch::Tensor& test_normalized, const ResolvedTargets& test, bool cross_validate,
                       const SvmOptions& options);

/// Validated, sorted, de-duplicated costs.
std::vector<double> checked_costs(const SvmOptions& options);

/// Index of the best value (the first, i.e. the smallest cost, on ties; NaN never wins).
size_t best_index(const std::vector<double>& values);

}  // namespace protoclr::eval::detail
