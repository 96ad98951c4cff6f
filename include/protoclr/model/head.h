#pragma once
/// Projection heads, installed as the `fc` of a torchvision-layout ResNet the way MoCo and
/// PCL do it, so checkpoints keep their keys (`fc.weight` or `fc.0.weight` / `fc.2.weight`).
#include <cstdint>
#include <string>

#include <torch/torch.h>

#include "protoclr/model/resnet.h"

namespace protoclr::model {

/// Generic MLP head: Sequential(Linear(in_dim, hidden_dim), ReLU, Linear(hidden_dim,
/// out_dim)), children named "0", "1", "2". Maps [B, in_dim] -> [B, out_dim].
torch::nn::Sequential make_mlp_head(int64_t in_dim, int64_t hidden_dim, int64_t out_dim);

/// Options of a contrastive encoder (MoCo's encoder_q / encoder_k, PCL's encoder).
struct EncoderOptions {
  std::string arch = "resnet50";  ///< --arch: resnet18, resnet34 or resnet50.
  bool cifar_stem = false;        ///< 3x3 stride-1 conv1 and no max-pool (32 px inputs).
  int64_t low_dim = 128;          ///< --low-dim: embedding size D of the head output.
  bool mlp = false;               ///< false: MoCo v1 linear fc; true: MoCo v2 MLP fc.
};

/// A ResNet whose fc is the projection head (torchvision layout; MoCo's encoder_q /
/// encoder_k). Maps [B, 3, H, W] -> [B, low_dim] (not normalised).
///   v1 (He et al. 2020, MoCo):        fc = Linear(d, low_dim)                -> fc.weight
///   v2 (Chen et al. 2020, MoCo v2):   fc = Sequential(Linear(d, d), ReLU,
///                                                     Linear(d, low_dim))    -> fc.0.*, fc.2.*
/// with d = feature_dim() (512 or 2048). As in MoCo's code, the MLP's last Linear is the
/// ResNet's original fc, so parameters are initialised in the same order.
/// Throws protoclr::Error for an unknown arch or a non-positive low_dim.
ResNet make_encoder(const EncoderOptions& options);

}  // namespace protoclr::model
