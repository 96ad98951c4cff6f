#include "protoclr/loss/proto_nce.h"

namespace protoclr::loss {
namespace {

/// Top-1 accuracy in percent of `logits` [B, C] (float32) against `target` [B]: a [] float64
/// tensor on the logits' device, so a step never waits for the device to report it.
torch::Tensor top1_percent(const torch::Tensor& logits, const torch::Tensor& target) {
  torch::NoGradGuard no_grad;
  return logits.argmax(/*dim=*/1).eq(target).to(torch::kDouble).mean() * 100.0;
}

}  // namespace

torch::Tensor scale_prototypes(const torch::Tensor& prototypes, const torch::Tensor& phi) {
  TORCH_CHECK(prototypes.dim() == 2, "scale_prototypes: prototypes must be [K, D], got ",
              prototypes.sizes());
  TORCH_CHECK(phi.dim() == 1 && phi.size(0) == prototypes.size(0), "scale_prototypes: phi must be [",
              prototypes.size(0), "], got ", phi.sizes());
  return prototypes / phi.to(prototypes.device(), prototypes.scalar_type()).unsqueeze(1);
}

torch::Tensor proto_logits(const torch::Tensor& q, const torch::Tensor& scaled_prototypes,
                           const torch::Tensor& positive_ids, const torch::Tensor& negative_ids) {
  TORCH_CHECK(q.dim() == 2, "proto_logits: q must be [B, D], got ", q.sizes());
  TORCH_CHECK(scaled_prototypes.dim() == 2 && scaled_prototypes.size(1) == q.size(1),
              "proto_logits: prototypes must be [K, ", q.size(1), "], got ", scaled_prototypes.sizes());
  TORCH_CHECK(positive_ids.dim() == 1 && positive_ids.size(0) == q.size(0),
              "proto_logits: positive_ids must be [", q.size(0), "], got ", positive_ids.sizes());
  TORCH_CHECK(!negative_ids.defined() || negative_ids.dim() == 1,
              "proto_logits: negative_ids must be [r], got ", negative_ids.sizes());
  const auto device = scaled_prototypes.device();
  torch::Tensor ids = positive_ids.to(device, torch::kLong);
  if (negative_ids.defined() && negative_ids.numel() > 0) {
    ids = torch::cat({ids, negative_ids.to(device, torch::kLong)});
  }
  return proto_logits(q, scaled_prototypes, ids);
}

torch::Tensor proto_logits(const torch::Tensor& q, const torch::Tensor& scaled_prototypes, const torch::Tensor& ids) {
  TORCH_CHECK(ids.dim() == 1 && ids.size(0) >= q.size(0), "proto_logits: ids must be [", q.size(0),
              " + r], got ", ids.sizes());
  // [B + r, D] gathered c / phi_c, then [B, B + r] = q (c / phi)^T.
  const torch::Tensor columns =
      scaled_prototypes.detach().index_select(/*dim=*/0, ids.to(scaled_prototypes.device(), torch::kLong));
  return q.matmul(columns.to(q.device()).t());
}

ProtoNCEOutput proto_nce(const torch::Tensor& instance_logits,
                         const std::vector<torch::Tensor>& proto_logits) {
  TORCH_CHECK(instance_logits.dim() == 2 && instance_logits.size(1) >= 1,
              "proto_nce: instance logits must be [B, 1 + Q], got ", instance_logits.sizes());
  const int64_t batch = instance_logits.size(0);
  const auto device = instance_logits.device();
  ProtoNCEOutput out;

  const torch::Tensor inst = instance_logits.to(torch::kFloat);
  const torch::Tensor zeros = torch::zeros({batch}, torch::TensorOptions().dtype(torch::kLong).device(device));
  out.instance_loss = torch::nn::functional::cross_entropy(inst, zeros);
  out.acc_inst = top1_percent(inst, zeros);

  if (proto_logits.empty()) {
    out.loss = out.instance_loss;
    return out;
  }
  torch::Tensor sum, acc_sum;
  for (const torch::Tensor& logits : proto_logits) {
    TORCH_CHECK(logits.dim() == 2 && logits.size(0) == batch && logits.size(1) >= batch,
                "proto_nce: prototype logits must be [", batch, ", ", batch, " + r], got ", logits.sizes());
    const torch::Tensor p = logits.to(torch::kFloat);
    const torch::Tensor target =
        torch::arange(batch, torch::TensorOptions().dtype(torch::kLong).device(p.device()));
    torch::Tensor ce = torch::nn::functional::cross_entropy(p, target);
    sum = sum.defined() ? sum + ce : ce;
    const torch::Tensor acc = top1_percent(p, target);
    acc_sum = acc_sum.defined() ? acc_sum + acc : acc;
  }
  const auto m = static_cast<double>(proto_logits.size());
  out.proto_loss = sum / m;
  out.loss = out.instance_loss + out.proto_loss.to(device);
  out.acc_proto = (acc_sum / m).to(device);
  return out;
}

}  // namespace protoclr::loss
