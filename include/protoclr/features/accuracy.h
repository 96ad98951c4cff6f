#pragma once
/// Top-1 / top-5 accuracy accumulated over batches: the figure of the linear probe,
/// fine-tuning and kNN alike.
#include <cstdint>

#include <torch/torch.h>

namespace protoclr::features {

class TopKAccuracy {
 public:
  /// scores: [B, C] (higher = more likely), labels: [B] int64; rows with a negative label
  /// are not counted. With fewer than 5 classes, top-5 counts all of them.
  void add(const torch::Tensor& scores, const torch::Tensor& labels);
  double top1() const;  ///< percent; 0 when nothing was counted
  double top5() const;  ///< percent
  int64_t samples() const { return samples_; }

 private:
  int64_t correct1_ = 0, correct5_ = 0, samples_ = 0;
};

}  // namespace protoclr::features
