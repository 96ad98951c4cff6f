// The LibTorch k-means (torch_kmeans.h) against faiss' (kmeans.h) on the CPU, the E-step's
// backend choice, and the same on CUDA against the CPU when a GPU is present.
#include <faiss/IndexFlat.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <string>

#include "protoclr/cluster/concentration.h"
#include "protoclr/cluster/e_step.h"
#include "protoclr/cluster/kmeans.h"
#include "protoclr/cluster/torch_kmeans.h"
#include "protoclr/core/error.h"
#include "support/error_of.h"

namespace pc = protoclr::cluster;
using protoclr::test_support::error_of;

namespace {

namespace F = torch::nn::functional;

torch::Tensor unit_rows(const torch::Tensor& x) { return F::normalize(x, F::NormalizeFuncOptions().dim(1)); }

/// n unit vectors in D dimensions: `blobs` Gaussian blobs (angular spread ~sigma) around
/// random directions, or uniform on the sphere when blobs == 0.
torch::Tensor sphere_points(int64_t n, int64_t d, int64_t blobs, double sigma, uint64_t seed) {
  torch::manual_seed(seed);
  if (blobs == 0) return unit_rows(torch::randn({n, d}));
  const torch::Tensor centres = unit_rows(torch::randn({blobs, d}));
  const torch::Tensor label = torch::randint(0, blobs, {n}, torch::kLong);
  return unit_rows(centres.index_select(0, label) + sigma * torch::randn({n, d}));
}

pc::KMeansOptions options(int64_t k, uint64_t seed = 3) {
  pc::KMeansOptions o;
  o.k = k;
  o.seed = seed;
  o.min_points_per_centroid = 0;  // no small-cluster warnings in these tests
  return o;
}

/// faiss' nearest centroid of every row of x (the reference for torch_kmeans_assign).
torch::Tensor faiss_nearest(const torch::Tensor& x, const torch::Tensor& centroids) {
  faiss::IndexFlatL2 index(x.size(1));
  index.add(centroids.size(0), centroids.contiguous().data_ptr<float>());
  torch::Tensor dist = torch::empty({x.size(0)}, torch::kFloat);
  torch::Tensor assign = torch::empty({x.size(0)}, torch::kLong);
  index.search(x.size(0), x.contiguous().data_ptr<float>(), 1, dist.data_ptr<float>(),
               reinterpret_cast<faiss::Index::idx_t*>(assign.data_ptr<int64_t>()));
  return assign;
}

/// Fraction of rows on which two [N] label tensors agree.
double agreement(const torch::Tensor& a, const torch::Tensor& b) {
  return a.cpu().eq(b.cpu()).to(torch::kDouble).mean().item<double>();
}

int64_t empty_clusters(const pc::KMeansResult& r) {
  return (torch::bincount(r.assignments.cpu(), {}, r.centroids.size(0)) == 0).sum().item<int64_t>();
}

/// Final objective of both backends on the same data and options: within `tolerance`.
void expect_objectives_close(const torch::Tensor& x, const pc::KMeansOptions& opt, double tolerance) {
  const pc::KMeansResult faiss = pc::kmeans_train(x, opt);
  const pc::KMeansResult torch_km = pc::torch_kmeans_train(x, opt);
  ASSERT_EQ(torch_km.objective.size(), static_cast<size_t>(opt.iterations));
  ASSERT_EQ(faiss.objective.size(), static_cast<size_t>(opt.iterations));
  const double f = faiss.objective.back(), t = torch_km.objective.back();
  EXPECT_NEAR(t / f, 1.0, tolerance) << "faiss " << f << ", torch " << t;
  // Per-iteration objective is the sum of squared distances before the update: it cannot
  // rise from one iteration to the next (up to float rounding).
  for (size_t i = 1; i < torch_km.objective.size(); ++i)
    EXPECT_LE(torch_km.objective[i], torch_km.objective[i - 1] * (1 + 1e-5)) << i;
  // The final assignment is every point's nearest centroid, with its squared distance.
  EXPECT_EQ(torch_km.assignments.size(0), x.size(0));
  const torch::Tensor d = (x - torch_km.centroids.index_select(0, torch_km.assignments)).square().sum(1);
  EXPECT_LT((d - torch_km.sq_distances).abs().max().item<float>(), 1e-5f);
  EXPECT_GT(agreement(torch_km.assignments, faiss_nearest(x, torch_km.centroids)), 0.999);
}

}  // namespace

TEST(TorchKMeans, ObjectiveWithinOnePercentOfFaissOnBlobs) {
  // 200 blobs into K = 100 clusters: the optimum merges blobs in many near-equal ways, so
  // local minima of both implementations land within a fraction of a percent.
  const torch::Tensor x = sphere_points(8000, 32, /*blobs=*/200, /*sigma=*/0.05, /*seed=*/1);
  expect_objectives_close(x, options(100), 0.01);
}

TEST(TorchKMeans, ObjectiveWithinOnePercentOfFaissOnUniformData) {
  const torch::Tensor x = sphere_points(10000, 16, /*blobs=*/0, 0, /*seed=*/2);
  auto opt = options(64);
  opt.redo = 2;
  expect_objectives_close(x, opt, 0.01);
}

TEST(TorchKMeans, AssignmentsAgreeWithFaissForTheSameCentroids) {
  const torch::Tensor x = sphere_points(20000, 32, /*blobs=*/50, /*sigma=*/0.2, /*seed=*/4);
  torch::manual_seed(5);
  const torch::Tensor centroids = x.index_select(0, torch::randperm(20000).slice(0, 0, 500)) * 0.9;
  const auto [sq, assign] = pc::torch_kmeans_assign(x, centroids);
  ASSERT_EQ(assign.scalar_type(), torch::kLong);
  EXPECT_GE(agreement(assign, faiss_nearest(x, centroids)), 0.999);
  // Chunking does not change the answer: 7 rows per chunk give what one chunk gives.
  const auto [sq_7, assign_7] = pc::torch_kmeans_assign(x, centroids, /*block_elements=*/7 * 500);
  EXPECT_TRUE(torch::equal(assign_7, assign));
  EXPECT_TRUE(torch::allclose(sq_7, sq, /*rtol=*/0, /*atol=*/1e-6));
  EXPECT_GE(sq.min().item<float>(), 0.f);
  EXPECT_THROW(pc::torch_kmeans_assign(x, centroids.to(torch::kDouble)), protoclr::Error);
  EXPECT_THROW(pc::torch_kmeans_assign(x, centroids.slice(1, 0, 8)), protoclr::Error);
}

TEST(TorchKMeans, EmptyClustersAreSplitLikeFaiss) {
  // Every initial centroid is the same point: after the first assignment K - 1 clusters are
  // empty and only faiss' splitting brings them back.
  const torch::Tensor x = sphere_points(2000, 8, /*blobs=*/20, /*sigma=*/0.05, /*seed=*/6);
  auto opt = options(20);
  opt.init_centroids = x[0].unsqueeze(0).repeat({20, 1});
  const pc::KMeansResult faiss = pc::kmeans_train(x, opt);
  const pc::KMeansResult torch_km = pc::torch_kmeans_train(x, opt);
  ASSERT_EQ(empty_clusters(faiss), 0);
  EXPECT_EQ(empty_clusters(torch_km), 0);
  // The first iteration saw one cluster of everything; later ones the split clusters.
  EXPECT_NEAR(torch_km.objective.front(), faiss.objective.front(), 1e-3 * faiss.objective.front());
  EXPECT_LT(torch_km.objective.back(), 0.5 * torch_km.objective.front());
  EXPECT_NEAR(torch_km.objective.back() / faiss.objective.back(), 1.0, 0.25);

  // K close to N: random starting points, a few clusters empty along the way.
  const torch::Tensor y = sphere_points(300, 4, /*blobs=*/0, 0, /*seed=*/7);
  const pc::KMeansResult faiss_y = pc::kmeans_train(y, options(250));
  const pc::KMeansResult torch_y = pc::torch_kmeans_train(y, options(250));
  if (empty_clusters(faiss_y) == 0) {
    EXPECT_EQ(empty_clusters(torch_y), 0);
  }
  EXPECT_NEAR(torch_y.objective.back() / faiss_y.objective.back(), 1.0, 0.2);

  // N == K: the points are the centroids (faiss' corner case).
  const pc::KMeansResult same = pc::torch_kmeans_train(y.slice(0, 0, 30), options(30));
  EXPECT_TRUE(torch::equal(same.centroids, y.slice(0, 0, 30)));
  EXPECT_EQ(same.objective, std::vector<float>{0.f});
}

TEST(TorchKMeans, SubsamplesToMaxPointsPerCentroid) {
  // K = 8 with 10 points per centroid: 80 of the 4,000 points train, all 4,000 are assigned.
  // The objective sums over the training points only, ~80 / 4000 of the full sum.
  const torch::Tensor x = sphere_points(4000, 8, /*blobs=*/0, 0, /*seed=*/8);
  auto opt = options(8);
  opt.max_points_per_centroid = 10;
  for (const bool use_torch : {false, true}) {
    const pc::KMeansResult r = use_torch ? pc::torch_kmeans_train(x, opt) : pc::kmeans_train(x, opt);
    EXPECT_EQ(r.assignments.size(0), 4000);
    const double ratio = r.objective.back() / r.sq_distances.sum().item<double>();
    EXPECT_GT(ratio, 0.6 * 80 / 4000) << (use_torch ? "torch" : "faiss");
    EXPECT_LT(ratio, 1.4 * 80 / 4000) << (use_torch ? "torch" : "faiss");
  }
  // Without the cap every point trains: the objective is the full sum (converged).
  opt.max_points_per_centroid = 1000;
  opt.iterations = 50;
  const pc::KMeansResult all = pc::torch_kmeans_train(x, opt);
  EXPECT_NEAR(all.objective.back() / all.sq_distances.sum().item<double>(), 1.0, 0.01);
}

TEST(TorchKMeans, WarmStartFromConvergedCentroidsConvergesInOneIteration) {
  const torch::Tensor x = sphere_points(6000, 16, /*blobs=*/40, /*sigma=*/0.1, /*seed=*/9);
  auto opt = options(40);
  opt.iterations = 40;
  const pc::KMeansResult converged = pc::torch_kmeans_train(x, opt);
  const double target = converged.sq_distances.sum().item<double>();  // objective of its centroids

  opt.iterations = 1;
  const pc::KMeansResult cold = pc::torch_kmeans_train(x, opt);
  EXPECT_GT(cold.objective.back(), 1.05 * target);  // one iteration from random points is not enough
  opt.init_centroids = converged.centroids;
  for (const bool use_torch : {true, false}) {
    const pc::KMeansResult warm = use_torch ? pc::torch_kmeans_train(x, opt) : pc::kmeans_train(x, opt);
    ASSERT_EQ(warm.objective.size(), 1u);
    EXPECT_NEAR(warm.objective.front(), target, 1e-4 * target) << (use_torch ? "torch" : "faiss");
  }
  // More restarts: run 0 is the warm one, the others random; the best is kept.
  opt.redo = 3;
  const pc::KMeansResult best = pc::torch_kmeans_train(x, opt);
  EXPECT_LE(best.objective.back(), target * (1 + 1e-4));
  // A warm start of the wrong shape is the caller's mistake.
  opt.init_centroids = converged.centroids.slice(0, 0, 39);
  EXPECT_NE(error_of([&] { pc::torch_kmeans_train(x, opt); }).find("[K, D] = [40, 16]"), std::string::npos);
}

TEST(TorchKMeans, BadInputsThrowTheSameErrorsAsFaiss) {
  torch::Tensor x = torch::randn({5, 4});
  for (const int64_t k : {6, 0, -1}) {
    const std::string faiss = error_of([&] { pc::kmeans_train(x, options(k)); });
    EXPECT_EQ(error_of([&] { pc::torch_kmeans_train(x, options(k)); }), faiss);
    EXPECT_NE(faiss.find("--num-clusters K=" + std::to_string(k)), std::string::npos) << faiss;
  }
  x[3][2] = std::numeric_limits<float>::quiet_NaN();
  const std::string nan = error_of([&] { pc::torch_kmeans_train(x, options(2)); });
  EXPECT_NE(nan.find("NaN or Inf"), std::string::npos) << nan;
  EXPECT_EQ(nan, error_of([&] { pc::kmeans_train(x, options(2)); }));
  EXPECT_THROW(pc::torch_kmeans_train(torch::randn({50}), options(2)), protoclr::Error);
}

TEST(EStepBackend, TorchOnTheCpuAndTheAutoChoice) {
  EXPECT_EQ(pc::parse_kmeans_backend("torch"), pc::KMeansBackend::kTorch);
  EXPECT_EQ(pc::kmeans_backend_name(pc::KMeansBackend::kFaiss), "faiss");
  EXPECT_NE(error_of([] { pc::parse_kmeans_backend("gpu"); }).find("--kmeans-backend 'gpu'"), std::string::npos);
  EXPECT_EQ(pc::resolve_kmeans_backend(pc::KMeansBackend::kAuto, torch::kCPU), pc::KMeansBackend::kFaiss);
  EXPECT_EQ(pc::resolve_kmeans_backend(pc::KMeansBackend::kAuto, torch::Device("cuda:0")), pc::KMeansBackend::kTorch);
  EXPECT_EQ(pc::resolve_kmeans_backend(pc::KMeansBackend::kFaiss, torch::Device("cuda:0")), pc::KMeansBackend::kFaiss);

  const torch::Tensor x = sphere_points(1500, 16, /*blobs=*/30, /*sigma=*/0.1, /*seed=*/10);
  pc::EStepOptions opt;
  opt.num_clusters = {10, 30};
  opt.backend = pc::KMeansBackend::kTorch;
  const pc::EStepResult torch_e = pc::run_e_step(x, opt);
  EXPECT_EQ(torch_e.backend, pc::KMeansBackend::kTorch);
  opt.backend = pc::KMeansBackend::kAuto;
  const pc::EStepResult faiss_e = pc::run_e_step(x, opt);
  EXPECT_EQ(faiss_e.backend, pc::KMeansBackend::kFaiss);
  for (size_t m = 0; m < 2; ++m) {
    const pc::ClusterLevel& l = torch_e.levels[m];
    EXPECT_TRUE(l.prototypes.device().is_cpu() && l.phi.device().is_cpu() && l.assignments.device().is_cpu());
    EXPECT_NEAR(l.phi.mean().item<double>(), 0.2, 1e-5);
    EXPECT_TRUE(torch::allclose(l.prototypes.norm(2, 1), torch::ones({l.k}), 1e-5, 1e-5));
    EXPECT_NEAR(l.objective.back() / faiss_e.levels[m].objective.back(), 1.0, 0.05);
  }
  // Warm start through the E-step: level m's run 0 starts from init_centroids[m].
  opt.backend = pc::KMeansBackend::kTorch;
  // The prototypes are the normalised centroids: one update takes them to the means.
  opt.iterations = 2;
  opt.init_centroids = {torch::Tensor(), torch_e.levels[1].prototypes};
  const pc::EStepResult warm = pc::run_e_step(x, opt);
  EXPECT_LT(warm.levels[1].objective.back(), 1.01 * torch_e.levels[1].objective.back());
  opt.init_centroids = {};
  EXPECT_GT(pc::run_e_step(x, opt).levels[1].objective.back(), 1.01 * torch_e.levels[1].objective.back());
  opt.init_centroids = {torch::Tensor()};
  EXPECT_THROW(pc::run_e_step(x, opt), protoclr::Error);
}

TEST(TorchKMeansCuda, MatchesTheCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const torch::Tensor x = sphere_points(20000, 32, /*blobs=*/100, /*sigma=*/0.1, /*seed=*/11);
  const torch::Tensor xc = x.to(torch::kCUDA);
  auto opt = options(100);
  const pc::KMeansResult cpu = pc::torch_kmeans_train(x, opt);
  const pc::KMeansResult gpu = pc::torch_kmeans_train(xc, opt);
  ASSERT_TRUE(gpu.centroids.is_cuda() && gpu.assignments.is_cuda() && gpu.sq_distances.is_cuda());
  // Same seeds, same starting points (drawn on the CPU): the same clustering up to the
  // order of float sums (which can tip a near-tie and with it a local minimum).
  EXPECT_NEAR(gpu.objective.back() / cpu.objective.back(), 1.0, 0.01);
  // The same centroids give the same assignments on both devices.
  const auto [sq_g, assign_g] = pc::torch_kmeans_assign(xc, cpu.centroids.to(torch::kCUDA));
  const auto [sq_c, assign_c] = pc::torch_kmeans_assign(x, cpu.centroids);
  EXPECT_GE(agreement(assign_g, assign_c), 0.999);
  EXPECT_LT((sq_g.cpu() - sq_c).abs().max().item<float>(), 1e-5f);
  // phi on the device equals phi on the CPU for the same inputs.
  const torch::Tensor phi_gpu = pc::concentration(sq_c.cuda(), assign_c.cuda(), 100, {});
  ASSERT_TRUE(phi_gpu.is_cuda());
  const torch::Tensor phi_cpu = pc::concentration(sq_c, assign_c, 100, {});
  EXPECT_TRUE(torch::allclose(phi_gpu.cpu(), phi_cpu, /*rtol=*/1e-6, /*atol=*/0));
  // Splitting on the device: all initial centroids the same point.
  opt.init_centroids = x[0].unsqueeze(0).repeat({100, 1});
  EXPECT_EQ(empty_clusters(pc::torch_kmeans_train(xc, opt)), 0);
  // The E-step on CUDA features picks the torch backend and returns CPU tensors.
  pc::EStepOptions e;
  e.num_clusters = {50};
  const pc::EStepResult r = pc::run_e_step(xc, e);
  EXPECT_EQ(r.backend, pc::KMeansBackend::kTorch);
  EXPECT_TRUE(r.levels[0].phi.device().is_cpu());
  EXPECT_NEAR(r.levels[0].phi.mean().item<double>(), 0.2, 1e-5);
}
