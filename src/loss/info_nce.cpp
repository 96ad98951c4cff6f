#include "protoclr/loss/info_nce.h"

#include <limits>

namespace protoclr::loss {

torch::Tensor info_nce_logits(const torch::Tensor& q, const torch::Tensor& k,
                              const torch::Tensor& queue, double temperature) {
  TORCH_CHECK(q.dim() == 2, "info_nce_logits: q must be [B, D], got ", q.sizes());
  TORCH_CHECK(k.sizes() == q.sizes(), "info_nce_logits: k ", k.sizes(), " must match q ", q.sizes());
  TORCH_CHECK(temperature > 0, "info_nce_logits: temperature=", temperature, " must be > 0");
  const torch::Tensor key = k.detach().to(q.device());
  // l_pos: [B, 1] = q·k+ row by row.
  torch::Tensor pos = (q * key).sum(/*dim=*/1, /*keepdim=*/true);
  if (!queue.defined() || queue.size(0) == 0) return pos / temperature;
  TORCH_CHECK(queue.dim() == 2 && queue.size(1) == q.size(1), "info_nce_logits: queue must be [Q, ",
              q.size(1), "], got ", queue.sizes());
  // l_neg: [B, Q] = q queue^T (a lower-precision matmul under autocast).
  torch::Tensor neg = q.matmul(queue.detach().to(q.device()).t());
  const auto dtype = c10::promoteTypes(pos.scalar_type(), neg.scalar_type());
  return torch::cat({pos.to(dtype), neg.to(dtype)}, /*dim=*/1) / temperature;
}

torch::Tensor mean_pairwise_cosine(const torch::Tensor& keys) {
  TORCH_CHECK(keys.dim() == 2, "mean_pairwise_cosine: keys must be [B, D], got ", keys.sizes());
  const int64_t b = keys.size(0);
  torch::NoGradGuard no_grad;
  const torch::Tensor k = keys.detach().to(torch::kDouble);
  if (b < 2) return torch::full({}, std::numeric_limits<double>::quiet_NaN(), k.options());
  const torch::Tensor off_diagonal = k.sum(/*dim=*/0).pow(2).sum() - k.pow(2).sum();
  return off_diagonal / (static_cast<double>(b) * static_cast<double>(b - 1));
}

}  // namespace protoclr::loss
