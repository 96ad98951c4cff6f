#pragma once
/// k-means for the E-step (PCL, Li et al. 2021, sec. 3.2 and Algorithm 1): faiss'
/// Clustering on an exact L2 index, then the nearest centroid of every point, exactly as
/// the reference `e_step` runs it.
#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace protoclr::cluster {

/// One k-means run (faiss `ClusteringParameters` plus the thread count).
struct KMeansOptions {
  int64_t k = 0;                      ///< number of clusters K (>= 1, <= N)
  int iterations = 20;                ///< Lloyd iterations per run (faiss niter)
  int redo = 1;                       ///< runs from different seeds; the best objective is kept (faiss nredo)
  uint64_t seed = 0;                  ///< faiss seed (truncated to int, as faiss stores it)
  int max_points_per_centroid = 1000; ///< faiss subsamples to K * this many points for training
  int min_points_per_centroid = 10;   ///< below K * this many points faiss warns
  int threads = 0;                    ///< OpenMP threads for faiss; 0 = leave OpenMP's setting
  bool verbose = false;               ///< faiss' own per-iteration printout
};

/// What one k-means run returns (values, not logs).
struct KMeansResult {
  torch::Tensor centroids;       ///< [K, D] float32, as faiss returns them (not normalised)
  torch::Tensor assignments;     ///< [N] int64, nearest centroid of every point
  torch::Tensor sq_distances;    ///< [N] float32, squared L2 distance to that centroid
  std::vector<float> objective;  ///< per iteration of the kept run (faiss ClusteringIterationStats.obj)
};

/// faiss::Clustering with IndexFlatL2 on `features` [N, D] (any device/dtype; copied to CPU
/// float32 contiguous), then assignment of every point to its nearest centroid, as the
/// reference `e_step` does (the E-step's argmin of eq. (7)). Throws protoclr::Error when
/// K < 1, K > N (naming --num-clusters) or the features hold NaN/Inf.
KMeansResult kmeans_train(const torch::Tensor& features, const KMeansOptions& options);

}  // namespace protoclr::cluster
