#include "protoclr/cluster/torch_kmeans.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "protoclr/core/error.h"
#include "protoclr/core/log.h"
#include "protoclr/core/rng.h"
#include "protoclr/dist/group.h"

namespace protoclr::cluster {
namespace {

/// faiss' split_clusters perturbation ("a bit above machine epsilon for float16").
constexpr double kSplitEps = 1.0 / 1024;
/// faiss' seed step between restarts: restart r initialises with seed + 1 + r * this.
constexpr uint64_t kRestartSeedStride = 15486557;

/// A random permutation of [0, n) drawn on the CPU (so a CUDA run starts where a CPU run
/// with the same seed does), as an int64 tensor on `device`.
torch::Tensor seeded_randperm(int64_t n, uint64_t seed, const torch::Device& device) {
  return torch::randperm(n, at::detail::createCPUGenerator(seed), torch::kLong).to(device);
}

/// Draws indices with probability proportional to weights that change one at a time: a
/// Fenwick tree, O(log K) per draw and per change.
class WeightedPicker {
 public:
  explicit WeightedPicker(std::vector<double> weights) : weights_(std::move(weights)), tree_(weights_.size() + 1, 0.0) {
    for (size_t i = 0; i < weights_.size(); ++i) add(i, weights_[i]);
  }
  void set(size_t i, double weight) {
    add(i, weight - weights_[i]);
    weights_[i] = weight;
  }
  /// An index of positive weight, with probability weight / sum of weights (sum > 0).
  size_t pick(Rng& rng) const {
    const size_t n = weights_.size();
    double rest = uniform(rng) * prefix(n);
    size_t pos = 0;
    size_t step = 1;
    while (step * 2 <= n) step *= 2;
    for (; step > 0; step /= 2) {
      if (pos + step <= n && tree_[pos + step] <= rest) {
        pos += step;
        rest -= tree_[pos];
      }
    }
    // pos entries have a prefix sum <= the draw: pos is the drawn index, up to rounding.
    size_t i = std::min(pos, n - 1);
    for (size_t tries = 0; weights_[i] <= 0.0; ++tries) {
      TORCH_INTERNAL_ASSERT(tries < n, "split_clusters: no cluster to split");
      i = (i + 1) % n;
    }
    return i;
  }

 private:
  void add(size_t i, double delta) {
    for (size_t j = i + 1; j < tree_.size(); j += j & (~j + 1)) tree_[j] += delta;
  }
  double prefix(size_t count) const {
    double sum = 0.0;
    for (size_t j = count; j > 0; j -= j & (~j + 1)) sum += tree_[j];
    return sum;
  }

  std::vector<double> weights_;
  std::vector<double> tree_;  ///< 1-based Fenwick sums
};

/// faiss' split_clusters: every empty cluster ci (in increasing order) takes the centroid of
/// a cluster cj drawn with probability proportional to (size - 1); ci gets cj * (1 + eps s),
/// cj becomes cj * (1 - eps s) with s = +1, -1, +1, ... over the dimensions, and they share
/// cj's size (so later draws see it). centroids: [K, D] float32, changed in place; counts:
/// [K] int64 members per cluster. Returns the number of splits.
int64_t split_empty_clusters(torch::Tensor& centroids, const torch::Tensor& counts, Rng& rng) {
  const torch::Tensor empty = (counts == 0).nonzero().flatten().cpu();
  const int64_t n_empty = empty.numel();
  if (n_empty == 0) return 0;
  const int64_t k = counts.size(0);
  const int64_t d = centroids.size(1);
  const torch::Tensor sizes_t = counts.to(torch::kCPU, torch::kDouble).contiguous();
  std::vector<double> size(sizes_t.data_ptr<double>(), sizes_t.data_ptr<double>() + k);
  std::vector<double> weights(k);
  for (int64_t c = 0; c < k; ++c) weights[c] = std::max(size[c] - 1.0, 0.0);
  WeightedPicker picker(std::move(weights));

  // Choose every (ci, cj) first (only the sizes matter), then move the rows involved.
  std::vector<std::pair<int64_t, int64_t>> splits;
  std::vector<int64_t> rows;        // distinct rows touched, in first-touch order
  std::vector<int64_t> local(k, -1);
  auto touch = [&](int64_t c) {
    if (local[c] < 0) {
      local[c] = static_cast<int64_t>(rows.size());
      rows.push_back(c);
    }
  };
  const int64_t* empty_ids = empty.data_ptr<int64_t>();
  for (int64_t e = 0; e < n_empty; ++e) {
    const int64_t ci = empty_ids[e];
    const auto cj = static_cast<int64_t>(picker.pick(rng));
    size[ci] = size[cj] / 2;
    size[cj] -= size[ci];
    picker.set(ci, std::max(size[ci] - 1.0, 0.0));
    picker.set(cj, std::max(size[cj] - 1.0, 0.0));
    splits.emplace_back(ci, cj);
    touch(ci);
    touch(cj);
  }
  const torch::Tensor index = torch::tensor(rows, torch::kLong).to(centroids.device());
  torch::Tensor block = centroids.index_select(0, index).to(torch::kCPU).contiguous();
  float* data = block.data_ptr<float>();
  for (const auto& [ci, cj] : splits) {
    float* to = data + local[ci] * d;
    float* from = data + local[cj] * d;
    for (int64_t j = 0; j < d; ++j) {
      const double s = j % 2 == 0 ? kSplitEps : -kSplitEps;
      const float v = from[j];
      to[j] = static_cast<float>(v * (1 + s));
      from[j] = static_cast<float>(v * (1 - s));
    }
  }
  centroids.index_copy_(0, index, block.to(centroids.device()));
  return n_empty;
}

/// One Lloyd run on the training points from `centroids` [K, D]: the final centroids and
/// the objective of every iteration. `train` is this rank's part of the training points;
/// the per-cluster sums, counts and the objective are summed over the group before the
/// update, so every rank moves to the same centroids (faiss' distributed k-means and
/// DeepCluster-v2 do the same).
std::pair<torch::Tensor, std::vector<float>> lloyd(const torch::Tensor& train, torch::Tensor centroids,
                                                   int iterations, Rng& rng, dist::Group& group) {
  const int64_t k = centroids.size(0);
  std::vector<float> objective;
  int64_t splits = 0;
  for (int it = 0; it < iterations; ++it) {
    const auto [sq, assign] = torch_kmeans_assign(train, centroids);
    // Counts and the objective in one float64 buffer (counts are exact below 2^53).
    torch::Tensor counts_objective = torch::cat(
        {torch::bincount(assign, /*weights=*/{}, /*minlength=*/k).to(torch::kDouble), sq.sum(torch::kDouble).view({1})});
    torch::Tensor sums = torch::zeros_like(centroids).index_add_(0, assign, train);
    group.all_reduce_sum(sums);
    group.all_reduce_sum(counts_objective);
    const torch::Tensor counts = counts_objective.slice(0, 0, k).to(torch::kLong);
    objective.push_back(static_cast<float>(counts_objective[k].item<double>()));
    centroids = sums.div_(counts.clamp_min(1).unsqueeze(1).to(torch::kFloat));
    splits += split_empty_clusters(centroids, counts, rng);
  }
  if (splits > 0) log::debug("k-means (torch) K=", k, ": ", splits, " empty clusters split");
  return {centroids, objective};
}

/// Rows of the global training set, wherever they live: `picks` [P] indices into the
/// training order; this rank fills the ones it holds (`held_position` [n_train]: the row
/// of `train` holding each training point, -1 elsewhere) and the group sums, so every rank
/// gets all P rows exactly (each row is one rank's value plus zeros).
torch::Tensor training_rows(const torch::Tensor& train, const torch::Tensor& held_position,
                            const torch::Tensor& picks, dist::Group& group) {
  const torch::Tensor position = held_position.index_select(0, picks);
  const torch::Tensor held = (position >= 0).nonzero().flatten();
  torch::Tensor rows = torch::zeros({picks.size(0), train.size(1)}, train.options());
  rows.index_copy_(0, held, train.index_select(0, position.index_select(0, held)));
  group.all_reduce_sum(rows);
  return rows;
}

}  // namespace

std::tuple<torch::Tensor, torch::Tensor> torch_kmeans_assign(const torch::Tensor& x, const torch::Tensor& centroids,
                                                             int64_t block_elements) {
  PROTOCLR_CHECK(x.dim() == 2 && centroids.dim() == 2 && x.size(1) == centroids.size(1) && centroids.size(0) >= 1,
                 "k-means assignment: points [N, D] and centroids [K, D] expected, got ", x.sizes(), " and ",
                 centroids.sizes());
  PROTOCLR_CHECK(x.scalar_type() == torch::kFloat && centroids.scalar_type() == torch::kFloat &&
                     x.device() == centroids.device(),
                 "k-means assignment: points and centroids must be float32 on one device");
  torch::NoGradGuard no_grad;
  const int64_t n = x.size(0);
  const int64_t k = centroids.size(0);
  const torch::Tensor c_sq = centroids.square().sum(1).unsqueeze(0);  // [1, K]
  const torch::Tensor c_t = centroids.t();
  torch::Tensor sq = torch::empty({n}, x.options());
  torch::Tensor assign = torch::empty({n}, x.options().dtype(torch::kLong));
  const int64_t rows = std::max<int64_t>(1, block_elements / k);
  for (int64_t start = 0; start < n; start += rows) {
    const int64_t end = std::min(n, start + rows);
    const torch::Tensor xb = x.slice(0, start, end);
    const torch::Tensor partial = torch::addmm(c_sq, xb, c_t, /*beta=*/1, /*alpha=*/-2);  // ||c||^2 - 2 x.c
    torch::Tensor sq_b = sq.slice(0, start, end);
    torch::Tensor assign_b = assign.slice(0, start, end);
    torch::min_out(sq_b, assign_b, partial, /*dim=*/1);
    sq_b.add_(xb.square().sum(1)).clamp_min_(0);
  }
  return {sq, assign};
}

KMeansResult torch_kmeans_train(const torch::Tensor& features, const KMeansOptions& options) {
  dist::Group one_process;
  return torch_kmeans_train(features, options, one_process);
}

KMeansResult torch_kmeans_train(const torch::Tensor& shard, const KMeansOptions& options, dist::Group& group) {
  torch::NoGradGuard no_grad;
  // Every rank's row count (-1: no [N, D] features, so that all ranks fail together): the
  // global N and this shard's offset.
  const std::vector<int64_t> rows = group.all_gather_value(shard.defined() && shard.dim() == 2 ? shard.size(0) : -1);
  int64_t n = 0;
  int64_t offset = 0;
  for (int r = 0; r < group.size(); ++r) {
    if (r == group.rank() && rows[r] < 0) kmeans_check(shard, options);  // names the shape
    PROTOCLR_CHECK(rows[r] >= 0, "k-means: rank ", r, " has no [N, D] features");
    if (r < group.rank()) offset += rows[r];
    n += rows[r];
  }
  kmeans_check(shard, options, n);
  const torch::Tensor x = shard.detach().to(torch::kFloat).contiguous();
  const torch::Device device = x.device();
  const int64_t k = options.k;

  // faiss trains on a seeded random subset of K * max_points_per_centroid points. The
  // subset, its order and every later draw are the same on every rank (one seed, drawn on
  // the CPU); each rank keeps the training points it holds, in training order.
  const int64_t max_train = k * static_cast<int64_t>(options.max_points_per_centroid);
  const torch::Tensor train_ids = n > max_train ? seeded_randperm(n, options.seed, device).slice(0, 0, max_train)
                                                : torch::arange(n, torch::TensorOptions(device).dtype(torch::kLong));
  const int64_t n_train = train_ids.size(0);
  const torch::Tensor held = (train_ids >= offset) & (train_ids < offset + x.size(0));
  const torch::Tensor held_position = torch::where(held, held.cumsum(0) - 1, torch::full_like(train_ids, -1));
  const torch::Tensor train = n > max_train || group.distributed()
                                  ? x.index_select(0, train_ids.masked_select(held) - offset)
                                  : x;

  KMeansResult result;
  if (n_train == k) {
    result.centroids = training_rows(train, held_position, torch::arange(k, train_ids.options()), group);
    result.objective = {0.f};
  } else {
    float best = std::numeric_limits<float>::infinity();
    for (int r = 0; r < options.redo; ++r) {
      torch::Tensor init;
      if (r == 0 && options.init_centroids.defined()) {
        init = options.init_centroids.detach().to(device, torch::kFloat).clone();
      } else {
        const uint64_t seed = options.seed + 1 + static_cast<uint64_t>(r) * kRestartSeedStride;
        init = training_rows(train, held_position, seeded_randperm(n_train, seed, device).slice(0, 0, k), group);
      }
      Rng rng(stream_seed(options.seed, r));
      auto [centroids, objective] = lloyd(train, std::move(init), options.iterations, rng, group);
      if (objective.back() < best) {  // strictly lower, as faiss keeps a restart
        best = objective.back();
        result.centroids = std::move(centroids);
        result.objective = std::move(objective);
      }
    }
    TORCH_INTERNAL_ASSERT(result.centroids.defined(), "k-means: no restart kept (objective not finite)");
  }
  std::tie(result.sq_distances, result.assignments) = torch_kmeans_assign(x, result.centroids);
  log::debug("k-means (torch, ", device, ", ", group.size(), " ranks) K=", k, " N=", n, " D=", x.size(1),
             ": objective ", result.objective.front(), " -> ", result.objective.back());
  return result;
}

}  // namespace protoclr::cluster
