#include "protoclr/eval/encoder.h"

#include "protoclr/core/error.h"
#include "protoclr/run/checkpoint.h"

namespace protoclr::eval {

LoadedEncoder random_encoder(const model::EncoderOptions& options, uint64_t seed) {
  torch::manual_seed(seed);
  LoadedEncoder out;
  out.encoder = model::make_encoder(options);
  out.encoder->eval();
  out.config.arch = options.arch;
  out.config.cifar_stem = options.cifar_stem;
  out.config.low_dim = options.low_dim;
  out.config.mlp = options.mlp;
  out.random_init = true;
  out.source = "random init (seed " + std::to_string(seed) + ")";
  return out;
}

LoadedEncoder load_encoder(const std::string& checkpoint, EncoderRole role, bool random_init, uint64_t seed) {
  const std::string path = run::resolve_checkpoint(checkpoint);
  const run::CheckpointMeta meta = run::read_checkpoint_meta(path);
  const run::TrainConfig& c = meta.config;
  if (random_init) {
    LoadedEncoder out = random_encoder(c.encoder_options(), seed);
    out.config = c;
    return out;
  }
  model::MoCo moco(c.moco_options());
  run::load_checkpoint(path, moco, nullptr, nullptr);
  LoadedEncoder out;
  out.encoder = role == EncoderRole::kQuery ? moco->encoder_q : moco->encoder_k;
  out.encoder->eval();
  out.config = c;
  out.epoch = meta.epoch;
  out.source = path;
  return out;
}

LoadedEncoder load_network(const NetworkChoice& choice) {
  if (!choice.checkpoint.empty()) return load_encoder(choice.checkpoint, choice.role, choice.random_init, choice.seed);
  PROTOCLR_CHECK(choice.random_init, "give --checkpoint (a run folder or checkpoint file), or --random-init");
  return random_encoder(model::EncoderOptions{choice.arch, choice.cifar_stem, 128, true}, choice.seed);
}

}  // namespace protoclr::eval
