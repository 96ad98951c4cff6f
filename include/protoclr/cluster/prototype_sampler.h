#pragma once
/// Negative prototypes for ProtoNCE (Li et al. 2021, eq. (11): r negatives per granularity).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "protoclr/core/rng.h"

namespace protoclr::cluster {

/// Draws negative prototypes: r distinct ids in [0, K) that are not positive for any sample
/// of the batch, without replacement, in O(r + batch) per call (a persistent permutation
/// array with partial Fisher-Yates + a marker array for the positives, reset after each call;
/// never O(K) per call after construction). The reference instead builds Python sets of all
/// K ids every step. Not thread-safe: one sampler per granularity and thread.
class NegativePrototypeSampler {
 public:
  /// k: number of prototypes K >= 1 (O(K) set-up).
  explicit NegativePrototypeSampler(int64_t k);
  /// Number of prototypes K.
  int64_t k() const { return k_; }
  /// Up to r ids (fewer only when fewer than r non-positive ids exist: then all of them), in
  /// random order. positives: [n_positives] ids in [0, K), may repeat. Throws protoclr::Error
  /// for an id outside [0, K) or r < 0.
  std::vector<int64_t> sample(const int64_t* positives, size_t n_positives, int64_t r, Rng& rng);

  /// The state that later draws depend on (a mid-epoch checkpoint saves it).
  const std::vector<int64_t>& permutation() const { return perm_; }
  /// Restores permutation(); throws Error unless `perm` is a permutation of [0, K).
  void set_permutation(std::vector<int64_t> perm);

 private:
  int64_t k_;
  std::vector<int64_t> perm_;     ///< a permutation of [0, K), reshuffled in place
  std::vector<uint8_t> positive_; ///< 1 for the current call's positives, else 0
};

}  // namespace protoclr::cluster
