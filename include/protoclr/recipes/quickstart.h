#pragma once
/// `protoclr quickstart`: the README's main job. Trains pcl-v2 on the built-in
/// Fashion-MNIST within a budget a 2-core laptop finishes in minutes, then measures kNN
/// top-1 on the test split and k-means AMI against the labels, each beside the same
/// network at its random initialisation.
#include <string>

#include "protoclr/run/config.h"

namespace protoclr::recipes {

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
  run::TrainConfig config;     ///< the configuration that was trained
  QuickstartScores random_init;
  QuickstartScores trained;
  int64_t test_images = 0;
  double seconds = 0;
};

/// The quickstart's run: the "quickstart" preset (pcl-v2 shaped for minutes on a laptop;
/// run::TrainConfig::from_preset) with the options as explicit values.
run::RunRequest quickstart_request(const QuickstartOptions& options);

QuickstartReport run_quickstart(const QuickstartOptions& options);

}  // namespace protoclr::recipes
