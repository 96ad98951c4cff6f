// t-SNE wall time, one JSON line per run: Gaussian mixture (10 classes) in D = 128 with
// 2 torch threads, N = 2,000 and 10,000 by default (Barnes-Hut), and the exact gradient at
// N = 1,000 for comparison.
//   bench_tsne [N ...]          e.g. bench_tsne 2000 10000
//   PROTOCLR_TSNE_METHOD=exact|bh|auto, PROTOCLR_TSNE_THREADS=2
#include <torch/torch.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "protoclr/core/log.h"
#include "protoclr/eval/tsne.h"

namespace {

void run(int64_t n, int64_t d, protoclr::eval::TsneMethod method, const char* method_name) {
  torch::manual_seed(0);
  const int64_t classes = 10;
  const auto centres = torch::randn({classes, d}) * 2.0;
  const auto labels = torch::arange(n) % classes;
  const auto x = centres.index({labels}) + torch::randn({n, d});
  protoclr::eval::TsneOptions options;
  options.method = method;
  const auto r = protoclr::eval::tsne(x, options);
  std::printf("{\"bench\":\"tsne\",\"n\":%lld,\"dim\":%lld,\"threads\":%d,\"method\":\"%s\",\"barnes_hut\":%s,"
              "\"iterations\":%lld,\"kl\":%.4f,\"seconds\":%.2f}\n",
              static_cast<long long>(n), static_cast<long long>(d), torch::get_num_threads(), method_name,
              r.barnes_hut ? "true" : "false", static_cast<long long>(r.iterations), r.kl, r.seconds);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  const char* threads_env = std::getenv("PROTOCLR_TSNE_THREADS");
  torch::set_num_threads(threads_env ? std::atoi(threads_env) : 2);
  const char* method_env = std::getenv("PROTOCLR_TSNE_METHOD");
  const std::string method_name = method_env ? method_env : "";
  auto method = protoclr::eval::TsneMethod::kAuto;
  if (method_name == "exact") method = protoclr::eval::TsneMethod::kExact;
  if (method_name == "bh") method = protoclr::eval::TsneMethod::kBarnesHut;
  std::vector<int64_t> sizes;
  for (int i = 1; i < argc; ++i) sizes.push_back(std::atoll(argv[i]));
  if (sizes.empty()) {
    run(1000, 128, protoclr::eval::TsneMethod::kExact, "exact");
    run(1000, 128, protoclr::eval::TsneMethod::kBarnesHut, "bh");
    sizes = {2000, 10000};
  }
  for (int64_t n : sizes) run(n, 128, method, method_name.empty() ? "auto" : method_name.c_str());
  return 0;
}
