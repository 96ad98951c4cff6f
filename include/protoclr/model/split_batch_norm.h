#pragma once
/// Split-BN in one forward pass: a training batch normalised as G equal consecutive shares,
/// each with its own statistics, as G GPUs would each normalise their own images (MoCo's
/// shuffle-BN, Sec. 3.3, and the SplitBatchNorm of MoCo's one-GPU CIFAR demo). The running
/// statistics are updated once per pass from the mean of the groups' statistics, as that
/// SplitBatchNorm does; G sequential forward passes would instead apply the momentum G times.
#include <cstdint>

#include <torch/torch.h>

namespace protoclr::model {

/// While alive, every batch norm that protoclr's ResNet applies on this thread (through
/// batch_norm() below) normalises in `groups` groups. Scoped and nestable; 1 = plain BN.
class BatchNormGroups {
 public:
  /// share_formula: one group also goes through the groups' formula, not LibTorch's
  /// batch_norm kernel, so that a process normalising its share of the batch computes what
  /// one process normalising all the shares in groups does (the two kernels differ by a few
  /// float32 ulps, which training amplifies; data-parallel runs set it).
  explicit BatchNormGroups(int64_t groups, bool share_formula = false);
  ~BatchNormGroups();
  BatchNormGroups(const BatchNormGroups&) = delete;
  BatchNormGroups& operator=(const BatchNormGroups&) = delete;
  /// The groups in force on this thread (1 outside any scope).
  static int64_t current();

 private:
  int64_t saved_;
  bool saved_share_formula_;
};

/// bn(x) for x [B, C, H, W] (either memory format, any device or dtype), in
/// BatchNormGroups::current() groups when bn is training; B must be a multiple of them.
torch::Tensor batch_norm(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x);

}  // namespace protoclr::model
