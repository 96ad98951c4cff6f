#pragma once
/// MoCo (He et al., CVPR 2020): a query encoder, a momentum key encoder and a queue of
/// negative keys. Parameter keys match the published MoCo/PCL code (`encoder_q.*`,
/// `encoder_k.*`, `queue` [D, Q], `queue_ptr`), so checkpoints map one to one.
#include <memory>

#include <torch/torch.h>

#include "protoclr/core/rng.h"
#include "protoclr/model/head.h"

namespace protoclr::model {

/// Encodes the key batch so that no query sees its positive key's BatchNorm statistics
/// (MoCo's shuffle-BN, Sec. 3.3). This is the seam for distributed runs: a process-group
/// implementation gathers the keys of all processes, shuffles across them and scatters back.
class KeyBatchShuffle {
 public:
  virtual ~KeyBatchShuffle() = default;
  /// Runs `encoder` on x [B, 3, H, W] in train mode and returns its output [B, D] in the
  /// original sample order.
  virtual torch::Tensor encode(ResNet& encoder, const torch::Tensor& x, Rng& rng) = 0;
};

/// `encoder` on x in `groups` consecutive BatchNorm groups (as many GPUs would each normalise
/// their share of the batch), in one forward pass (model/split_batch_norm.h).
/// share_formula: see BatchNormGroups (one process of several normalising its share).
torch::Tensor forward_in_groups(ResNet& encoder, const torch::Tensor& x, int64_t groups, bool share_formula = false);

/// The key shuffle's permutation of n rows (Fisher-Yates from `rng`), as int64 on `device`:
/// one function, so one process and several draw the same order from the same stream.
torch::Tensor shuffle_permutation(int64_t n, Rng& rng, const torch::Device& device);

/// One process: permute the batch, normalise it in `groups` groups (split BN: each group
/// gets its own batch statistics, as each GPU does in the reference), undo the permutation.
class SplitBatchShuffle : public KeyBatchShuffle {
 public:
  explicit SplitBatchShuffle(int groups) : groups_(groups) {}
  torch::Tensor encode(ResNet& encoder, const torch::Tensor& x, Rng& rng) override;

 private:
  int groups_;
};

struct MoCoOptions {
  MoCoOptions(EncoderOptions encoder) : encoder_(std::move(encoder)) {}
  TORCH_ARG(EncoderOptions, encoder);
  TORCH_ARG(int64_t, queue_size) = 16000;  ///< negatives kept in the queue (--queue-size)
  TORCH_ARG(double, momentum) = 0.999;     ///< key encoder momentum m (--moco-m)
  /// BatchNorm groups of the query batch, in batch order (--query-bn-splits): each GPU of
  /// the published runs normalises its own share of the batch.
  TORCH_ARG(int64_t, query_bn_groups) = 1;
  /// One process of several: the query batch is normalised through the groups' formula even
  /// in one group (BatchNormGroups' share_formula), as one process computes its G groups.
  TORCH_ARG(bool, batch_norm_share_formula) = false;
};

class MoCoImpl : public torch::nn::Module {
 public:
  explicit MoCoImpl(MoCoOptions options);

  /// theta_k <- m theta_k + (1 - m) theta_q over parameters (not BN buffers, as MoCo).
  void momentum_update();
  /// L2-normalised float32 query embeddings [B, D] (with grad), BatchNorm in query_bn_groups groups.
  torch::Tensor encode_query(const torch::Tensor& x);
  /// L2-normalised key embeddings [B, D] through `shuffle` (no grad).
  torch::Tensor encode_key(const torch::Tensor& x, KeyBatchShuffle& shuffle, Rng& rng);
  /// Replaces the oldest keys with `keys` [B, D] (wrapping around the queue's end).
  void enqueue(const torch::Tensor& keys);
  /// The queue as [Q, D] (a view of the [D, Q] buffer).
  torch::Tensor negatives() const { return queue.t(); }

  const MoCoOptions& options() const { return options_; }

  ResNet encoder_q{nullptr};
  ResNet encoder_k{nullptr};
  torch::Tensor queue;      ///< [D, Q] normalised keys, column-major like the reference
  torch::Tensor queue_ptr;  ///< [1] int64, next column to overwrite

 private:
  MoCoOptions options_;
  std::vector<torch::Tensor> params_q_, params_k_;
  /// queue_ptr as the host last knew it, valid while the buffer's version counter is
  /// queue_ptr_version_: enqueue then never reads the device; a checkpoint load (which
  /// writes the buffer in place) bumps the version and the next enqueue reads it once.
  int64_t queue_ptr_host_ = 0;
  int64_t queue_ptr_version_ = -1;
};
TORCH_MODULE(MoCo);

}  // namespace protoclr::model
