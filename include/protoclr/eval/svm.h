#pragma once
/// Linear SVM probe (`eval svm`): one-vs-rest LIBLINEAR SVMs (L2-regularised, squared hinge,
/// dual coordinate descent: scikit-learn's LinearSVC as the PCL reference calls it,
/// `LinearSVC(C, class_weight={1: 2, -1: 1}, intercept_scaling=1, loss='squared_hinge',
/// penalty='l2', dual=True, tol=1e-4, max_iter=2000)`) on L2-normalised pooled features,
/// one per class, swept over a list of costs. Multi-label data (VOC07) is scored by mAP,
/// single-label data (CIFAR, Places205) by top-1 of the argmax of the decision values.
///
/// Differences from scikit-learn's bundled LIBLINEAR: Debian's LIBLINEAR 2.3 caps the dual
/// solver at its built-in 1000 iterations (sklearn passes max_iter = 2000), and draws its
/// coordinate order from the C library's rand(), which SvmOptions::seed seeds (srand) before
/// training: with threads == 1 results repeat exactly; with more threads the order depends on
/// scheduling and figures agree only to the solver tolerance.
#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "protoclr/data/dataset.h"
#include "protoclr/eval/average_precision.h"

namespace protoclr::eval {

/// How the reported cost is chosen.
enum class CostSelection {
  kCrossValidation,  ///< best k-fold cross-validation figure on the training split (VISSL, mmselfsup)
  kTestMax,          ///< best test figure over the costs (the PCL reference; optimistic)
};

/// "cv" / "test-max"; throws Error naming --cost-select otherwise.
CostSelection parse_cost_selection(const std::string& name);
/// "cv" / "test-max".
std::string cost_selection_name(CostSelection selection);

/// The fair_self_supervision_benchmark VOC07 list (README `--costs_list` plus the 0.5^4 ..
/// 0.5^19 that `svm_helper.parse_cost_list` appends), ascending: 26 costs from 1e-7 to 100.
/// (PCL's own `--cost` default is the single cost 0.5.)
std::vector<double> default_svm_costs();
struct SvmOptions {
  std::vector<double> costs = default_svm_costs();  ///< C values swept (each > 0)
  CostSelection selection = CostSelection::kCrossValidation;  ///< how the reported cost is chosen
  int folds = 3;                  ///< cross-validation folds (stratified, seeded); >= 2
  double positive_weight = 2.0;   ///< class weight of the positives (the reference's {1: 2, -1: 1})
  DifficultPolicy difficult = DifficultPolicy::kNegative;  ///< VOC difficult (0) targets, in training and AP
  double tolerance = 1e-4;        ///< LIBLINEAR eps (sklearn's tol)
  int threads = 0;                ///< SVMs trained at once (one per class, cost and fold); 0 = all cores
  uint64_t seed = 0;              ///< fold assignment; srand() for LIBLINEAR's coordinate order
};

/// Targets of one split: exactly one of the two is defined.
struct SvmTargets {
  torch::Tensor labels;  ///< [N] int64 single-label classes (< 0: unlabeled, left out)
  torch::Tensor multi;   ///< [N, C] int8 multi-label, per class 1 present, 0 difficult, -1 absent
  int64_t num_classes = 0;  ///< single-label: number of classes (0 = 1 + the largest training label)

  bool is_multi_label() const { return multi.defined(); }
};

/// The targets of `dataset`: its per-class {1, 0, -1} sets for multi-label data (VOC07),
/// else `labels` [N] (as extract_features returns them, in dataset order).
/// `rows` [N'] (optional): the dataset row of each label (features::DatasetFeatures::rows,
/// which leaves unreadable images out); undefined = every row of the dataset.
SvmTargets svm_targets(const data::Dataset& dataset, const torch::Tensor& labels, const torch::Tensor& rows = {});

struct SvmCostFigure {
  double cost = 0;
  double test = 0;              ///< metric on the test split, percent
  double cross_validation = 0;  ///< mean metric over the held-out folds, percent; NaN when not computed
};

struct SvmReport {
  std::string metric;            ///< "mAP" (multi-label) or "top1" (single-label)
  double value = 0;              ///< test metric at the selected cost, percent
  double selected_cost = 0;
  CostSelection selection = CostSelection::kCrossValidation;
  std::string selection_text;    ///< one line saying how the cost was chosen, for the output
  std::vector<SvmCostFigure> per_cost;  ///< every cost, ascending
  std::vector<double> per_class_ap;     ///< multi-label: test AP per class at the selected cost, percent
  int64_t train_samples = 0;     ///< training rows used (labelled)
  int64_t test_samples = 0;      ///< test rows scored (labelled)
  int64_t classes = 0;
  double seconds = 0;
};

/// Trains one-vs-rest SVMs on train_features [N, D] (any float type; L2-normalised here as the
/// reference does, x / (|x| + 1e-5)) for every cost, scores test_features [M, D], and picks
/// the reported cost by `options.selection`. Every cost's test figure (and, with
/// cross-validation, its CV figure) is in `per_cost`. Throws Error on mismatched shapes or
/// targets, a class without training positives, or bad options.
SvmReport svm_evaluate(const torch::Tensor& train_features, const SvmTargets& train,
                       const torch::Tensor& test_features, const SvmTargets& test, const SvmOptions& options = {});

}  // namespace protoclr::eval
