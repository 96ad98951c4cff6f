#include "protoclr/cluster/kmeans.h"

#include <faiss/Clustering.h>
#include <faiss/IndexFlat.h>
#include <omp.h>

#include <limits>
#include <memory>

#include "protoclr/core/error.h"
#include "protoclr/core/log.h"

namespace protoclr::cluster {
namespace {

/// Sets OpenMP's thread count for a scope and restores it afterwards (also on throw).
class OmpThreadsGuard {
 public:
  explicit OmpThreadsGuard(int threads) : saved_(omp_get_max_threads()), active_(threads > 0) {
    if (active_) omp_set_num_threads(threads);
  }
  ~OmpThreadsGuard() {
    if (active_) omp_set_num_threads(saved_);
  }
  OmpThreadsGuard(const OmpThreadsGuard&) = delete;
  OmpThreadsGuard& operator=(const OmpThreadsGuard&) = delete;

 private:
  int saved_;
  bool active_;
};

}  // namespace

KMeansResult kmeans_train(const torch::Tensor& features, const KMeansOptions& options) {
  PROTOCLR_CHECK(features.defined() && features.dim() == 2,
                 "k-means features must be a 2-D [N, D] tensor, got ",
                 features.defined() ? features.sizes() : at::IntArrayRef{});
  const torch::Tensor x = features.detach().to(torch::kCPU, torch::kFloat).contiguous();
  const int64_t n = x.size(0);
  const int64_t d = x.size(1);
  const int64_t k = options.k;
  PROTOCLR_CHECK(k >= 1, "--num-clusters K=", k, " must be at least 1");
  PROTOCLR_CHECK(k <= n, "--num-clusters K=", k, " is larger than the number of images N=", n,
                 " (lower it or use more data)");
  PROTOCLR_CHECK(d >= 1, "k-means features have dimension 0");
  PROTOCLR_CHECK(d <= std::numeric_limits<int>::max() && k <= std::numeric_limits<int>::max(),
                 "k-means: D=", d, " or K=", k, " too large for faiss");
  PROTOCLR_CHECK(options.iterations >= 1, "k-means iterations must be >= 1, got ", options.iterations);
  PROTOCLR_CHECK(options.redo >= 1, "k-means redo must be >= 1, got ", options.redo);
  PROTOCLR_CHECK(torch::isfinite(x).all().item<bool>(),
                 "features contain NaN or Inf (training diverged? lower --lr)");

  OmpThreadsGuard threads_guard(options.threads);
  // faiss would fprintf this warning itself; say it through the logger instead (faiss uses
  // min_points_per_centroid for nothing else).
  if (n < k * static_cast<int64_t>(options.min_points_per_centroid)) {
    log::warn("k-means: ", n, " points for K=", k, " clusters is fewer than ",
              options.min_points_per_centroid, " per cluster; clusters will be small and noisy");
  }

  faiss::ClusteringParameters params;
  params.niter = options.iterations;
  params.nredo = options.redo;
  params.seed = static_cast<int>(options.seed);
  params.max_points_per_centroid = options.max_points_per_centroid;
  params.min_points_per_centroid = 0;  // warned above
  params.verbose = options.verbose;
  faiss::Clustering clustering(static_cast<int>(d), static_cast<int>(k), params);
  {
    auto train_index = std::make_unique<faiss::IndexFlatL2>(d);
    clustering.train(n, x.data_ptr<float>(), *train_index);
  }
  TORCH_INTERNAL_ASSERT(clustering.centroids.size() == static_cast<size_t>(k * d));

  KMeansResult result;
  result.centroids = torch::from_blob(clustering.centroids.data(), {k, d}, torch::kFloat).clone();
  result.objective.reserve(clustering.iteration_stats.size());
  for (const auto& stats : clustering.iteration_stats) result.objective.push_back(stats.obj);

  // Assign every point (not only faiss' training subsample) to its nearest centroid.
  static_assert(sizeof(faiss::Index::idx_t) == sizeof(int64_t), "faiss::Index::idx_t must be 64-bit");
  auto index = std::make_unique<faiss::IndexFlatL2>(d);
  index->add(k, clustering.centroids.data());
  result.sq_distances = torch::empty({n}, torch::kFloat);
  result.assignments = torch::empty({n}, torch::kLong);
  index->search(n, x.data_ptr<float>(), /*k=*/1, result.sq_distances.data_ptr<float>(),
                reinterpret_cast<faiss::Index::idx_t*>(result.assignments.data_ptr<int64_t>()));
  if (!result.objective.empty()) {
    log::debug("k-means K=", k, " N=", n, " D=", d, ": objective ", result.objective.front(), " -> ",
               result.objective.back());
  }
  return result;
}

}  // namespace protoclr::cluster
