#pragma once
/// Low-shot SVM evaluation (`eval svm --low-shot 1,2,4,8,16 --runs 5`): k training images per
/// class, drawn `runs` times with different seeds, reported as mean and std per k.
///
/// Sampling follows the PCL reference (`voc.py` `Voc2007Classification.convert_low_shot`):
/// for every class, k of its positive images (target 1; difficult 0 is not positive) are
/// drawn without replacement, and the training set is the concatenation over classes, with
/// each image's full label vector. For multi-label data an image drawn for two classes is
/// kept twice, as the reference does, and a class may end up with more than k positives
/// (images drawn for other classes). For single-label data this is exactly k images per class.
#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "protoclr/eval/svm.h"

namespace protoclr::eval {

struct LowShotSample {
  std::vector<int64_t> rows;                 ///< training rows in order, class by class (repeats possible)
  std::vector<std::vector<int64_t>> picked;  ///< [class] the k rows drawn for that class
};

/// Draws k positives per class from `targets` for run `run`; the draw depends only on
/// (seed, k, run, class). Throws Error naming --low-shot when a class has fewer than k
/// positives.
LowShotSample low_shot_sample(const SvmTargets& targets, int64_t k, int64_t run, uint64_t seed);

struct LowShotFigure {
  int64_t shots = 0;                 ///< k
  double mean = 0;                   ///< mean over runs of the test metric, percent
  double stddev = 0;                 ///< population std over runs (numpy's default, as the reference)
  std::vector<double> runs;          ///< per run, percent
  std::vector<double> selected_costs;  ///< per run (cross-validation) or one cost for all runs (test-max)
  CostSelection selection = CostSelection::kTestMax;
  std::string selection_text;        ///< one line saying how the cost was chosen
  std::vector<SvmCostFigure> per_cost;  ///< every cost: mean over runs of test (and CV when run) figures
  int64_t train_samples = 0;         ///< training rows of the first run
};

struct LowShotReport {
  std::string metric;  ///< "mAP" or "top1"
  std::vector<LowShotFigure> shots;
  int64_t test_samples = 0;
  int64_t classes = 0;
  double seconds = 0;
};

/// For each k in `shots` and each of `runs` runs (run r uses low_shot_sample(train, k, r,
/// options.seed)), trains the one-vs-rest SVMs of svm_evaluate on the sample for every cost and
/// scores the test split. Cost selection: with kCrossValidation, each run picks its cost by
/// k-fold cross-validation on its own sample when k >= options.folds; otherwise (1-shot,
/// 2-shot with 3 folds, or kTestMax) the cost with the best mean test figure over the runs is
/// reported for all runs (the PCL reference's max over costs of the mean over 5 runs; VISSL
/// does the same for 1-shot). Unlike the reference, every cost sees the same samples.
LowShotReport svm_low_shot(const torch::Tensor& train_features, const SvmTargets& train,
                           const torch::Tensor& test_features, const SvmTargets& test,
                           const std::vector<int64_t>& shots, int runs, const SvmOptions& options = {});

}  // namespace protoclr::eval
