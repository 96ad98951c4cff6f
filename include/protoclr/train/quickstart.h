#pragma once
/// `protoclr quickstart`: the README's main job. Trains pcl-v2 on the built-in
/// Fashion-MNIST within a budget a 2-core laptop finishes in minutes, then measures kNN
/// top-1 on the test split and k-means AMI against the labels, each beside the same
/// network at its random initialisation.
#include <string>

#include "protoclr/train/config.h"

namespace protoclr::train {

struct QuickstartOptions {
  std::string data;            ///< empty: built-in Fashion-MNIST
  std::string out = "runs/quickstart";
  int threads = 0;
  uint64_t seed = 0;
  int64_t train_images = 0;    ///< 0: the budget's default
  int64_t test_images = 0;     ///< 0: the budget's default
  int64_t epochs = 0;          ///< 0: the budget's default
  bool bf16 = false;           ///< bf16 autocast: within 1 kNN point of fp32 here, opt-in since only some CPUs run it faster
};

/// Figures of one network.
struct QuickstartScores {
  double knn_top1 = 0;  ///< weighted kNN (k 200, tau 0.07), percent
  double ami = 0;       ///< k-means (K = classes) on test embeddings vs labels
  double nmi = 0;
};

struct QuickstartReport {
  TrainConfig config;          ///< the configuration that was trained
  QuickstartScores random_init;
  QuickstartScores trained;
  int64_t test_images = 0;
  double seconds = 0;
};

/// The quickstart configuration (pcl-v2, ResNet-18, 32 px, small K and r; see the .cpp).
TrainConfig quickstart_config(const QuickstartOptions& options);

QuickstartReport run_quickstart(const QuickstartOptions& options);

}  // namespace protoclr::train
