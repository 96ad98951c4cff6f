// The collection index's own costs (search/index.h, search/dedupe.h), apart from embedding
// the images (the feature extraction's speed is measured elsewhere): one JSON line per
// structure and size, on synthetic unit vectors, with
//   build_seconds  (faiss add: the exact index copies; HNSW builds its graph),
//   query_ms_p50 / query_ms_p99  (one query at a time, top 10, as `protoclr search` asks),
//   recall_at_10   (against exact search on the same vectors),
//   dedupe_seconds (the pass `protoclr dedupe` makes: every row's 16 nearest),
//   peak_resident_mib (the process so far).
// Random directions are HNSW's hard case (no clusters to follow); image embeddings cluster.
//   build/bench_search                      # N = 50,000, D = 128: exact and HNSW
//   build/bench_search --n 500000 --threads 2
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "protoclr/search/dedupe.h"
#include "protoclr/search/index.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace ps = protoclr::search;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double peak_resident_mib() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench_search: index build, query latency, recall and dedupe time on synthetic embeddings"};
  int64_t n = 50'000, d = 128, queries = 200;
  int threads = 2;
  app.add_option("--n", n, "Images (rows)")->capture_default_str();
  app.add_option("--d", d, "Embedding size")->capture_default_str();
  app.add_option("--queries", queries, "Queries timed")->capture_default_str();
  app.add_option("--threads", threads, "torch and faiss (OpenMP) threads")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  torch::set_num_threads(threads);
  torch::manual_seed(0);
  torch::Tensor base = torch::randn({n, d});
  base /= base.norm(2, 1, true);
  std::vector<ps::CollectionFile> files(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) files[static_cast<size_t>(i)].path = "img/" + std::to_string(i) + ".jpg";
  // Queries near collection images (as a photo of the same scene would be), not on them.
  torch::Tensor q = base.slice(0, 0, queries) + 0.05 * torch::randn({queries, d});
  q /= q.norm(2, 1, true);

  std::vector<std::vector<ps::Neighbour>> truth;
  for (const bool hnsw : {false, true}) {
    ps::IndexOptions options;
    options.exact_up_to = hnsw ? 0 : n;
    const auto t0 = Clock::now();
    ps::CollectionIndex index(files, base, nullptr, options);
    const double build = seconds_since(t0);
    std::vector<double> ms;
    std::vector<std::vector<ps::Neighbour>> found;
    for (int64_t i = 0; i < queries; ++i) {
      const auto t = Clock::now();
      found.push_back(index.search(q.slice(0, i, i + 1), 10)[0]);
      ms.push_back(seconds_since(t) * 1000);
    }
    std::sort(ms.begin(), ms.end());
    if (!hnsw) truth = found;
    int64_t hits = 0;
    for (size_t i = 0; i < found.size(); ++i) {
      std::set<int64_t> exact;
      for (const auto& nb : truth[i]) exact.insert(nb.row);
      for (const auto& nb : found[i]) hits += static_cast<int64_t>(exact.count(nb.row));
    }
    const auto t1 = Clock::now();
    const auto groups = ps::near_duplicates(index, {});
    const double dedupe = seconds_since(t1);
    nlohmann::ordered_json line{{"structure", hnsw ? "hnsw" : "exact"},
                                {"n", n},
                                {"d", d},
                                {"threads", threads},
                                {"build_seconds", build},
                                {"query_ms_p50", ms[ms.size() / 2]},
                                {"query_ms_p99", ms[std::min(ms.size() - 1, ms.size() * 99 / 100)]},
                                {"recall_at_10", static_cast<double>(hits) / (10.0 * static_cast<double>(queries))},
                                {"dedupe_seconds", dedupe},
                                {"dedupe_groups", groups.size()},
                                {"peak_resident_mib", peak_resident_mib()}};
    std::printf("%s\n", line.dump().c_str());
    std::fflush(stdout);
  }
  return 0;
}
