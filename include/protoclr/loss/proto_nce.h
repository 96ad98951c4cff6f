#pragma once
/// ProtoNCE (PCL, Li et al. 2021, eq. (11)): InfoNCE plus a prototype term per granularity
/// with per-prototype temperatures phi (eq. (12)). Pure functions of tensors; gathering
/// across processes is dist/'s job, not the loss'.
#include <torch/torch.h>

#include <vector>

namespace protoclr::loss {

/// Prototype logits for one granularity as the reference computes them: columns = [the
/// batch's positive prototypes (B, in batch order), the negative prototypes (r)],
/// logit = q·c / phi_c (the second term of eq. (11)). q: [B, D] normalised queries;
/// scaled_prototypes: [K, D] = prototypes / phi[:, None] (see scale_prototypes), precomputed
/// once per E-step so a step is one gather + one matmul, and detached here;
/// positive_ids: [B] int64; negative_ids: [r] int64 (any device; moved to the prototypes').
/// Returns [B, B + r]; the target of row i is column i.
torch::Tensor proto_logits(const torch::Tensor& q, const torch::Tensor& scaled_prototypes,
                           const torch::Tensor& positive_ids, const torch::Tensor& negative_ids);
/// The same with the ids already in one tensor: `ids` [B + r] = [positive ids in batch order,
/// negative ids] on any device (the trainer fills one page-locked buffer per level and copies
/// it once).
torch::Tensor proto_logits(const torch::Tensor& q, const torch::Tensor& scaled_prototypes, const torch::Tensor& ids);

/// prototypes / phi[:, None]: prototypes [K, D], phi [K] -> [K, D] (phi on any device;
/// moved to the prototypes').
torch::Tensor scale_prototypes(const torch::Tensor& prototypes, const torch::Tensor& phi);

/// ProtoNCE value and monitors.
struct ProtoNCEOutput {
  torch::Tensor loss;           ///< [] float32, eq. (11): instance_loss + proto_loss
  torch::Tensor instance_loss;  ///< [] float32, CE(instance_logits, 0)
  torch::Tensor proto_loss;     ///< [] float32, (1/M) sum_m CE(proto_logits[m], arange(B)); undefined when M = 0
  // The monitors stay on the logits' device ([] float64): reading them is the caller's
  // choice, so a training step never waits for the device.
  torch::Tensor acc_inst;       ///< top-1 % of column 0 in the instance logits
  torch::Tensor acc_proto;      ///< top-1 % of the row-i target, averaged over granularities; undefined when M = 0
};

/// ProtoNCE, the paper's eq. (11): CE(instance_logits, 0) + (1/M) sum_m
/// CE(proto_logits[m], arange(B)). instance_logits: [B, 1 + Q]; proto_logits[m]:
/// [B, B + r_m]. The CE is computed in float32 (safe under bf16 autocast). With no proto
/// logits it is InfoNCE, eq. (1).
ProtoNCEOutput proto_nce(const torch::Tensor& instance_logits,
                         const std::vector<torch::Tensor>& proto_logits);

}  // namespace protoclr::loss
