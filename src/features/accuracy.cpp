#include "protoclr/features/accuracy.h"

#include <algorithm>

#include "protoclr/core/error.h"

namespace protoclr::features {

void TopKAccuracy::add(const torch::Tensor& scores, const torch::Tensor& labels) {
  PROTOCLR_CHECK(scores.dim() == 2 && labels.dim() == 1 && scores.size(0) == labels.size(0),
                 "accuracy: scores must be [B, C] and labels [B]");
  if (scores.size(0) == 0) return;
  const auto truth = labels.to(scores.device(), torch::kLong);
  const auto ranked = std::get<1>(scores.topk(std::min<int64_t>(5, scores.size(1)), /*dim=*/1));
  const auto hit = ranked.eq(truth.unsqueeze(1));
  const auto valid = truth.ge(0);
  correct1_ += (hit.select(1, 0) & valid).sum().item<int64_t>();
  correct5_ += (hit.any(1) & valid).sum().item<int64_t>();
  samples_ += valid.sum().item<int64_t>();
}

double TopKAccuracy::top1() const { return samples_ ? 100.0 * correct1_ / samples_ : 0.0; }
double TopKAccuracy::top5() const { return samples_ ? 100.0 * correct5_ / samples_ : 0.0; }

}  // namespace protoclr::features
