// E-step and prototype-loss timings, one JSON line per measurement. With no flags:
//   concentration (eq. (12)) at N = 10,000 / K = 500 and N = 1.28M / K = 25,000 (ms);
//   negative sampling + proto_logits at K = 100,000, r = 16,000, B = 256, D = 128
//   (ms per granularity, forward, 2 torch threads);
//   k-means + phi (run_e_step) at N = 10,000, D = 128, K = 100 / 200 / 500, redo 5 (s).
// With --estep: one whole E-step (run_e_step) on synthetic unit vectors, by default the
// paper's scale (N = 1.28M, D = 128, K = 25,000 / 50,000 / 100,000, 20 iterations, 1 run),
// on --device with --backend; seconds per level and in total:
//   build/bench_estep --estep --device cuda --backend torch
//   build/bench_estep --estep --n 20000 --k 100,200 --backend faiss   # a small CPU check
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "protoclr/cluster/concentration.h"
#include "protoclr/cluster/e_step.h"
#include "protoclr/cluster/prototype_sampler.h"
#include "protoclr/core/blas.h"
#include "protoclr/core/log.h"
#include "protoclr/core/rng.h"
#include "protoclr/loss/proto_nce.h"

namespace {

using Clock = std::chrono::steady_clock;

/// Median wall time in milliseconds of `reps` calls after one warm-up call.
double median_ms(int reps, const std::function<void()>& f) {
  f();
  std::vector<double> ms;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = Clock::now();
    f();
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

void bench_concentration(int64_t n, int64_t k, int reps) {
  torch::manual_seed(0);
  const torch::Tensor sq = torch::rand({n}) * 0.5;
  const torch::Tensor assign = torch::randint(0, k, {n}, torch::kLong);
  const double ms = median_ms(reps, [&] { protoclr::cluster::concentration(sq, assign, k, {}); });
  std::printf("{\"bench\":\"concentration\",\"n\":%lld,\"k\":%lld,\"ms\":%.3f}\n",
              static_cast<long long>(n), static_cast<long long>(k), ms);
}

void bench_proto_logits() {
  const int64_t k = 100000, r = 16000, b = 256, d = 128;
  torch::set_num_threads(2);
  torch::manual_seed(0);
  namespace F = torch::nn::functional;
  const torch::Tensor protos = F::normalize(torch::randn({k, d}), F::NormalizeFuncOptions().dim(1));
  const torch::Tensor phi = 0.2 * (0.5 + torch::rand({k}));
  const torch::Tensor scaled = protoclr::loss::scale_prototypes(protos, phi);
  const torch::Tensor q = F::normalize(torch::randn({b, d}), F::NormalizeFuncOptions().dim(1));
  protoclr::cluster::NegativePrototypeSampler sampler(k);
  protoclr::Rng rng(1);
  std::vector<int64_t> pos(b);
  auto draw_positives = [&] {
    for (auto& p : pos) p = static_cast<int64_t>(protoclr::uniform_index(rng, k));
  };
  const double sample_ms = median_ms(50, [&] {
    draw_positives();
    sampler.sample(pos.data(), pos.size(), r, rng);
  });
  torch::NoGradGuard no_grad;
  const double total_ms = median_ms(30, [&] {
    draw_positives();
    std::vector<int64_t> neg = sampler.sample(pos.data(), pos.size(), r, rng);
    const torch::Tensor pos_t = torch::tensor(pos, torch::kLong);
    const torch::Tensor neg_t = torch::from_blob(neg.data(), {static_cast<int64_t>(neg.size())}, torch::kLong);
    const torch::Tensor logits = protoclr::loss::proto_logits(q, scaled, pos_t, neg_t);
    TORCH_INTERNAL_ASSERT(logits.size(1) == b + r);
  });
  std::printf("{\"bench\":\"sampler+proto_logits\",\"k\":%lld,\"r\":%lld,\"batch\":%lld,\"dim\":%lld,"
              "\"threads\":2,\"sampler_ms\":%.3f,\"ms_per_granularity\":%.3f}\n",
              static_cast<long long>(k), static_cast<long long>(r), static_cast<long long>(b),
              static_cast<long long>(d), sample_ms, total_ms);
}

void bench_kmeans() {
  const int64_t n = 10000, d = 128;
  torch::manual_seed(0);
  namespace F = torch::nn::functional;
  const torch::Tensor x = F::normalize(torch::randn({n, d}), F::NormalizeFuncOptions().dim(1));
  for (int64_t k : {100, 200, 500}) {
    protoclr::cluster::EStepOptions opt;
    opt.num_clusters = {k};
    opt.redo = 5;
    const auto t0 = Clock::now();
    const auto res = protoclr::cluster::run_e_step(x, opt);
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    std::printf("{\"bench\":\"kmeans+phi\",\"n\":%lld,\"dim\":%lld,\"k\":%lld,\"redo\":5,\"seconds\":%.3f}\n",
                static_cast<long long>(n), static_cast<long long>(d), static_cast<long long>(k), s);
    (void)res;
  }
}

/// One E-step as the trainer runs it, at the size and on the device and backend asked for.
struct EStepBench {
  int64_t n = 1281167;                          ///< points (ImageNet's training set)
  int64_t dim = 128;                            ///< embedding size
  std::vector<int64_t> k = {25000, 50000, 100000};  ///< granularities
  int iterations = 20;                          ///< k-means iterations
  int redo = 1;                                 ///< k-means runs per level
  std::string device = "cpu";                   ///< where the features are
  std::string backend = "auto";                 ///< --kmeans-backend
  int threads = 0;                              ///< LibTorch and faiss (OpenMP) threads; 0 = leave
};

void bench_one_estep(const EStepBench& b) {
  const torch::Device device(b.device);
  if (b.threads > 0) torch::set_num_threads(b.threads);
  torch::manual_seed(0);
  namespace F = torch::nn::functional;
  const torch::Tensor x = F::normalize(torch::randn({b.n, b.dim}, torch::TensorOptions().device(device)),
                                       F::NormalizeFuncOptions().dim(1));
  protoclr::cluster::EStepOptions opt;
  opt.num_clusters = b.k;
  opt.iterations = b.iterations;
  opt.redo = b.redo;
  opt.backend = protoclr::cluster::parse_kmeans_backend(b.backend);
  opt.threads = b.threads;
  const auto res = protoclr::cluster::run_e_step(x, opt);
  nlohmann::json line = {{"bench", "estep"}, {"n", b.n}, {"dim", b.dim}, {"k", b.k},
                         {"iterations", b.iterations}, {"redo", b.redo}, {"device", b.device},
                         {"backend", protoclr::cluster::kmeans_backend_name(res.backend)},
                         {"threads", torch::get_num_threads()}};
  for (const auto& level : res.levels) {
    line["level_seconds"].push_back(level.seconds);
    line["objective"].push_back(level.objective.back());
  }
  line["seconds"] = res.seconds;
  std::printf("%s\n", line.dump().c_str());
}

}  // namespace

int main(int argc, char** argv) {
  protoclr::log::set_level(protoclr::log::Level::kWarn);
  CLI::App app("E-step and prototype-loss timings");
  bool estep = false;
  EStepBench b;
  app.add_flag("--estep", estep, "Time one whole E-step (the flags below) instead of the micro-benchmarks");
  app.add_option("--n", b.n, "Points")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--dim", b.dim, "Embedding size")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--k", b.k, "K per level")->delimiter(',')->check(CLI::PositiveNumber);
  app.add_option("--iterations", b.iterations, "k-means iterations")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--redo", b.redo, "k-means runs per level")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--device", b.device, "cpu or cuda[:N]")->capture_default_str();
  app.add_option("--backend", b.backend, "k-means backend")
      ->capture_default_str()
      ->check(CLI::IsMember(protoclr::cluster::kmeans_backend_names()));
  app.add_option("--threads", b.threads, "LibTorch and faiss threads (0 = their defaults)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (estep) {
    bench_one_estep(b);
    return 0;
  }
  std::printf("{\"bench\":\"blas\",\"kernels\":\"%s\"}\n", protoclr::blas::describe().c_str());
  bench_concentration(10000, 500, 50);
  bench_concentration(1281167, 25000, 10);
  bench_proto_logits();
  bench_kmeans();
  return 0;
}
