#include "protoclr/loss/info_nce.h"

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

}  // namespace protoclr::loss
