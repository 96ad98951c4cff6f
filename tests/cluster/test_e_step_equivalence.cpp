// The E-step against the published one: tests/cluster/make_e_step_reference.py runs
// main_pcl.py's run_kmeans (faiss Clustering, niter 20, nredo 5, phi with Python loops) on
// fixed features; run_e_step on the same features with the same seeds must find the same
// clusters, prototypes and phi (eq. (12)).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "protoclr/cluster/e_step.h"
#include "support/python.h"
#include "support/temp_dir.h"

namespace protoclr::cluster {
namespace {

torch::Tensor read_raw(const std::filesystem::path& path, torch::ScalarType type, std::vector<int64_t> shape) {
  auto t = torch::empty(shape, type);
  std::ifstream in(path, std::ios::binary);
  in.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(t.nbytes()));
  EXPECT_TRUE(in.good()) << path;
  return t;
}

TEST(EStepEquivalence, SameClustersPrototypesAndPhiAsPublished) {
  REQUIRE_PYTHON_MODULES("faiss and numpy", test_support::have_python_modules("faiss, numpy"));
  test_support::TempDir dir;
  std::string log;
  ASSERT_EQ(test_support::run_python(test_support::source_path("tests/cluster/make_e_step_reference.py"),
                                     dir.path().string(), &log),
            0)
      << log;
  const int64_t n = 3000, d = 16;
  const std::vector<int64_t> ks = {20, 60};
  const auto features = read_raw(dir.path() / "features.f32", torch::kFloat, {n, d});
  EStepOptions o;
  o.num_clusters = ks;
  o.iterations = 20;
  o.redo = 5;
  o.seed = 0;  // level m with seed m, as the script
  o.concentration.temperature = 0.2;
  const auto result = run_e_step(features, o);
  ASSERT_EQ(result.levels.size(), ks.size());
  for (size_t m = 0; m < ks.size(); ++m) {
    const auto& level = result.levels[m];
    const auto m_str = std::to_string(m);
    const auto assign = read_raw(dir.path() / ("assign" + m_str + ".i64"), torch::kLong, {n});
    const auto centroids = read_raw(dir.path() / ("centroids" + m_str + ".f32"), torch::kFloat, {ks[m], d});
    const auto phi = read_raw(dir.path() / ("phi" + m_str + ".f32"), torch::kFloat, {ks[m]});
    // Same faiss, same seed, same points: the same clustering, up to a near-tie or two.
    const double disagree = (level.assignments != assign).to(torch::kDouble).mean().item<double>();
    EXPECT_LE(disagree, 0.002) << "K=" << ks[m];
    EXPECT_LE((level.prototypes - centroids).abs().max().item<double>(), 1e-4) << "K=" << ks[m];
    EXPECT_LE(((level.phi - phi).abs() / phi).max().item<double>(), 1e-4) << "K=" << ks[m];
  }
}

}  // namespace
}  // namespace protoclr::cluster

// Catches: assignments of clustered rows moved to the wrong dataset rows, or an unreadable
// image given a prototype (it had no feature).
TEST(EStep, AssignmentsOfFeatureRowsMoveToTheirDatasetRows) {
  protoclr::cluster::EStepResult r;
  protoclr::cluster::ClusterLevel level;
  level.k = 2;
  level.assignments = torch::tensor({1, 0, 1}, torch::kLong);
  r.levels = {level, level};
  protoclr::cluster::assign_dataset_rows(r, torch::tensor({0, 2, 3}, torch::kLong), 5);
  for (const auto& l : r.levels) EXPECT_TRUE(torch::equal(l.assignments, torch::tensor({1, -1, 0, 1, -1}, torch::kLong)));
}
