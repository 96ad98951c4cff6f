#pragma once
/// k-means for the E-step (PCL, Li et al. 2021, sec. 3.2 and Algorithm 1): faiss'
/// Clustering on an exact L2 index, then the nearest centroid of every point, exactly as
/// the reference `e_step` runs it. The LibTorch k-means of the same contract, which runs on
/// the features' device, is in torch_kmeans.h.
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace protoclr::cluster {

/// One k-means run (faiss `ClusteringParameters` plus the thread count and a warm start).
struct KMeansOptions {
  int64_t k = 0;                      ///< number of clusters K (>= 1, <= N)
  int iterations = 20;                ///< Lloyd iterations per run (faiss niter)
  int redo = 1;                       ///< runs from different seeds; the best objective is kept (faiss nredo)
  uint64_t seed = 0;                  ///< faiss seed (truncated to int, as faiss stores it)
  int max_points_per_centroid = 1000; ///< faiss subsamples to K * this many points for training
  int min_points_per_centroid = 10;   ///< below K * this many points faiss warns
  int threads = 0;                    ///< OpenMP threads for faiss; 0 = leave OpenMP's setting (faiss only)
  bool verbose = false;               ///< faiss' own per-iteration printout (faiss only)
  /// Warm start: [K, D] centroids that run 0 starts from (any device and float dtype);
  /// undefined: run 0 starts from K random training points. Runs 1..redo-1 always start
  /// from random training points; the best final objective is kept either way.
  torch::Tensor init_centroids;
};

/// What one k-means run returns (values, not logs).
struct KMeansResult {
  torch::Tensor centroids;       ///< [K, D] float32, as faiss returns them (not normalised)
  torch::Tensor assignments;     ///< [N] int64, nearest centroid of every point
  torch::Tensor sq_distances;    ///< [N] float32, squared L2 distance to that centroid
  /// Objective (sum of squared distances of the training points to the centroids they are
  /// assigned to, before the update) per iteration of the kept run: `iterations` values
  /// (faiss ClusteringIterationStats.obj), one 0 when N == K (the points are the centroids).
  std::vector<float> objective;
};

/// faiss::Clustering with IndexFlatL2 on `features` [N, D] (any device/dtype; copied to CPU
/// float32 contiguous), then assignment of every point to its nearest centroid, as the
/// reference `e_step` does (the E-step's argmin of eq. (7)). Results are on the CPU. Throws
/// protoclr::Error as kmeans_check does.
KMeansResult kmeans_train(const torch::Tensor& features, const KMeansOptions& options);

/// The checks every k-means backend makes before any work, with one set of messages:
/// features [N, D] with D >= 1 and no NaN/Inf, 1 <= K <= N (naming --num-clusters),
/// iterations and redo >= 1, init_centroids (if defined) [K, D] and finite. Warns (through
/// the logger, not faiss' fprintf) below min_points_per_centroid points per cluster.
/// total_rows: N when `features` is one rank's shard of the points (-1: features.size(0)).
void kmeans_check(const torch::Tensor& features, const KMeansOptions& options, int64_t total_rows = -1);

/// Which k-means implementation the E-step runs (--kmeans-backend).
enum class KMeansBackend {
  kAuto,   ///< kTorch when the features are on a CUDA device, else kFaiss
  kFaiss,  ///< faiss::Clustering on the CPU (kmeans_train)
  kTorch,  ///< LibTorch on the features' device (torch_kmeans_train)
};

/// The --kmeans-backend names, in KMeansBackend's order: auto, faiss, torch.
const std::vector<std::string>& kmeans_backend_names();
/// Name -> backend; throws protoclr::Error naming --kmeans-backend for an unknown name.
KMeansBackend parse_kmeans_backend(const std::string& name);
/// Backend -> its --kmeans-backend name.
const std::string& kmeans_backend_name(KMeansBackend backend);
/// `backend` with kAuto resolved for features on `device` (kTorch on CUDA, else kFaiss).
KMeansBackend resolve_kmeans_backend(KMeansBackend backend, const torch::Device& device);

}  // namespace protoclr::cluster
