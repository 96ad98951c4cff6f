#pragma once
/// Training checkpoints: both encoders and the queue (the MoCo module's state, keys as the
/// published code), the optimiser state, the epoch, the full configuration and the last
/// E-step result. Written to a temporary file and renamed: a kill never leaves a broken one.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <torch/torch.h>

#include "protoclr/cluster/e_step.h"
#include "protoclr/model/moco.h"
#include "protoclr/run/config.h"

namespace protoclr::run {

/// The checkpoint file inside a run folder.
std::string checkpoint_path(const std::string& run_dir);

struct CheckpointMeta {
  TrainConfig config;
  int64_t epoch = 0;  ///< epochs completed
  int format_version = 1;
  /// Mid-epoch checkpoints (a preempted run): steps done in epoch `epoch` (0-based), else 0.
  int64_t step = 0;
  /// Mid-epoch: the epoch's running monitor sums and its E-step's record (train/trainer.h).
  nlohmann::json epoch_progress;
  /// Mid-epoch: each level's negative-sampler permutation ([K] int64), which later draws
  /// depend on.
  std::vector<torch::Tensor> sampler_permutations;
};

/// Writes `path` atomically. `estep` may be null (warm-up, MoCo presets).
void save_checkpoint(const std::string& path, model::MoCo& model, torch::optim::Optimizer* optimizer,
                     const CheckpointMeta& meta, const cluster::EStepResult* estep);

/// Reads only the metadata; throws Error naming the file if it is not a protoclr checkpoint.
CheckpointMeta read_checkpoint_meta(const std::string& path);

/// Restores the model (and, when given, the optimiser and the last E-step result); returns
/// the metadata. A checkpoint of another architecture fails with the key and both shapes.
CheckpointMeta load_checkpoint(const std::string& path, model::MoCo& model, torch::optim::Optimizer* optimizer,
                               std::optional<cluster::EStepResult>* estep);

/// A run folder or a checkpoint file -> the checkpoint file; throws Error if missing.
std::string resolve_checkpoint(const std::string& dir_or_file);

}  // namespace protoclr::run
