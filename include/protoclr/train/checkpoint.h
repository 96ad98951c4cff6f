#pragma once
/// Training checkpoints: both encoders and the queue (the MoCo module's state, keys as the
/// published code), the optimiser state, the epoch, the full configuration and the last
/// E-step result. Written to a temporary file and renamed: a kill never leaves a broken one.
#include <optional>
#include <string>

#include <torch/torch.h>

#include "protoclr/cluster/e_step.h"
#include "protoclr/model/moco.h"
#include "protoclr/train/config.h"

namespace protoclr::train {

/// The encoder a configuration describes (arch, stem, low_dim, head).
model::EncoderOptions encoder_options(const TrainConfig& config);
/// The MoCo model a configuration describes (encoders, queue size, momentum), freshly
/// initialised: what a checkpoint of that configuration loads into.
model::MoCo make_moco(const TrainConfig& config);

/// The checkpoint file inside a run folder.
std::string checkpoint_path(const std::string& run_dir);

struct CheckpointMeta {
  TrainConfig config;
  int64_t epoch = 0;  ///< epochs completed
  int format_version = 1;
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

/// Which of MoCo's two encoders an evaluation uses. The published evaluation code loads
/// encoder_q; encoder_k (the momentum encoder) is what the E-step clusters.
enum class EncoderRole { kQuery, kKey };
/// "query" / "key"; throws Error naming --encoder otherwise.
EncoderRole parse_encoder_role(const std::string& name);

/// One encoder, ready for evaluation (on the CPU, eval mode), and where it came from.
struct LoadedEncoder {
  model::ResNet encoder{nullptr};
  TrainConfig config;   ///< the configuration it was trained with (arch, head, image size...)
  int64_t epoch = 0;    ///< epochs trained; 0 for a random initialisation
  bool random_init = false;
  std::string source;   ///< the checkpoint file, or "random init"
};

/// The network of `options`, freshly initialised from `seed`: the figure every protocol
/// sets beside a trained one (--random-init).
LoadedEncoder random_encoder(const model::EncoderOptions& options, uint64_t seed);

/// One encoder of a protoclr checkpoint (a run folder or file). With `random_init`, the
/// checkpoint only names the architecture, which is initialised from `seed` instead.
LoadedEncoder load_encoder(const std::string& checkpoint, EncoderRole role, bool random_init = false,
                           uint64_t seed = 0);

}  // namespace protoclr::train
