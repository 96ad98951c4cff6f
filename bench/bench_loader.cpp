// Input pipeline throughput: two mocov2 views per image, as training consumes them.
// Usage: bench_loader DATA [--size 224] [--workers 2] [--images 2048] [--batch 64]
// Prints one JSON line: {"phase":"loader","size":..,"workers":..,"images":..,"img_per_s":..}
// Compare with ../shared/bench/ref_loader.py DATA SIZE WORKERS N in the same sitting.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <torch/torch.h>

#include "protoclr/data/loader.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DATA [--size S] [--workers W] [--images N] [--batch B] [--channels-last]\n", argv[0]);
    return 2;
  }
  std::string data = argv[1];
  int size = 224, workers = 2, images = 2048, batch = 64;
  bool channels_last = false;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&] { return i + 1 < argc ? std::atoi(argv[++i]) : 0; };
    if (a == "--size") size = next();
    else if (a == "--workers") workers = next();
    else if (a == "--images") images = next();
    else if (a == "--batch") batch = next();
    else if (a == "--channels-last") channels_last = true;
  }
  try {
    protoclr::data::DatasetOptions dopt;
    dopt.limit = images;  // a class-balanced subset of N images
    auto ds = protoclr::data::open_dataset(data, dopt);
    protoclr::data::LoaderOptions o;
    o.batch_size = batch;
    o.workers = workers;
    o.channels_last = channels_last;
    protoclr::data::Loader loader(ds, protoclr::data::Augmentation(protoclr::data::AugmentOptions::mocov2(size)), o);
    loader.start_epoch(0);
    const auto t0 = std::chrono::steady_clock::now();
    int64_t count = 0;
    while (auto b = loader.next()) count += b->index.size(0);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("{\"phase\":\"loader\",\"size\":%d,\"workers\":%d,\"images\":%lld,\"seconds\":%.2f,\"img_per_s\":%.1f}\n",
                size, workers, static_cast<long long>(count), s, count / s);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
