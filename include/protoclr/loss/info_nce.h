#pragma once
/// Instance-wise contrastive logits (MoCo; PCL, Li et al. 2021, eq. (1) and the first term
/// of eq. (11)). A pure function of tensors (solo-learn `mocov2plus_loss_func` style).
#include <torch/torch.h>

namespace protoclr::loss {

/// Instance logits, the paper's eq. (1)/(11) InfoNCE: [q·k+, q·queue^T] / tau.
/// q: [B, D] normalised queries; k: [B, D] normalised positive keys; queue: [Q, D]
/// normalised negative keys (Q may be 0; an undefined tensor counts as Q = 0).
/// k and queue are detached (the key encoder gets no gradient, as in the reference).
/// Returns [B, 1 + Q] in q's dtype promoted with the matmul's (bf16 under CPU autocast);
/// the target of every row is column 0.
torch::Tensor info_nce_logits(const torch::Tensor& q, const torch::Tensor& k,
                              const torch::Tensor& queue, double temperature);

/// Mean cosine similarity between the rows of `keys` [B, D] (normalised), over all pairs
/// i != j: a collapse diagnostic. Near 1, every image gets the same embedding; InfoNCE
/// against a stale queue can still look solved then (docs/BENCHMARKS.md, "Does it learn?").
/// Computed in O(B D) as (|sum k|^2 - sum |k|^2) / (B (B - 1)); B < 2 gives NaN.
/// Returns a 0-dim float64 tensor on the keys' device, so a caller can sum it over many
/// steps and read it once (the trainer reads it once per epoch).
torch::Tensor mean_pairwise_cosine(const torch::Tensor& keys);

}  // namespace protoclr::loss
