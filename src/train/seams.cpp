#include "protoclr/train/seams.h"

#include <algorithm>

#include <c10/core/Event.h>
#include <c10/core/StreamGuard.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>

#include "protoclr/core/error.h"
#include "protoclr/data/transfer.h"

namespace protoclr::train {

namespace {

/// The CUDA streams of the feed, through c10's device-generic interface (no CUDA headers, so
/// this compiles against a CPU-only LibTorch and is only called with a CUDA device).
const c10::impl::DeviceGuardImplInterface& cuda_impl() {
  return *c10::impl::getDeviceGuardImpl(c10::DeviceType::CUDA);
}

}  // namespace

struct BatchFeed::InFlight {
  std::vector<torch::Tensor> views;  ///< uint8 on the device, written on the copy stream
  torch::Tensor index;
  c10::Event copied{c10::DeviceType::CUDA};
};

BatchFeed::BatchFeed(std::unique_ptr<data::Loader> loader, torch::Device device, int64_t max_steps)
    : loader_(std::move(loader)), device_(device), max_steps_(max_steps),
      ahead_(std::make_unique<std::optional<InFlight>>()) {
  PROTOCLR_CHECK(!device_.is_cuda() || (loader_->options().uint8_views && loader_->options().pin_memory),
                 "BatchFeed on ", device_.str(), ": make the loader with data::loader_options_for");
}

BatchFeed::~BatchFeed() = default;

void BatchFeed::start_epoch(int64_t epoch, int64_t first_step) {
  ahead_->reset();  // a batch of the previous epoch still in flight is dropped
  loader_->start_epoch(epoch, first_step);
}

int64_t BatchFeed::steps_per_epoch() const {
  const int64_t batches = loader_->batches_per_epoch();
  return max_steps_ > 0 ? std::min(max_steps_, batches) : batches;
}

std::optional<BatchFeed::InFlight> BatchFeed::issue_next() {
  auto batch = loader_->next();
  if (!batch) return std::nullopt;
  const auto& impl = cuda_impl();
  const c10::Stream copy_stream = impl.getStreamFromGlobalPool(device_);
  InFlight out;
  {
    c10::StreamGuard on_copy_stream(copy_stream);
    // Pinned source, non-blocking: the host returns at once and the copy overlaps the step
    // the compute stream is running.
    for (const auto& view : batch->views) out.views.push_back(view.to(device_, /*non_blocking=*/true));
  }
  out.index = std::move(batch->index);
  out.copied.record(copy_stream);
  return out;
}

DeviceBatch BatchFeed::complete(InFlight& batch) {
  const c10::Stream compute = cuda_impl().getStream(device_);
  batch.copied.block(compute);  // the compute stream waits for the copy, the host does not
  DeviceBatch out;
  std::vector<torch::Tensor> views;
  for (auto& view : batch.views) {
    view.record_stream(compute);  // allocated on the copy stream, used on the compute stream
    views.push_back(data::normalize_images(view));
  }
  return DeviceBatch{views[0], views[1], batch.index};
}

std::optional<DeviceBatch> BatchFeed::next() {
  if (!device_.is_cuda()) {
    auto batch = loader_->next();
    if (!batch) return std::nullopt;
    return DeviceBatch{batch->views[0].to(device_), batch->views[1].to(device_), batch->index};
  }
  if (!ahead_->has_value()) *ahead_ = issue_next();
  if (!ahead_->has_value()) return std::nullopt;
  InFlight current = std::move(**ahead_);
  *ahead_ = issue_next();  // the next batch's copy starts before this step's kernels
  return complete(current);
}

std::unique_ptr<model::KeyBatchShuffle> Collectives::key_shuffle(int bn_splits) {
  return std::make_unique<model::SplitBatchShuffle>(bn_splits);
}

features::DatasetFeatures Collectives::embed(model::ResNet& encoder, std::shared_ptr<const data::Dataset> dataset,
                                             const features::ExtractOptions& options) {
  return features::extract_features(encoder, std::move(dataset), options);
}

cluster::EStepResult Collectives::cluster_features(const features::DatasetFeatures& features,
                                                   const cluster::EStepOptions& options) {
  cluster::EStepResult result = cluster::run_e_step(features.features, options);
  if (features.unreadable() > 0) cluster::assign_dataset_rows(result, features.rows, features.dataset_size);
  return result;
}

}  // namespace protoclr::train
