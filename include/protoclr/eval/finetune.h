#pragma once
/// Semi-supervised fine-tuning (the paper's Table 3: 1% / 10% of ImageNet's labels): the
/// whole network, with a new linear classifier in place of the projection head, trained
/// on a class-balanced labelled fraction and scored top-1 / top-5 on the test split.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "protoclr/data/dataset.h"
#include "protoclr/model/resnet.h"

namespace protoclr::eval {

struct FinetuneOptions {
  int64_t epochs = 20;
  int64_t batch_size = 256;
  double lr_backbone = 0.01;   ///< learning rate of the pretrained layers
  double lr_head = 0.1;        ///< learning rate of the new classifier
  double momentum = 0.9;
  double weight_decay = 5e-4;
  std::vector<int64_t> milestones = {12, 16};  ///< step schedule, x gamma at each
  double gamma = 0.2;
  int64_t image_size = 224;
  std::string augmentation = "crop-flip";  ///< training recipe (data/augment.h)
  int workers = 0;                        ///< loader threads (0 = all)
  bool channels_last = false;
  bool bf16 = false;                      ///< bf16 autocast
  uint64_t seed = 0;                      ///< classifier initialisation and batch order
  torch::Device device = torch::kCPU;
};

struct FinetuneResult {
  double top1 = 0;  ///< test, percent
  double top5 = 0;
  double final_loss = 0;  ///< mean cross-entropy of the last epoch
  double train_top1 = 0;  ///< last epoch, on augmented training batches
  int64_t train_samples = 0;
  int64_t test_samples = 0;
  double seconds = 0;
};

/// Fine-tunes `network` in place (its fc is replaced by Linear(feature_dim, classes)) on
/// the labelled `train` images and evaluates it on `test`. The caller picks the labelled
/// fraction (data::balanced_subset).
FinetuneResult finetune(model::ResNet& network, std::shared_ptr<const data::Dataset> train,
                        std::shared_ptr<const data::Dataset> test, const FinetuneOptions& options);

}  // namespace protoclr::eval
