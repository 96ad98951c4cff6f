// The E-step sharded over ranks of a process group (issue 15): k-means and phi over the
// ranks' shards against one process on the concatenated features. Ranks are threads on Gloo
// over loopback (support/thread_ranks.h).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <mutex>
#include <string>
#include <vector>

#include "protoclr/cluster/e_step.h"
#include "protoclr/cluster/torch_kmeans.h"
#include "protoclr/core/error.h"
#include "protoclr/dist/group.h"
#include "support/error_of.h"
#include "support/thread_ranks.h"

namespace pc = protoclr::cluster;
namespace pd = protoclr::dist;
using protoclr::test_support::error_of;
using protoclr::test_support::run_ranks;

namespace {

namespace F = torch::nn::functional;

/// n unit vectors around `blobs` random directions (well separated: ties between
/// centroids, where summation order could flip an assignment, do not occur).
torch::Tensor blob_points(int64_t n, int64_t d, int64_t blobs, uint64_t seed) {
  torch::manual_seed(seed);
  const torch::Tensor centres = F::normalize(torch::randn({blobs, d}), F::NormalizeFuncOptions().dim(1));
  const torch::Tensor label = torch::randint(0, blobs, {n}, torch::kLong);
  return F::normalize(centres.index_select(0, label) + 0.15 * torch::randn({n, d}), F::NormalizeFuncOptions().dim(1));
}

/// Row ranges of uneven shards: rank r of `bounds.size() - 1` holds [bounds[r], bounds[r+1]).
torch::Tensor rows_of(const torch::Tensor& x, const std::vector<int64_t>& bounds, int rank) {
  return x.slice(0, bounds[rank], bounds[rank + 1]);
}

void expect_kmeans_matches_one_process(const torch::Tensor& x, const pc::KMeansOptions& options,
                                       const std::vector<int64_t>& bounds) {
  const pc::KMeansResult one = pc::torch_kmeans_train(x, options);
  const int world = static_cast<int>(bounds.size()) - 1;
  std::mutex mutex;
  run_ranks(world, [&](pd::Group& group) {
    const int r = group.rank();
    const pc::KMeansResult sharded = pc::torch_kmeans_train(rows_of(x, bounds, r), options, group);
    std::lock_guard<std::mutex> lock(mutex);
    EXPECT_TRUE(sharded.assignments.equal(rows_of(one.assignments.view({-1, 1}), bounds, r).view({-1})))
        << "rank " << r << " of " << world;
    EXPECT_TRUE(torch::allclose(sharded.centroids, one.centroids, /*rtol=*/0, /*atol=*/2e-6)) << "rank " << r;
    EXPECT_TRUE(torch::allclose(sharded.sq_distances, rows_of(one.sq_distances.view({-1, 1}), bounds, r).view({-1}),
                                0, 1e-5)) << "rank " << r;
    ASSERT_EQ(sharded.objective.size(), one.objective.size());
    for (size_t i = 0; i < one.objective.size(); ++i) EXPECT_NEAR(sharded.objective[i], one.objective[i], 1e-3) << i;
  });
}

pc::KMeansOptions options(int64_t k, uint64_t seed) {
  pc::KMeansOptions o;
  o.k = k;
  o.seed = seed;
  o.iterations = 8;
  o.min_points_per_centroid = 0;
  return o;
}

#define SKIP_WITHOUT_GLOO()                                                        \
  if (!pd::backend_available(pd::Backend::kGloo)) GTEST_SKIP() << "built without Gloo"

TEST(ShardedKMeans, TwoRanksEqualOneProcess) {
  SKIP_WITHOUT_GLOO();
  const torch::Tensor x = blob_points(600, 16, 8, 1);
  expect_kmeans_matches_one_process(x, options(8, 5), {0, 300, 600});
}

TEST(ShardedKMeans, UnevenShardsRestartsAndATrainingSubsetEqualOneProcess) {
  SKIP_WITHOUT_GLOO();
  const torch::Tensor x = blob_points(700, 12, 10, 2);
  pc::KMeansOptions o = options(10, 9);
  o.redo = 2;
  o.max_points_per_centroid = 40;  // trains on 400 of the 700 points, drawn over all shards
  expect_kmeans_matches_one_process(x, o, {0, 50, 520, 700});
}

TEST(ShardedKMeans, AsManyPointsAsClustersAndAnEmptyShard) {
  SKIP_WITHOUT_GLOO();
  const torch::Tensor x = blob_points(12, 4, 3, 3);
  expect_kmeans_matches_one_process(x, options(12, 1), {0, 7, 7, 12});
}

TEST(ShardedKMeans, WarmStartEqualsOneProcess) {
  SKIP_WITHOUT_GLOO();
  const torch::Tensor x = blob_points(400, 8, 6, 4);
  pc::KMeansOptions o = options(6, 2);
  o.init_centroids = x.slice(0, 100, 106).clone();
  expect_kmeans_matches_one_process(x, o, {0, 200, 400});
}

TEST(ShardedEStep, PrototypesPhiAndCountsEqualOneProcessAndAssignmentsStayOnTheirRank) {
  SKIP_WITHOUT_GLOO();
  const torch::Tensor x = blob_points(900, 16, 12, 6);
  pc::EStepOptions o;
  o.num_clusters = {6, 12, 30};
  o.iterations = 10;
  o.seed = 4;
  o.backend = pc::KMeansBackend::kTorch;
  o.concentration.temperature = 0.2;
  const pc::EStepResult one = pc::run_e_step(x, o);
  const std::vector<int64_t> bounds{0, 450, 900};
  std::mutex mutex;
  run_ranks(2, [&](pd::Group& group) {
    const int r = group.rank();
    const pc::EStepResult sharded = pc::run_e_step(rows_of(x, bounds, r), o, group);
    std::lock_guard<std::mutex> lock(mutex);
    ASSERT_EQ(sharded.levels.size(), one.levels.size());
    EXPECT_EQ(sharded.backend, pc::KMeansBackend::kTorch);
    for (size_t m = 0; m < one.levels.size(); ++m) {
      const auto& a = sharded.levels[m];
      const auto& b = one.levels[m];
      EXPECT_EQ(a.k, b.k);
      EXPECT_TRUE(a.counts.equal(b.counts)) << "level " << m;
      EXPECT_TRUE(torch::allclose(a.prototypes, b.prototypes, 0, 2e-6)) << "level " << m;
      EXPECT_TRUE(torch::allclose(a.phi, b.phi, 1e-5, 0)) << "level " << m;
      EXPECT_EQ(a.assignments.size(0), 450);
      EXPECT_TRUE(a.assignments.equal(b.assignments.slice(0, bounds[r], bounds[r + 1]))) << "level " << m;
    }
  });
}

TEST(ShardedEStep, FaissCannotShardAndKIsCheckedAgainstAllRanks) {
  SKIP_WITHOUT_GLOO();
  const torch::Tensor x = blob_points(40, 4, 2, 7);
  std::mutex mutex;
  run_ranks(2, [&](pd::Group& group) {
    const torch::Tensor shard = x.slice(0, 20 * group.rank(), 20 * group.rank() + 20);
    pc::EStepOptions o;
    o.num_clusters = {30};  // more than a shard holds, fewer than all ranks do
    o.iterations = 3;
    o.backend = pc::KMeansBackend::kAuto;
    const pc::EStepResult result = pc::run_e_step(shard, o, group);
    o.num_clusters = {41};
    const std::string too_many = error_of([&] { pc::run_e_step(shard, o, group); });
    o.num_clusters = {4};
    o.backend = pc::KMeansBackend::kFaiss;
    const std::string faiss = error_of([&] { pc::run_e_step(shard, o, group); });
    std::lock_guard<std::mutex> lock(mutex);
    EXPECT_EQ(result.levels.at(0).counts.sum().item<int64_t>(), 40);
    EXPECT_NE(too_many.find("N=40"), std::string::npos) << too_many;
    EXPECT_NE(faiss.find("--kmeans-backend faiss"), std::string::npos) << faiss;
  });
}

TEST(ShardedKMeans, TrafficPerIterationIsOneCentroidBufferAndTheCounts) {
  SKIP_WITHOUT_GLOO();
  const torch::Tensor x = blob_points(200, 8, 4, 8);
  pc::KMeansOptions o = options(4, 3);
  o.iterations = 5;
  std::mutex mutex;
  run_ranks(2, [&](pd::Group& group) {
    const uint64_t before = group.traffic().all_reduce_bytes;
    pc::torch_kmeans_train(x.slice(0, 100 * group.rank(), 100 * group.rank() + 100), o, group);
    const uint64_t sent = group.traffic().all_reduce_bytes - before;
    // W = 2: each rank sends 2 (W-1)/W = 1 times each buffer: per iteration K x D float32
    // and K + 1 float64, plus K x D once for the initial centroids.
    const uint64_t expected = o.iterations * (4 * 8 * 4 + 5 * 8) + 4 * 8 * 4;
    std::lock_guard<std::mutex> lock(mutex);
    EXPECT_EQ(sent, expected);
  });
}

}  // namespace
