#pragma once
/// Average precision of a ranking, as the PCL reference computes it for its VOC07 SVMs
/// (PCL `eval_svm_voc.py` `get_precision_recall` + `calculate_ap`, taken from
/// fair_self_supervision_benchmark `tools/svm/svm_helper.py`): rank by decreasing score,
/// precision and recall at every rank, precision made monotone from the right, and the
/// area under that step curve (all points, not the VOC2007 devkit's 11-point average).
/// Equivalently: AP = (1/P) * sum over the positives at rank r of max_{r' >= r} precision(r').
#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace protoclr::eval {

/// What a VOC "difficult" target (0) counts as.
enum class DifficultPolicy {
  kNegative,  ///< a negative, as the PCL reference does (it maps 0 to -1 before training and scoring)
  kIgnore,    ///< left out of the ranking, as the VOC devkit and fair_self_supervision_benchmark do
};

/// "negative" / "ignore"; throws Error naming --difficult otherwise.
DifficultPolicy parse_difficult_policy(const std::string& name);

/// AP in [0, 1] of one class. scores: [N]; targets: [N] with 1 = positive, -1 = negative,
/// 0 = difficult (treated by `difficult`). Tied scores are ranked by decreasing index (what
/// the reference's `np.argsort(scores)[::-1]` gives with a stable sort), so a tie between a
/// positive at a higher index and a negative at a lower one counts in the positive's favour.
/// Returns NaN when no positive takes part (the reference's 0/0).
double average_precision(const std::vector<double>& scores, const std::vector<int8_t>& targets,
                         DifficultPolicy difficult = DifficultPolicy::kNegative);

/// Per-class AP in [0, 1]: scores [N, C] (any float type), targets [N, C] (any integer type,
/// values in {1, 0, -1}). NaN for a class without positives.
std::vector<double> average_precision_per_class(const torch::Tensor& scores, const torch::Tensor& targets,
                                                DifficultPolicy difficult = DifficultPolicy::kNegative);

/// Mean of the per-class AP in [0, 1], over the classes that have at least one positive
/// (the reference would return NaN for such a class; with none at all this returns NaN).
double mean_average_precision(const torch::Tensor& scores, const torch::Tensor& targets,
                              DifficultPolicy difficult = DifficultPolicy::kNegative);

}  // namespace protoclr::eval
