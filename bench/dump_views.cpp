// Two augmented training views of every image of DATA, as the trainer's loader makes them,
// written raw for bench/augment_stats.py, which compares their statistics with torchvision's
// pipeline on the same images (docs/BENCHMARKS.md, "Fidelity").
// Usage: dump_views DATA OUT.f32 [--size 32] [--aug mocov2] [--crop-scale 0.2] [--seed 0] [--epoch 0]
// (bench/ref_train.py --views DIR trains on such files: DIR/views_e{epoch}.f32, the same views
// protoclr's loader gives that epoch with that seed.)
// OUT.f32: float32 [N, 2, 3, S, S] in dataset order (normalised with ImageNet's mean and std).
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include <torch/torch.h>

#include "protoclr/data/loader.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s DATA OUT.f32 [--size S] [--aug mocov1|mocov2] [--crop-scale C] [--seed N] [--epoch E]\n",
                 argv[0]);
    return 2;
  }
  int size = 32;
  std::string aug = "mocov2";
  double crop_scale = 0.2;
  uint64_t seed = 0;
  int64_t epoch = 0;
  for (int i = 3; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--size") size = std::atoi(v.c_str());
    else if (a == "--aug") aug = v;
    else if (a == "--crop-scale") crop_scale = std::atof(v.c_str());
    else if (a == "--seed") seed = std::strtoull(v.c_str(), nullptr, 10);
    else if (a == "--epoch") epoch = std::atoll(v.c_str());
  }
  try {
    auto ds = protoclr::data::open_dataset(argv[1], protoclr::data::DatasetOptions{});
    auto options = protoclr::data::AugmentOptions::from_name(aug, size);
    options.crop_scale[0] = crop_scale;
    protoclr::data::LoaderOptions o;
    o.batch_size = 64;
    o.workers = 2;
    o.views = 2;
    o.seed = seed;
    o.drop_last = false;
    protoclr::data::Loader loader(ds, protoclr::data::Augmentation(options), o);
    loader.start_epoch(epoch);
    const int64_t n = static_cast<int64_t>(ds->size());
    auto all = torch::zeros({n, 2, 3, size, size});
    while (auto b = loader.next())
      all.index_copy_(0, b->index, torch::stack({b->views[0], b->views[1]}, 1).contiguous());
    std::ofstream out(argv[2], std::ios::binary);
    out.write(reinterpret_cast<const char*>(all.data_ptr<float>()), static_cast<std::streamsize>(all.numel() * 4));
    std::printf("{\"images\":%lld,\"size\":%d}\n", static_cast<long long>(n), size);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
