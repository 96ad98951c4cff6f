#pragma once
/// The trainer's seams: the places where a GPU fast path and several processes enter the EM
/// loop without changing it. Each comes with what one process on one device needs.
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include <torch/torch.h>

#include "protoclr/cluster/e_step.h"
#include "protoclr/data/loader.h"
#include "protoclr/model/moco.h"

namespace protoclr::train {

/// A training batch on the training device.
struct DeviceBatch {
  torch::Tensor query_view;  ///< [B, 3, S, S] float32: the view encoder_q sees
  torch::Tensor key_view;    ///< [B, 3, S, S] float32: the view encoder_k sees
  torch::Tensor index;       ///< [B] int64 on the CPU: dataset rows, the keys of the E-step's assignments
};

/// The host-to-device step: takes the loader's batches to the training device. On a GPU the
/// host never waits for it: the loader fills page-locked uint8 batches, the next batch's copy
/// runs on a side stream while the current step computes, and the views are normalised on the
/// device (data/transfer.h). On the CPU the loader's float batches are used as they are.
class BatchFeed {
 public:
  /// max_steps: batches per epoch at most (0 = the loader's whole epoch). The loader is made
  /// with data::loader_options_for(device).
  BatchFeed(std::unique_ptr<data::Loader> loader, torch::Device device, int64_t max_steps = 0);
  ~BatchFeed();
  /// Begins epoch `epoch` (0-based): a new seeded order and augmentation, from its step
  /// `first_step` (> 0: an interrupted epoch continues where it stopped).
  void start_epoch(int64_t epoch, int64_t first_step = 0);
  /// Dataset rows the loader replaces from the next epoch on (data::Loader::set_excluded).
  void set_excluded(std::vector<uint8_t> excluded) { loader_->set_excluded(std::move(excluded)); }
  /// The next batch of the epoch on the device, or nullopt at the loader's end (the trainer
  /// stops after steps_per_epoch()).
  std::optional<DeviceBatch> next();
  /// Batches per epoch: the loader's, capped by max_steps.
  int64_t steps_per_epoch() const;
  const data::Loader& loader() const { return *loader_; }

 private:
  struct InFlight;  ///< a batch whose copy was issued on the side stream
  std::optional<InFlight> issue_next();
  DeviceBatch complete(InFlight& batch);

  std::unique_ptr<data::Loader> loader_;
  torch::Device device_;
  int64_t max_steps_;
  std::unique_ptr<std::optional<InFlight>> ahead_;  ///< GPU only: the batch after the current one
};

/// The collective operations of data-parallel training, at the points where the EM loop
/// needs them. This base class is one process: every operation is the identity (the key
/// shuffle is split-BN within the batch). A process-group implementation overrides them; the
/// losses never gather anything themselves.
class Collectives {
 public:
  virtual ~Collectives() = default;
  virtual int rank() const { return 0; }
  virtual int world_size() const { return 1; }
  /// Shuffle-BN for the key encoder (MoCo sec. 3.3). One process: split-BN in `bn_splits`
  /// groups, as each GPU of the reference normalises its own share.
  virtual std::unique_ptr<model::KeyBatchShuffle> key_shuffle(int bn_splits);
  /// After backward, before the optimiser step: each gradient becomes the mean over the
  /// processes (what DDP does). One process: unchanged.
  virtual void reduce_gradients(const std::vector<torch::Tensor>& parameters) {}
  /// The keys of every process in rank order, [world_size * B, D]: what the queue receives
  /// (the reference's concat_all_gather before _dequeue_and_enqueue). One process: `keys`.
  virtual torch::Tensor gather_keys(const torch::Tensor& keys) { return keys; }
  /// The E-step's k-means and concentrations over the momentum features [N, D] this process
  /// embedded. One process: cluster::run_e_step. Sharded: per-cluster sums all-reduced.
  virtual cluster::EStepResult cluster_features(const torch::Tensor& features, const cluster::EStepOptions& options);
};

}  // namespace protoclr::train
