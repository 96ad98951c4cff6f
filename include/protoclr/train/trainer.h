#pragma once
/// The PCL EM loop (Algorithm 1 of the paper) on one process: warm-up epochs of InfoNCE,
/// then every epoch an E-step (momentum features -> k-means at each K -> prototypes and
/// concentrations) followed by ProtoNCE training (M-step). MoCo presets skip the E-step.
#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "protoclr/train/config.h"

namespace protoclr::train {

/// What a finished (or interrupted-and-resumed) run returns.
struct TrainResult {
  std::string run_dir;
  int64_t epochs_done = 0;
  nlohmann::json last_metrics;  ///< the last line of metrics.jsonl
};

/// Trains with `config` (validated here), writing OUT/metrics.jsonl, OUT/config.json and
/// OUT/checkpoint.pt. With `resume` (a run folder or checkpoint), continues that run: its
/// saved configuration is used, except `epochs`, which the caller may raise.
TrainResult train(TrainConfig config, const std::string& resume = "");

}  // namespace protoclr::train
