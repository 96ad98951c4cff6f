#pragma once
/// k-means in LibTorch operations, on whatever device the features are on (CUDA or CPU):
/// the E-step of PCL (Li et al. 2021, sec. 3.2, Algorithm 1) without leaving the GPU.
/// The semantics are faiss' Clustering::train as kmeans_train runs it (kmeans.h); its
/// random draws are LibTorch's and protoclr's, so results are not bit-equal to faiss'.
#include <torch/torch.h>

#include <cstdint>
#include <tuple>

#include "protoclr/cluster/kmeans.h"

namespace protoclr::dist {
class Group;
}

namespace protoclr::cluster {

/// Elements of the [B, K] block of distances one assignment chunk holds: 2^26 float32 =
/// 256 MiB, i.e. B = 671 rows at K = 100,000.
inline constexpr int64_t kAssignBlockElements = int64_t{1} << 26;

/// Lloyd's k-means on `features` [N, D] (float dtype, any device; computed in float32 on
/// that device), as faiss::Clustering::train with an exact L2 index:
/// - training on at most K * max_points_per_centroid points (a random subset, seeded by seed);
/// - `redo` runs, run r starting from K distinct random training points (seed + 1 + r *
///   15486557, faiss' seeds), run 0 from init_centroids when given; the run with the lowest
///   final objective is kept;
/// - every iteration: assign (torch_kmeans_assign), objective = sum of squared distances,
///   centroids = means of their points (index_add_), then each empty cluster takes a copy of
///   a cluster picked with probability proportional to (size - 1), the two perturbed by
///   (1 +- 1/1024) alternating over dimensions and the size shared (faiss' split_clusters);
/// - N == K: the points are the centroids, objective {0}.
/// Then every point (not only the training subset) is assigned to its nearest centroid.
/// Results stay on the features' device. Throws protoclr::Error as kmeans_check does.
/// Ignores `threads` and `verbose` (faiss only); CPU runs use LibTorch's intra-op threads.
KMeansResult torch_kmeans_train(const torch::Tensor& features, const KMeansOptions& options);

/// The same k-means over the rows of every rank of `group`: `shard` [N_r, D] is this
/// rank's rows, and the ranks' shards in rank order make the [N, D] features. Every draw is
/// the one-process run's (the same training subset, restarts and splits), each rank assigns
/// only its points, and the per-cluster sums and counts are summed over the group each
/// iteration: the result equals torch_kmeans_train on the concatenated features up to the
/// order of float summation. Returns the centroids and objective (the same on every rank)
/// and this shard's assignments and distances. Traffic per rank and iteration: one
/// all-reduce of K x D float32 and K + 1 float64; per restart one of K x D.
/// Every rank must call it with the same options.
KMeansResult torch_kmeans_train(const torch::Tensor& shard, const KMeansOptions& options, dist::Group& group);

/// Nearest centroid of every point: argmin_c ||c||^2 - 2 x.c by matmul, in chunks of
/// block_elements / K rows (at least one). x: [N, D] and centroids: [K, D], float32 on one
/// device. Returns (sq_distances [N] float32, ||x - c||^2 clamped at 0; assignments [N]
/// int64), on that device.
std::tuple<torch::Tensor, torch::Tensor> torch_kmeans_assign(const torch::Tensor& x, const torch::Tensor& centroids,
                                                             int64_t block_elements = kAssignBlockElements);

}  // namespace protoclr::cluster
