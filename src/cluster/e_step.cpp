#include "protoclr/cluster/e_step.h"

#include <chrono>

#include "protoclr/cluster/kmeans.h"
#include "protoclr/cluster/torch_kmeans.h"
#include "protoclr/core/error.h"
#include "protoclr/core/log.h"
#include "protoclr/dist/group.h"

namespace protoclr::cluster {
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

void check_num_clusters(const std::vector<int64_t>& num_clusters, int64_t n) {
  for (int64_t k : num_clusters) {
    PROTOCLR_CHECK(k >= 1, "--num-clusters K=", k, " must be at least 1");
    PROTOCLR_CHECK(k <= n, "--num-clusters K=", k, " is larger than the number of images N=", n,
                   " (lower it or use more data)");
  }
}

EStepResult run_e_step(const torch::Tensor& features, const EStepOptions& options) {
  dist::Group one_process;
  return run_e_step(features, options, one_process);
}

EStepResult run_e_step(const torch::Tensor& shard, const EStepOptions& options, dist::Group& group) {
  const auto start = std::chrono::steady_clock::now();
  PROTOCLR_CHECK(shard.defined() && shard.dim() == 2, "E-step features must be a 2-D [N, D] tensor");
  int64_t n = shard.size(0);
  if (group.distributed()) {
    n = 0;
    for (int64_t rows : group.all_gather_value(shard.size(0))) n += rows;
  }
  check_num_clusters(options.num_clusters, n);
  PROTOCLR_CHECK(options.init_centroids.empty() || options.init_centroids.size() == options.num_clusters.size(),
                 "E-step: ", options.init_centroids.size(), " initial centroid sets for ",
                 options.num_clusters.size(), " granularities");
  EStepResult result;
  if (group.distributed()) {
    // faiss clusters points it holds; the sharded Lloyd iterations are LibTorch's.
    if (options.backend == KMeansBackend::kFaiss) {
      throw UsageError("--kmeans-backend faiss cannot cluster features spread over several processes; use torch "
                       "or auto");
    }
    result.backend = KMeansBackend::kTorch;
  } else {
    result.backend = resolve_kmeans_backend(options.backend, shard.device());
  }
  const bool use_torch = result.backend == KMeansBackend::kTorch;
  // One float32 copy for all granularities (the k-means' own conversion is then a no-op):
  // on the CPU for faiss, where the features are for the torch k-means.
  const torch::Tensor x = shard.detach().to(use_torch ? shard.device() : torch::kCPU, torch::kFloat).contiguous();

  result.levels.reserve(options.num_clusters.size());
  for (size_t m = 0; m < options.num_clusters.size(); ++m) {
    const auto level_start = std::chrono::steady_clock::now();
    KMeansOptions km;
    km.k = options.num_clusters[m];
    km.iterations = options.iterations;
    km.redo = options.redo;
    km.seed = options.seed + m;
    km.threads = options.threads;
    if (!options.init_centroids.empty()) km.init_centroids = options.init_centroids[m];
    KMeansResult clusters = use_torch ? torch_kmeans_train(x, km, group) : kmeans_train(x, km);

    // eq. (12) needs per-cluster sums over every rank's points: reduced as one buffer.
    ClusterSpread spread = cluster_spread(clusters.sq_distances, clusters.assignments, km.k);
    if (group.distributed()) {
      torch::Tensor both = torch::cat({spread.distance_sum, spread.count});
      group.all_reduce_sum(both);
      spread.distance_sum = both.slice(0, 0, km.k);
      spread.count = both.slice(0, km.k);
    }
    ClusterLevel level;
    level.k = km.k;
    level.prototypes = torch::nn::functional::normalize(
        clusters.centroids, torch::nn::functional::NormalizeFuncOptions().p(2).dim(1)).cpu();
    level.counts = spread.count.to(torch::kLong).cpu();
    level.phi = concentration(spread, options.concentration).cpu();
    level.assignments = clusters.assignments.cpu();
    level.objective = std::move(clusters.objective);
    level.seconds = seconds_since(level_start);
    TORCH_INTERNAL_ASSERT(level.counts.size(0) == km.k);
    log::info("E-step K=", km.k, " (", kmeans_backend_name(result.backend), ", ", x.device(),
              group.distributed() ? detail::concat(", ", group.size(), " ranks") : std::string(), "): ",
              (level.counts == 0).sum().item<int64_t>(), " empty clusters, objective ",
              level.objective.empty() ? 0.f : level.objective.back(), ", ", level.seconds, " s");
    result.levels.push_back(std::move(level));
  }
  result.seconds = seconds_since(start);
  return result;
}

void assign_dataset_rows(EStepResult& result, const torch::Tensor& rows, int64_t n) {
  for (auto& level : result.levels) {
    TORCH_INTERNAL_ASSERT(level.assignments.size(0) == rows.size(0));
    auto full = torch::full({n}, -1, level.assignments.options());
    full.index_copy_(0, rows.to(full.device()), level.assignments);
    level.assignments = std::move(full);
  }
}

}  // namespace protoclr::cluster
