#include "protoclr/eval/average_precision.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "protoclr/core/error.h"

namespace protoclr::eval {

DifficultPolicy parse_difficult_policy(const std::string& name) {
  if (name == "negative") return DifficultPolicy::kNegative;
  if (name == "ignore") return DifficultPolicy::kIgnore;
  throw Error("--difficult must be 'negative' (as the PCL reference) or 'ignore' (as the VOC devkit), got '" +
              name + "'");
}

double average_precision(const std::vector<double>& scores, const std::vector<int8_t>& targets,
                         DifficultPolicy difficult) {
  PROTOCLR_CHECK(scores.size() == targets.size(), "average precision: ", scores.size(), " scores for ",
                 targets.size(), " targets");
  std::vector<size_t> order;
  order.reserve(scores.size());
  for (size_t i = 0; i < scores.size(); ++i) {
    PROTOCLR_CHECK(targets[i] >= -1 && targets[i] <= 1, "average precision: target ", int(targets[i]),
                   " at row ", i, " is not 1, 0 (difficult) or -1");
    PROTOCLR_CHECK(std::isfinite(scores[i]), "average precision: score at row ", i, " is not finite");
    if (targets[i] == 0 && difficult == DifficultPolicy::kIgnore) continue;
    order.push_back(i);
  }
  // Decreasing score; ties by decreasing index (the reverse of a stable ascending sort).
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (scores[a] != scores[b]) return scores[a] > scores[b];
    return a > b;
  });
  const size_t n = order.size();
  std::vector<double> precision(n);
  size_t tp = 0, positives = 0;
  for (size_t r = 0; r < n; ++r) {
    if (targets[order[r]] == 1) ++tp;
    precision[r] = static_cast<double>(tp) / static_cast<double>(r + 1);
  }
  positives = tp;
  if (positives == 0) return std::numeric_limits<double>::quiet_NaN();
  // Monotone from the right, then sum at the ranks where recall steps up (the positives).
  double best = 0, sum = 0;
  for (size_t r = n; r-- > 0;) {
    best = std::max(best, precision[r]);
    if (targets[order[r]] == 1) sum += best;
  }
  return sum / static_cast<double>(positives);
}

std::vector<double> average_precision_per_class(const torch::Tensor& scores, const torch::Tensor& targets,
                                                DifficultPolicy difficult) {
  PROTOCLR_CHECK(scores.dim() == 2 && targets.dim() == 2 && scores.sizes() == targets.sizes(),
                 "average precision: scores and targets must both be [N, C], got ", scores.sizes(), " and ",
                 targets.sizes());
  const auto s = scores.to(torch::kDouble).t().contiguous();
  const auto t = targets.to(torch::kChar).t().contiguous();
  const int64_t n = s.size(1);
  std::vector<double> out;
  for (int64_t c = 0; c < s.size(0); ++c) {
    const double* sp = s[c].data_ptr<double>();
    const int8_t* tp = t[c].data_ptr<int8_t>();
    out.push_back(average_precision(std::vector<double>(sp, sp + n), std::vector<int8_t>(tp, tp + n), difficult));
  }
  return out;
}

double mean_average_precision(const torch::Tensor& scores, const torch::Tensor& targets, DifficultPolicy difficult) {
  const std::vector<double> ap = average_precision_per_class(scores, targets, difficult);
  double sum = 0;
  int64_t counted = 0;
  for (double a : ap)
    if (!std::isnan(a)) {
      sum += a;
      ++counted;
    }
  return counted ? sum / static_cast<double>(counted) : std::numeric_limits<double>::quiet_NaN();
}

}  // namespace protoclr::eval
