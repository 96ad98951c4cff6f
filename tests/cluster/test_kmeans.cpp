// k-means (faiss) and the whole E-step on synthetic data.
#include <gtest/gtest.h>
#include <omp.h>
#include <torch/torch.h>

#include <functional>
#include <limits>
#include <set>
#include <string>

#include "protoclr/cluster/e_step.h"
#include "protoclr/cluster/kmeans.h"
#include "protoclr/core/error.h"

namespace pc = protoclr::cluster;

namespace {

/// `blobs` Gaussian blobs of `per_blob` points each in D = 8 around far-apart centres;
/// labels[i] is the blob of point i.
torch::Tensor make_blobs(int64_t blobs, int64_t per_blob, torch::Tensor* labels) {
  torch::manual_seed(1);
  const torch::Tensor centres = torch::randn({blobs, 8}) * 10;
  *labels = torch::arange(blobs, torch::kLong).repeat_interleave(per_blob);
  return centres.index_select(0, *labels) + 0.05 * torch::randn({blobs * per_blob, 8});
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const protoclr::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(KMeans, RecoversBlobs) {
  torch::Tensor labels;
  const torch::Tensor x = make_blobs(4, 50, &labels);
  pc::KMeansOptions opt;
  opt.k = 4;
  opt.redo = 3;
  const pc::KMeansResult r = pc::kmeans_train(x, opt);
  ASSERT_EQ(r.centroids.sizes(), (std::vector<int64_t>{4, 8}));
  ASSERT_EQ(r.assignments.sizes(), (std::vector<int64_t>{200}));
  ASSERT_EQ(r.assignments.scalar_type(), torch::kLong);
  ASSERT_EQ(r.sq_distances.scalar_type(), torch::kFloat);
  EXPECT_EQ(r.objective.size(), 20u);
  // Each blob maps to a single cluster, and distinct blobs to distinct clusters.
  std::set<int64_t> used;
  for (int64_t b = 0; b < 4; ++b) {
    const torch::Tensor a = r.assignments.slice(0, b * 50, (b + 1) * 50);
    EXPECT_TRUE(a.eq(a[0]).all().item<bool>()) << "blob " << b << " split";
    used.insert(a[0].item<int64_t>());
  }
  EXPECT_EQ(used.size(), 4u);
  // Points lie within the blob noise of their centroid: E||noise||^2 = 8 * 0.05^2 = 0.02.
  EXPECT_LT(r.sq_distances.max().item<float>(), 0.2f);
  EXPECT_GE(r.sq_distances.min().item<float>(), -2e-3f);
  // sq_distances agree with the centroids (faiss expands ‖x‖² + ‖c‖² - 2x·c in float32 with
  // ‖x‖² ~ 800 here, so allow ~1e-3 absolute).
  const torch::Tensor d = (x - r.centroids.index_select(0, r.assignments)).pow(2).sum(1);
  EXPECT_LT((d - r.sq_distances).abs().max().item<float>(), 2e-3f);
}

TEST(KMeans, KLargerThanNThrowsNamingFlag) {
  const torch::Tensor x = torch::randn({5, 4});
  pc::KMeansOptions opt;
  opt.k = 6;
  const std::string msg = error_of([&] { pc::kmeans_train(x, opt); });
  EXPECT_NE(msg.find("--num-clusters K=6"), std::string::npos) << msg;
  EXPECT_NE(msg.find("N=5"), std::string::npos) << msg;
  opt.k = 0;
  EXPECT_THROW(pc::kmeans_train(x, opt), protoclr::Error);
}

TEST(KMeans, NaNThrows) {
  torch::Tensor x = torch::randn({50, 4});
  x[3][2] = std::numeric_limits<float>::quiet_NaN();
  pc::KMeansOptions opt;
  opt.k = 2;
  const std::string msg = error_of([&] { pc::kmeans_train(x, opt); });
  EXPECT_NE(msg.find("NaN or Inf"), std::string::npos) << msg;
  x[3][2] = std::numeric_limits<float>::infinity();
  EXPECT_THROW(pc::kmeans_train(x, opt), protoclr::Error);
  EXPECT_THROW(pc::kmeans_train(torch::randn({50}), opt), protoclr::Error);
}

TEST(KMeans, AcceptsDoubleNonContiguousAndSetsThreads) {
  torch::Tensor labels;
  const torch::Tensor x = make_blobs(3, 40, &labels).to(torch::kDouble).t().contiguous().t();
  ASSERT_FALSE(x.is_contiguous());
  pc::KMeansOptions opt;
  opt.k = 3;
  opt.threads = 1;
  const int before = omp_get_max_threads();
  const pc::KMeansResult r = pc::kmeans_train(x, opt);
  EXPECT_EQ(omp_get_max_threads(), before);  // restored after faiss ran with 1 thread
  EXPECT_EQ(std::get<0>(at::_unique(r.assignments)).numel(), 3);
}

TEST(EStep, LevelsAreConsistentAndDeterministic) {
  torch::manual_seed(2);
  const int64_t n = 600;
  const torch::Tensor x = torch::nn::functional::normalize(
      torch::randn({n, 16}), torch::nn::functional::NormalizeFuncOptions().dim(1));
  pc::EStepOptions opt;
  opt.num_clusters = {5, 12};
  opt.seed = 7;
  opt.concentration.temperature = 0.3;
  const pc::EStepResult a = pc::run_e_step(x, opt);
  ASSERT_EQ(a.levels.size(), 2u);
  for (size_t m = 0; m < 2; ++m) {
    const pc::ClusterLevel& l = a.levels[m];
    EXPECT_EQ(l.k, opt.num_clusters[m]);
    ASSERT_EQ(l.prototypes.sizes(), (std::vector<int64_t>{l.k, 16}));
    EXPECT_TRUE(torch::allclose(l.prototypes.norm(2, 1), torch::ones({l.k}), 1e-5, 1e-5));
    ASSERT_EQ(l.assignments.sizes(), (std::vector<int64_t>{n}));
    EXPECT_EQ(l.counts.scalar_type(), torch::kLong);
    EXPECT_EQ(l.counts.sum().item<int64_t>(), n);
    EXPECT_TRUE(torch::equal(l.counts, torch::bincount(l.assignments, {}, l.k)));
    ASSERT_EQ(l.phi.sizes(), (std::vector<int64_t>{l.k}));
    EXPECT_NEAR(l.phi.mean().item<double>(), 0.3, 1e-5);
    EXPECT_GT(l.phi.min().item<float>(), 0.f);
    EXPECT_EQ(l.objective.size(), 20u);
    EXPECT_GE(l.seconds, 0.0);
  }
  const pc::EStepResult b = pc::run_e_step(x, opt);
  for (size_t m = 0; m < 2; ++m) {
    EXPECT_TRUE(torch::equal(a.levels[m].assignments, b.levels[m].assignments));
    EXPECT_TRUE(torch::equal(a.levels[m].prototypes, b.levels[m].prototypes));
    EXPECT_TRUE(torch::equal(a.levels[m].phi, b.levels[m].phi));
  }
  // Level m uses seed + m: level 0 of a run seeded 8 equals level 1 of the run seeded 7.
  pc::EStepOptions shifted = opt;
  shifted.num_clusters = {12};
  shifted.seed = 8;
  const pc::EStepResult c = pc::run_e_step(x, shifted);
  EXPECT_TRUE(torch::equal(c.levels[0].assignments, a.levels[1].assignments));
}

TEST(EStep, ChecksNumClustersFirst) {
  EXPECT_NO_THROW(pc::check_num_clusters({10, 20}, 20));
  const std::string msg = error_of([] { pc::check_num_clusters({10, 50}, 20); });
  EXPECT_NE(msg.find("--num-clusters K=50"), std::string::npos) << msg;
  EXPECT_NE(msg.find("N=20"), std::string::npos) << msg;
  EXPECT_THROW(pc::check_num_clusters({0}, 20), protoclr::Error);
  // run_e_step checks every K before clustering any level.
  pc::EStepOptions opt;
  opt.num_clusters = {2, 100};
  EXPECT_THROW(pc::run_e_step(torch::randn({20, 4}), opt), protoclr::Error);
  opt.num_clusters = {};
  EXPECT_TRUE(pc::run_e_step(torch::randn({20, 4}), opt).levels.empty());
}
