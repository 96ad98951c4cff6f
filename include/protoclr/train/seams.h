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
#include "protoclr/features/extract.h"
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
/// shuffle is split-BN within the batch). GroupCollectives (train/group_collectives.h)
/// runs them over a c10d process group; the losses never gather anything themselves.
class Collectives {
 public:
  virtual ~Collectives() = default;
  virtual int rank() const { return 0; }
  virtual int world_size() const { return 1; }
  /// Shuffle-BN for the key encoder (MoCo sec. 3.3). One process: split-BN in `bn_splits`
  /// groups, as each GPU of the reference normalises its own share.
  virtual std::unique_ptr<model::KeyBatchShuffle> key_shuffle(int bn_splits);
  /// Once, before the first backward, with the optimiser's parameters: from then on each
  /// gradient's reduction may begin while backward still computes the others (DDP's
  /// overlap). reduce_gradients() finishes it. One process: nothing to do.
  virtual void watch_gradients(const std::vector<torch::Tensor>& parameters) {}
  /// After backward (of zeroed gradients), before the optimiser step: each gradient becomes
  /// the mean over the processes (what DDP does). One process: unchanged.
  virtual void reduce_gradients(const std::vector<torch::Tensor>& parameters) {}
  /// The keys of every process in rank order, [world_size * B, D]: what the queue receives
  /// (the reference's concat_all_gather before _dequeue_and_enqueue). One process: `keys`.
  virtual torch::Tensor gather_keys(const torch::Tensor& keys) { return keys; }
  /// rank 0's values, in place, on every rank: the model at the start (as DDP broadcasts
  /// it) and the BatchNorm statistics before the momentum encoder embeds the data.
  virtual void broadcast_from_first(const std::vector<torch::Tensor>& tensors) {}
  /// True on every rank when `flag` is true on any: a stop or checkpoint request must end
  /// every rank's epoch at the same step.
  virtual bool any_rank(bool flag) { return flag; }
  /// Each value summed over the ranks, in place (an epoch's monitors). One process: as is.
  virtual void sum_over_ranks(std::vector<double>& values) {}
  /// Bytes this process has sent to the others so far (dist::Traffic). One process: 0.
  virtual uint64_t bytes_sent() const { return 0; }
  /// Features of `dataset` through `encoder` for the E-step and the kNN monitor. One
  /// process: every image. Several: this rank's contiguous shard of rows (dist::shard_of),
  /// with `rows` the dataset rows and `dataset_size` the whole dataset's.
  virtual features::DatasetFeatures embed(model::ResNet& encoder, std::shared_ptr<const data::Dataset> dataset,
                                          const features::ExtractOptions& options);
  /// Every rank's features (from embed) in dataset order: the kNN monitor's bank and test
  /// set. One process: `mine`.
  virtual features::DatasetFeatures gather_features(const features::DatasetFeatures& mine) { return mine; }
  /// The E-step's k-means and concentrations over the features embed() returned, with
  /// every level's assignments over all dataset rows (-1 for an image that could not be
  /// read). One process: cluster::run_e_step. Several: sharded (per-cluster sums
  /// all-reduced), then the assignments gathered for the negative sampler.
  virtual cluster::EStepResult cluster_features(const features::DatasetFeatures& features,
                                                const cluster::EStepOptions& options);
};

}  // namespace protoclr::train
