#pragma once
/// A multi-threaded batch loader: worker threads decode and augment whole batches ahead of
/// the consumer (bounded prefetch). A sample's views depend only on (seed, epoch, index),
/// so the batches are the same whatever the number of threads.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <torch/types.h>

#include "protoclr/data/augment.h"
#include "protoclr/data/dataset.h"

namespace protoclr::data {

struct LoaderOptions {
  int64_t batch_size = 256;
  int workers = 0;          ///< worker threads; 0 = all hardware threads
  int prefetch = 0;         ///< batches ready ahead of the consumer; 0 = 2 * workers
  int views = 2;            ///< augmented views per image (2 for contrastive training)
  bool shuffle = true;      ///< a new permutation each epoch (seeded by seed, epoch)
  bool drop_last = true;    ///< drop the last incomplete batch (training)
  bool channels_last = false;  ///< NHWC memory for the view tensors (logical shape stays NCHW)
  bool uint8_views = false;    ///< views as uint8 bytes, normalised on the device (data/transfer.h)
  bool pin_memory = false;     ///< views and index in page-locked memory (needs a CUDA build and device)
  /// An image that cannot be read is replaced by the next readable one (training: the batch
  /// stays full and the step shape fixed). false: its row stays, zero, with valid = 0
  /// (features: a failed image must contribute no row to clustering, kNN or probes).
  bool replace_failed = true;
  uint64_t seed = 0;
  int rank = 0;             ///< this process' shard (DistributedSampler semantics)
  int world_size = 1;
};

/// Options of a loader for evaluation and supervised training: one view per image and every
/// image of the epoch (no drop_last).
LoaderOptions single_view_options(int64_t batch_size, int workers, bool shuffle, bool channels_last, uint64_t seed = 0);

/// One batch. views[v]: [B, 3, S, S] float32 normalised (uint8 bytes with uint8_views);
/// index, label: [B] int64 (index: the dataset row actually loaded, a replacement's when one
/// was replaced); valid: [B] bool, 0 for a row that could not be read (only without
/// replace_failed).
struct Batch {
  std::vector<torch::Tensor> views;
  torch::Tensor index;
  torch::Tensor label;
  torch::Tensor valid;
};

/// Usage: `loader.start_epoch(e); while (auto b = loader.next()) { ... }`.
class Loader {
 public:
  Loader(std::shared_ptr<const Dataset> dataset, Augmentation augmentation, LoaderOptions options);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  /// Begins epoch `epoch` at its batch `first_batch` (> 0 continues an interrupted epoch;
  /// the skipped batches are not decoded). Stops any epoch in flight.
  void start_epoch(int64_t epoch, int64_t first_batch = 0);
  /// The next batch of the epoch, or nullopt at its end. Rethrows worker errors.
  std::optional<Batch> next();
  /// Batches per epoch for this shard.
  int64_t batches_per_epoch() const;
  /// Samples per epoch for this shard (before drop_last).
  int64_t samples_per_epoch() const;
  /// Decodes that failed so far (each replaced, or left invalid without replace_failed; the
  /// file is named once per process, data/unreadable.h).
  int64_t failed_images() const { return failed_.load(); }
  /// Dataset rows to leave out from the next start_epoch on: each is replaced by the next
  /// readable row without being decoded (the rows the E-step could not read have no
  /// prototype). [N] with 1 = excluded; empty = none. Call between epochs.
  void set_excluded(std::vector<uint8_t> excluded);
  const LoaderOptions& options() const { return options_; }
  const Dataset& dataset() const { return *dataset_; }

  /// The sample order of one epoch for this shard (deterministic in seed and epoch).
  std::vector<int64_t> epoch_order(int64_t epoch) const;

 private:
  void stop();
  void worker_loop();
  Batch make_batch(int64_t batch_index);
  void fill_sample(Batch& batch, int64_t row, int64_t sample);

  std::shared_ptr<const Dataset> dataset_;
  Augmentation augmentation_;
  LoaderOptions options_;

  std::mutex mutex_;
  std::condition_variable ready_cv_;   ///< a batch became ready (consumer waits)
  std::condition_variable space_cv_;   ///< the consumer took a batch (workers wait)
  std::vector<std::thread> threads_;
  std::vector<int64_t> order_;
  int64_t epoch_ = 0;
  int64_t num_batches_ = 0;
  int64_t next_to_make_ = 0;     ///< next batch index a worker will claim
  int64_t next_to_deliver_ = 0;  ///< next batch index next() returns
  std::map<int64_t, Batch> ready_;
  std::exception_ptr error_;
  bool stopping_ = false;
  std::atomic<int64_t> failed_{0};
  std::vector<uint8_t> excluded_;  ///< [N] or empty (set_excluded)
};

}  // namespace protoclr::data
