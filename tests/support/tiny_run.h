#pragma once
// A tiny IDX dataset and a training configuration small enough to run a few epochs in
// seconds on 2 cores, and a fixture around them: shared by the train and recipes tests.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "protoclr/run/config.h"
#include "support/temp_dir.h"

namespace protoclr::test_support {

inline void write_be32(std::ofstream& out, uint32_t v) {
  const unsigned char b[4] = {uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)};
  out.write(reinterpret_cast<const char*>(b), 4);
}

/// A tiny IDX dataset (like MNIST): n images of 16x16, 4 classes of distinct patterns,
/// written as the training split under `dir`.
inline std::string write_idx_dataset(const std::filesystem::path& dir, int n) {
  std::filesystem::create_directories(dir);
  std::ofstream img(dir / "train-images-idx3-ubyte", std::ios::binary);
  std::ofstream lab(dir / "train-labels-idx1-ubyte", std::ios::binary);
  write_be32(img, 0x803); write_be32(img, n); write_be32(img, 16); write_be32(img, 16);
  write_be32(lab, 0x801); write_be32(lab, n);
  for (int i = 0; i < n; ++i) {
    const int c = i % 4;
    for (int y = 0; y < 16; ++y)
      for (int x = 0; x < 16; ++x) {
        const bool on = c == 0 ? x < 8 : c == 1 ? y < 8 : c == 2 ? (x + y) % 4 < 2 : (x - 8) * (x - 8) + (y - 8) * (y - 8) < 20;
        img.put(static_cast<char>(on ? 200 + (i % 50) : (i * 3) % 40));
      }
    lab.put(static_cast<char>(c));
  }
  return dir.string();
}

/// pcl-v2 at toy scale: ResNet-18 (CIFAR stem) on 16 px, 16-d embedding, batches of 8, two
/// epochs of which one warm-up, K = {8, 12}, r = 3, a 16-key queue, kNN monitor on the
/// training split, a checkpoint every epoch.
inline run::TrainConfig tiny_config(const std::string& data, const std::string& out) {
  run::RunRequest request;
  request.preset = "pcl-v2";
  request.overrides = {{"data", data}, {"val", data}, {"val_split", "train"}, {"out", out},
                       {"arch", "resnet18"}, {"cifar_stem", true}, {"image_size", 16}, {"low_dim", 16},
                       {"batch_size", 8}, {"epochs", 2}, {"warmup_epochs", 1}, {"num_clusters", {8, 12}},
                       {"neg_prototypes", 3}, {"queue_size", 16}, {"bn_splits", 2}, {"workers", 2},
                       {"knn_k", 5}, {"save_every", 1}};
  return run::resolve_config(request);
}

/// A fixture with the tiny dataset (48 images) in a temporary folder and 2 compute threads.
class TinyRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::set_num_threads(2);
    data_ = write_idx_dataset(tmp_.path() / "data", 48);
  }
  /// tiny_config writing into the run folder `name` of the temporary folder.
  run::TrainConfig config(const std::string& name) const { return tiny_config(data_, (tmp_.path() / name).string()); }

  TempDir tmp_;
  std::string data_;
};

}  // namespace protoclr::test_support
