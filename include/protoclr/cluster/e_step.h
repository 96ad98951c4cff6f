#pragma once
/// The E-step of PCL (Li et al. 2021, sec. 3.2, Algorithm 1): k-means at several
/// granularities on the momentum features, then the concentration phi of every prototype.
#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "protoclr/cluster/concentration.h"
#include "protoclr/cluster/kmeans.h"

namespace protoclr::dist {
class Group;
}

namespace protoclr::cluster {

/// E-step configuration (one k-means per entry of num_clusters).
struct EStepOptions {
  std::vector<int64_t> num_clusters;        ///< K of every granularity m = 1..M (--num-clusters)
  int iterations = 20;                      ///< k-means iterations per run
  int redo = 1;                             ///< k-means runs per granularity; best objective kept
  uint64_t seed = 0;                        ///< granularity m is clustered with seed + m
  ConcentrationOptions concentration;       ///< eq. (12) constants
  int threads = 0;                          ///< OpenMP threads for faiss; 0 = leave OpenMP's setting
  KMeansBackend backend = KMeansBackend::kAuto;  ///< --kmeans-backend; kAuto: torch for CUDA features, else faiss
  /// Warm start (--kmeans-warm-start): empty, or one entry per num_clusters entry, each
  /// undefined or [K_m, D] centroids that run 0 of level m starts from (the previous
  /// E-step's prototypes). Either backend honours them (KMeansOptions::init_centroids).
  std::vector<torch::Tensor> init_centroids;
};

/// One granularity of the E-step result.
struct ClusterLevel {
  int64_t k = 0;                  ///< number of prototypes K
  torch::Tensor prototypes;       ///< [K, D] float32, L2-normalised centroids c
  torch::Tensor assignments;      ///< [N] int64, prototype of every sample
  torch::Tensor phi;              ///< [K] float32, concentration, eq. (12)
  torch::Tensor counts;           ///< [K] int64, members per cluster
  std::vector<float> objective;   ///< k-means objective per iteration
  double seconds = 0;             ///< wall time of this granularity
};

/// The whole E-step: one ClusterLevel per entry of EStepOptions::num_clusters (same order).
struct EStepResult {
  std::vector<ClusterLevel> levels;  ///< M granularities
  double seconds = 0;                ///< total wall time
  KMeansBackend backend = KMeansBackend::kFaiss;  ///< the backend that ran (kAuto resolved)
};

/// Runs k-means at every K (seed + level index, as the reference seeds each granularity)
/// and estimates phi (eq. (12)). features: [N, D] L2-normalised embeddings (any device).
/// The faiss backend copies them once to CPU float32; the torch backend clusters them and
/// computes phi on their device (one float32 copy there if they are not float32 already).
/// All result tensors are on the CPU either way ([N] assignments, [K, D] prototypes: cheap
/// next to the clustering). With no num_clusters it returns no levels (ProtoNCE then
/// reduces to InfoNCE).
EStepResult run_e_step(const torch::Tensor& features, const EStepOptions& options);

/// The E-step over the features of every rank of `group` (beyond the published code, which
/// all-reduces an N x 128 tensor so that one GPU clusters everything): `shard` [N_r, D] is
/// this rank's rows, in rank order. k-means runs sharded (torch_kmeans_train with the group;
/// the faiss backend cannot shard: a UsageError), phi comes from per-cluster sums reduced
/// over the ranks. Prototypes, phi and counts are the same on every rank; `assignments`
/// holds only this shard's rows. Equals run_e_step on the concatenated features up to float
/// summation order. Every rank must call it with the same options.
EStepResult run_e_step(const torch::Tensor& shard, const EStepOptions& options, dist::Group& group);

/// Re-indexes every level's assignments from feature rows to dataset rows: [N'] -> [n] with
/// `rows` [N'] the dataset row of each feature row, and -1 where a dataset row has no
/// feature (an image that could not be read has no prototype).
void assign_dataset_rows(EStepResult& result, const torch::Tensor& rows, int64_t n);

/// Checks every K in [1, n] before any work (a clear Error naming --num-clusters) —
/// callable early by the trainer, with n the number of images.
void check_num_clusters(const std::vector<int64_t>& num_clusters, int64_t n);

}  // namespace protoclr::cluster
