#pragma once
/// The network an evaluation protocol measures: one encoder of a protoclr checkpoint, or the
/// same architecture at a seeded random initialisation (the figure every protocol sets
/// beside a trained one, --random-init).
#include <cstdint>
#include <string>

#include "protoclr/model/resnet.h"
#include "protoclr/run/config.h"

namespace protoclr::eval {

/// Which of MoCo's two encoders an evaluation uses. The published evaluation code loads
/// encoder_q; encoder_k (the momentum encoder) is what the E-step clusters.
enum class EncoderRole { kQuery, kKey };

/// One encoder, ready for evaluation (on the CPU, eval mode), and where it came from.
struct LoadedEncoder {
  model::ResNet encoder{nullptr};
  run::TrainConfig config;  ///< the configuration it was trained with (arch, head, image size...)
  int64_t epoch = 0;        ///< epochs trained; 0 for a random initialisation
  bool random_init = false;
  std::string source;       ///< the checkpoint file, or "random init (seed S)"
};

/// The network of `options`, freshly initialised from `seed`.
LoadedEncoder random_encoder(const model::EncoderOptions& options, uint64_t seed);

/// One encoder of a protoclr checkpoint (a run folder or file). With `random_init`, the
/// checkpoint only names the architecture, which is initialised from `seed` instead.
LoadedEncoder load_encoder(const std::string& checkpoint, EncoderRole role, bool random_init = false,
                           uint64_t seed = 0);

/// Which network, as the evaluation commands' flags name it (--checkpoint, --encoder,
/// --random-init, --seed, and --arch/--cifar-stem for a random network without checkpoint).
/// Saved beside what it computed when a later command must compute the same way (an index:
/// a query is embedded by the collection's network).
struct NetworkChoice {
  std::string checkpoint;  ///< run folder or checkpoint file; empty only with random_init
  EncoderRole role = EncoderRole::kQuery;
  bool random_init = false;
  uint64_t seed = 0;
  std::string arch = "resnet18";
  bool cifar_stem = false;
};

/// load_encoder, or random_encoder of arch/cifar_stem without a checkpoint. Throws Error
/// asking for --checkpoint or --random-init when neither is given.
LoadedEncoder load_network(const NetworkChoice& choice);

}  // namespace protoclr::eval
