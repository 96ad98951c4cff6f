#include "protoclr/cluster/kmeans.h"

#include <faiss/Clustering.h>
#include <faiss/IndexFlat.h>
#include <omp.h>

#include <algorithm>
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

/// The centroids and per-iteration objective of one faiss::Clustering::train.
struct FaissRun {
  std::vector<float> centroids;  ///< k * d
  std::vector<float> objective;  ///< the kept restart's iterations
};

/// faiss::Clustering::train with `redo` restarts on x [N, D] (CPU float32 contiguous);
/// `init` (k * d floats, or null) is faiss' input centroids, where its restart 0 starts.
FaissRun faiss_train(const torch::Tensor& x, const KMeansOptions& options, int redo, const float* init) {
  const int64_t n = x.size(0);
  const int64_t d = x.size(1);
  faiss::ClusteringParameters params;
  params.niter = options.iterations;
  params.nredo = redo;
  params.seed = static_cast<int>(options.seed);
  params.max_points_per_centroid = options.max_points_per_centroid;
  params.min_points_per_centroid = 0;  // kmeans_check warned
  params.verbose = options.verbose;
  faiss::Clustering clustering(static_cast<int>(d), static_cast<int>(options.k), params);
  if (init) clustering.centroids.assign(init, init + options.k * d);
  {
    auto train_index = std::make_unique<faiss::IndexFlatL2>(d);
    clustering.train(n, x.data_ptr<float>(), *train_index);
  }
  TORCH_INTERNAL_ASSERT(clustering.centroids.size() == static_cast<size_t>(options.k * d));
  FaissRun run;
  run.centroids = std::move(clustering.centroids);
  // faiss keeps the statistics of every restart up to the kept one: the kept restart's are
  // the last `iterations` (one fake iteration when N == K).
  const auto& stats = clustering.iteration_stats;
  const size_t kept = std::min(stats.size(), static_cast<size_t>(options.iterations));
  for (size_t i = stats.size() - kept; i < stats.size(); ++i) run.objective.push_back(stats[i].obj);
  return run;
}

}  // namespace

void kmeans_check(const torch::Tensor& features, const KMeansOptions& options, int64_t total_rows) {
  PROTOCLR_CHECK(features.defined() && features.dim() == 2,
                 "k-means features must be a 2-D [N, D] tensor, got ",
                 features.defined() ? features.sizes() : at::IntArrayRef{});
  const int64_t n = total_rows >= 0 ? total_rows : features.size(0);
  const int64_t d = features.size(1);
  const int64_t k = options.k;
  PROTOCLR_CHECK(k >= 1, "--num-clusters K=", k, " must be at least 1");
  PROTOCLR_CHECK(k <= n, "--num-clusters K=", k, " is larger than the number of images N=", n,
                 " (lower it or use more data)");
  PROTOCLR_CHECK(d >= 1, "k-means features have dimension 0");
  PROTOCLR_CHECK(d <= std::numeric_limits<int>::max() && k <= std::numeric_limits<int>::max(),
                 "k-means: D=", d, " or K=", k, " too large for faiss");
  PROTOCLR_CHECK(options.iterations >= 1, "k-means iterations must be >= 1, got ", options.iterations);
  PROTOCLR_CHECK(options.redo >= 1, "k-means redo must be >= 1, got ", options.redo);
  PROTOCLR_CHECK(options.max_points_per_centroid >= 1, "k-means max_points_per_centroid must be >= 1, got ",
                 options.max_points_per_centroid);
  PROTOCLR_CHECK(torch::isfinite(features).all().item<bool>(),
                 "features contain NaN or Inf (training diverged? lower --lr)");
  if (options.init_centroids.defined()) {
    const torch::Tensor& init = options.init_centroids;
    PROTOCLR_CHECK(init.dim() == 2 && init.size(0) == k && init.size(1) == d,
                   "k-means initial centroids must be [K, D] = [", k, ", ", d, "], got ", init.sizes());
    PROTOCLR_CHECK(torch::isfinite(init).all().item<bool>(), "k-means initial centroids contain NaN or Inf");
  }
  // faiss would fprintf this warning itself; say it through the logger instead (faiss uses
  // min_points_per_centroid for nothing else).
  if (n < k * static_cast<int64_t>(options.min_points_per_centroid)) {
    log::warn("k-means: ", n, " points for K=", k, " clusters is fewer than ",
              options.min_points_per_centroid, " per cluster; clusters will be small and noisy");
  }
}

KMeansResult kmeans_train(const torch::Tensor& features, const KMeansOptions& options) {
  kmeans_check(features, options);
  const torch::Tensor x = features.detach().to(torch::kCPU, torch::kFloat).contiguous();
  const int64_t n = x.size(0);
  const int64_t d = x.size(1);
  const int64_t k = options.k;

  OmpThreadsGuard threads_guard(options.threads);
  FaissRun best;
  if (options.init_centroids.defined()) {
    // faiss would start every restart from the input centroids (restart r > 0 from where
    // r - 1 ended); the contract is restart 0 from them, the others from random points.
    const torch::Tensor init = options.init_centroids.detach().to(torch::kCPU, torch::kFloat).contiguous();
    best = faiss_train(x, options, /*redo=*/1, init.data_ptr<float>());
    if (options.redo > 1) {
      FaissRun random = faiss_train(x, options, options.redo - 1, /*init=*/nullptr);
      if (random.objective.back() < best.objective.back()) best = std::move(random);
    }
  } else {
    best = faiss_train(x, options, options.redo, /*init=*/nullptr);
  }

  KMeansResult result;
  result.centroids = torch::from_blob(best.centroids.data(), {k, d}, torch::kFloat).clone();
  result.objective = std::move(best.objective);

  // Assign every point (not only faiss' training subsample) to its nearest centroid.
  static_assert(sizeof(faiss::Index::idx_t) == sizeof(int64_t), "faiss::Index::idx_t must be 64-bit");
  auto index = std::make_unique<faiss::IndexFlatL2>(d);
  index->add(k, best.centroids.data());
  result.sq_distances = torch::empty({n}, torch::kFloat);
  result.assignments = torch::empty({n}, torch::kLong);
  index->search(n, x.data_ptr<float>(), /*k=*/1, result.sq_distances.data_ptr<float>(),
                reinterpret_cast<faiss::Index::idx_t*>(result.assignments.data_ptr<int64_t>()));
  log::debug("k-means (faiss) K=", k, " N=", n, " D=", d, ": objective ", result.objective.front(), " -> ",
             result.objective.back());
  return result;
}

const std::vector<std::string>& kmeans_backend_names() {
  static const std::vector<std::string> names = {"auto", "faiss", "torch"};
  return names;
}

KMeansBackend parse_kmeans_backend(const std::string& name) {
  const auto& names = kmeans_backend_names();
  const auto it = std::find(names.begin(), names.end(), name);
  PROTOCLR_CHECK(it != names.end(), "unknown --kmeans-backend '", name, "' (use auto, faiss or torch)");
  return static_cast<KMeansBackend>(it - names.begin());
}

const std::string& kmeans_backend_name(KMeansBackend backend) {
  return kmeans_backend_names().at(static_cast<size_t>(backend));
}

KMeansBackend resolve_kmeans_backend(KMeansBackend backend, const torch::Device& device) {
  if (backend != KMeansBackend::kAuto) return backend;
  return device.is_cuda() ? KMeansBackend::kTorch : KMeansBackend::kFaiss;
}

}  // namespace protoclr::cluster
