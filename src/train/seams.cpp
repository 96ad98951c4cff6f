#include "protoclr/train/seams.h"

#include <algorithm>

namespace protoclr::train {

BatchFeed::BatchFeed(std::unique_ptr<data::Loader> loader, torch::Device device, int64_t max_steps)
    : loader_(std::move(loader)), device_(device), max_steps_(max_steps) {}

void BatchFeed::start_epoch(int64_t epoch) { loader_->start_epoch(epoch); }

int64_t BatchFeed::steps_per_epoch() const {
  const int64_t batches = loader_->batches_per_epoch();
  return max_steps_ > 0 ? std::min(max_steps_, batches) : batches;
}

std::optional<DeviceBatch> BatchFeed::next() {
  auto batch = loader_->next();
  if (!batch) return std::nullopt;
  // Pageable host memory: these copies are synchronous whatever non_blocking says.
  return DeviceBatch{batch->views[0].to(device_, /*non_blocking=*/true),
                     batch->views[1].to(device_, /*non_blocking=*/true), batch->index};
}

std::unique_ptr<model::KeyBatchShuffle> Collectives::key_shuffle(int bn_splits) {
  return std::make_unique<model::SplitBatchShuffle>(bn_splits);
}

cluster::EStepResult Collectives::cluster_features(const torch::Tensor& features,
                                                   const cluster::EStepOptions& options) {
  return cluster::run_e_step(features, options);
}

}  // namespace protoclr::train
