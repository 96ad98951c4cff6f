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
  explicit BatchNormGroups(int64_t groups);
  ~BatchNormGroups();
  BatchNormGroups(const BatchNormGroups&) = delete;
  BatchNormGroups& operator=(const BatchNormGroups&) = delete;
  /// The groups in force on this thread (1 outside any scope).
  static int64_t current();

 private:
  int64_t saved_;
};

/// bn(x) for x [B, C, H, W] (either memory format, any device or dtype), in
/// BatchNormGroups::current() groups when bn is training; B must be a multiple of them.
torch::Tensor batch_norm(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x);

}  // namespace protoclr::model
