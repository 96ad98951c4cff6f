// E-step and prototype-loss timings, one JSON line per measurement:
//   concentration (eq. (12)) at N = 10,000 / K = 500 and N = 1.28M / K = 25,000 (ms);
//   negative sampling + proto_logits at K = 100,000, r = 16,000, B = 256, D = 128
//   (ms per granularity, forward, 2 torch threads);
//   k-means + phi (run_e_step) at N = 10,000, D = 128, K = 100 / 200 / 500, redo 5 (s).
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
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

}  // namespace

int main() {
  protoclr::log::set_level(protoclr::log::Level::kWarn);
  std::printf("{\"bench\":\"blas\",\"kernels\":\"%s\"}\n", protoclr::blas::describe().c_str());
  bench_concentration(10000, 500, 50);
  bench_concentration(1281167, 25000, 10);
  bench_proto_logits();
  bench_kmeans();
  return 0;
}
