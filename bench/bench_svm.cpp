// SVM probe timings, one JSON line per measurement (wall seconds, one run each):
//   svm_evaluate at N = 10,000 train / 2,000 test, D = 512, 10 classes, 5 costs
//   (0.01 .. 100), 2 threads, with test-max and with 3-fold cross-validation;
//   svm_low_shot at k = 1,2,4,8,16 x 5 runs on the same features with the 26 default costs.
// Features: 10 Gaussian clusters with unit noise (overlapping, as real features are).
//   ./build/bench_svm [threads]
#include <torch/torch.h>

#include <cstdio>
#include <cstdlib>

#include "protoclr/core/log.h"
#include "protoclr/eval/low_shot.h"
#include "protoclr/eval/svm.h"

int main(int argc, char** argv) {
  using namespace protoclr::eval;
  protoclr::log::set_level(protoclr::log::Level::kWarn);
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  torch::manual_seed(0);
  const int64_t classes = 10, dim = 512, n = 10000, m = 2000;
  const auto centres = torch::randn({classes, dim}) * 0.15;
  auto make = [&](int64_t rows) {
    auto labels = torch::arange(classes, torch::kLong).repeat(rows / classes);
    auto x = torch::relu(centres.index({labels}) + torch::randn({rows, dim}) * 0.1 + 0.1);
    return std::make_pair(x, labels);
  };
  const auto [xtr, ytr] = make(n);
  const auto [xte, yte] = make(m);
  SvmOptions o;
  o.costs = {0.01, 0.1, 1.0, 10.0, 100.0};
  o.threads = threads;
  for (CostSelection s : {CostSelection::kTestMax, CostSelection::kCrossValidation}) {
    o.selection = s;
    const SvmReport r = svm_evaluate(xtr, {ytr, {}}, xte, {yte, {}}, o);
    std::printf("{\"bench\": \"svm_evaluate\", \"selection\": \"%s\", \"n\": %lld, \"d\": %lld, \"classes\": %lld, "
                "\"costs\": %zu, \"threads\": %d, \"seconds\": %.2f, \"top1\": %.2f, \"cost\": %g}\n",
                cost_selection_name(s).c_str(), static_cast<long long>(n), static_cast<long long>(dim),
                static_cast<long long>(classes), o.costs.size(), threads, r.seconds, r.value, r.selected_cost);
    std::fflush(stdout);
  }
  SvmOptions lo;
  lo.threads = threads;
  const LowShotReport l = svm_low_shot(xtr, {ytr, {}}, xte, {yte, {}}, {1, 2, 4, 8, 16}, 5, lo);
  std::printf("{\"bench\": \"svm_low_shot\", \"shots\": \"1,2,4,8,16\", \"runs\": 5, \"costs\": %zu, \"threads\": %d, "
              "\"seconds\": %.2f",
              lo.costs.size(), threads, l.seconds);
  for (const auto& f : l.shots) std::printf(", \"k%lld\": %.2f", static_cast<long long>(f.shots), f.mean);
  std::printf("}\n");
  return 0;
}
