#pragma once
/// Linear classification on frozen features (the paper's ImageNet/Places linear protocol;
/// MoCo's main_lincls.py): one Linear layer trained with cross-entropy and SGD while the
/// backbone stays frozen in eval mode; features are standardised by default. The features
/// are extracted once (cached) by default; with augmentation, every epoch crops and flips
/// the training images and passes them through the frozen backbone, as the reference does.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "protoclr/data/dataset.h"
#include "protoclr/model/resnet.h"

namespace protoclr::eval {

struct LinearProbeOptions {
  int64_t epochs = 100;                    ///< MoCo's lincls: 100
  int64_t batch_size = 256;
  /// Standardise each feature (BatchNorm without affine parameters before the Linear, as
  /// MAE's linear probe); false = raw features, as MoCo's lincls (use lr 30 there).
  bool standardize = true;
  double lr = 0.1;                         ///< 0.1 on standardised features; MoCo's lincls: 30 on raw ones
  double momentum = 0.9;
  double weight_decay = 0.0;
  std::string schedule = "step";           ///< step | cosine
  std::vector<int64_t> milestones = {60, 80};  ///< step schedule, x0.1 at each
  int64_t num_classes = 0;                 ///< 0 = 1 + the largest training label
  uint64_t seed = 0;                       ///< initialisation and batch order
  torch::Device device = torch::kCPU;
};

/// With augmentation: how the training images go through the frozen backbone.
struct AugmentedProbeOptions {
  int64_t image_size = 224;
  int workers = 0;            ///< loader threads (0 = all)
  bool channels_last = false;
  bool bf16 = false;          ///< bf16 autocast for the frozen backbone
};

struct LinearProbeResult {
  double top1 = 0;        ///< test, percent
  double top5 = 0;
  double train_top1 = 0;  ///< last epoch, on the training batches as seen (percent)
  double final_loss = 0;  ///< mean cross-entropy of the last epoch
  int64_t train_samples = 0;
  int64_t test_samples = 0;
  double seconds = 0;
};

/// train_features [N, D], train_labels [N] int64 (>= 0); test_features [M, D], test_labels [M].
LinearProbeResult linear_probe(const torch::Tensor& train_features, const torch::Tensor& train_labels,
                               const torch::Tensor& test_features, const torch::Tensor& test_labels,
                               const LinearProbeOptions& options);

/// The probe trained on augmented views (torchvision's crop-flip recipe) of `train` through
/// the frozen `encoder`'s pooled features; scored on precomputed pooled test features.
LinearProbeResult linear_probe_augmented(model::ResNet& encoder, std::shared_ptr<const data::Dataset> train,
                                         const torch::Tensor& test_features, const torch::Tensor& test_labels,
                                         const LinearProbeOptions& options, const AugmentedProbeOptions& augmented);

}  // namespace protoclr::eval
