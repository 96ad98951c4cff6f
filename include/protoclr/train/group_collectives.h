#pragma once
/// The trainer's collectives (train/seams.h) over a c10d process group: data-parallel PCL as
/// the published code runs it under DDP (gradients averaged, shuffle-BN across processes, the
/// queue filled with every process' keys), with the E-step sharded instead of all-reduced.
#include <cstdint>
#include <memory>
#include <vector>

#include "protoclr/dist/group.h"
#include "protoclr/train/seams.h"

namespace protoclr::train {

class GroupCollectives : public Collectives {
 public:
  /// DDP's default bucket: few calls, each large enough for the bandwidth.
  static constexpr int64_t kBucketBytes = int64_t{25} << 20;
  /// bucket_bytes: gradients are all-reduced in buckets of about this many bytes. overlap:
  /// whether watch_gradients() hooks them so a bucket's all-reduce runs during backward.
  explicit GroupCollectives(std::shared_ptr<dist::Group> group, int64_t bucket_bytes = kBucketBytes,
                            bool overlap = true);

  int rank() const override { return group_->rank(); }
  int world_size() const override { return group_->size(); }
  /// Shuffle-BN across processes (MoCo's batch_shuffle_ddp): gather every process' key
  /// images, permute them with the step's stream (the same on every rank, so no broadcast
  /// is needed), encode this rank's slice in bn_splits / world_size groups, gather the
  /// outputs and undo the permutation. bn_splits: BatchNorm groups of the whole batch.
  std::unique_ptr<model::KeyBatchShuffle> key_shuffle(int bn_splits) override;
  ~GroupCollectives() override;
  /// Hooks on the parameters copy each gradient into its bucket as backward produces it; a
  /// full bucket's all-reduce starts at once, while backward goes on (see OverlappedGradients
  /// in the .cpp). Without it reduce_gradients() reduces every bucket after backward.
  void watch_gradients(const std::vector<torch::Tensor>& parameters) override;
  /// Sum over ranks, divided by the world size, in buckets, in reverse parameter order (the
  /// order backward produces them in).
  void reduce_gradients(const std::vector<torch::Tensor>& parameters) override;
  torch::Tensor gather_keys(const torch::Tensor& keys) override { return group_->all_gather(keys); }
  void broadcast_from_first(const std::vector<torch::Tensor>& tensors) override;
  bool any_rank(bool flag) override;
  void sum_over_ranks(std::vector<double>& values) override;
  uint64_t bytes_sent() const override { return group_->traffic().total(); }
  features::DatasetFeatures embed(model::ResNet& encoder, std::shared_ptr<const data::Dataset> dataset,
                                  const features::ExtractOptions& options) override;
  features::DatasetFeatures gather_features(const features::DatasetFeatures& mine) override;
  cluster::EStepResult cluster_features(const features::DatasetFeatures& features,
                                        const cluster::EStepOptions& options) override;

  dist::Group& group() { return *group_; }

 private:
  class OverlappedGradients;
  std::shared_ptr<dist::Group> group_;
  int64_t bucket_bytes_;
  bool overlap_enabled_;
  std::unique_ptr<OverlappedGradients> overlap_;  ///< set by watch_gradients
};

/// BatchNorm groups per process when the whole batch has `splits` (--bn-splits or
/// --query-bn-splits) over `world_size` processes: splits / world_size, at least 1 (each
/// process always normalises its own share). Throws UsageError naming `flag` when splits >
/// world_size does not divide evenly.
int64_t groups_per_process(int64_t splits, int world_size, const char* flag);

}  // namespace protoclr::train
