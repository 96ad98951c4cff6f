// Phase 4: the epoch's record, the kNN monitor, the collapse warning and the checkpoint.
#include <cmath>

#include "protoclr/core/log.h"
#include "protoclr/features/knn.h"
#include "protoclr/run/checkpoint.h"
#include "protoclr/train/curves.h"
#include "protoclr/train/trainer.h"

namespace protoclr::train {
namespace {

/// Mean key cosine above which an epoch is reported as collapsed.
constexpr double kCollapsedKeyCosine = 0.95;

/// A number, or null when it is not finite (JSON has no NaN).
nlohmann::json finite_or_null(double value) { return std::isfinite(value) ? nlohmann::json(value) : nlohmann::json(nullptr); }

/// One line of metrics.jsonl: the epoch's means, throughput and E-step times.
nlohmann::json epoch_record(int64_t epoch, const EStepOutput& estep, const EpochStats& stats) {
  return {{"epoch", epoch + 1}, {"lr", stats.lr}, {"loss", stats.loss}, {"acc_inst", stats.acc_inst},
          {"key_cosine", finite_or_null(stats.key_cosine)}, {"acc_proto", finite_or_null(stats.acc_proto)},
          {"images", stats.images}, {"img_per_s", stats.images / std::max(1e-9, stats.seconds)},
          {"settled_img_per_s", finite_or_null(stats.settled_img_per_s)}, {"train_seconds", stats.seconds},
          {"estep_seconds", estep.seconds}, {"estep_feature_seconds", estep.feature_seconds},
          {"kmeans_seconds", estep.kmeans_seconds}, {"clusters", estep.cluster_sizes}};
}

}  // namespace

nlohmann::json Trainer::knn_monitor() {
  // Several processes: each embeds its shard of both sets, then every rank holds them all.
  const auto bank = state_.collectives->gather_features(key_features());
  auto options = key_feature_options(state_.config, state_.device);
  options.progress_label = "kNN features";
  const auto test = state_.collectives->gather_features(state_.collectives->embed(state_.moco->encoder_k, state_.val, options));
  features::KnnOptions kopt;
  kopt.k = state_.config.knn_k;
  kopt.temperature = state_.config.knn_temperature;
  kopt.num_classes = static_cast<int64_t>(std::max(state_.dataset->classes().size(), state_.val->classes().size()));
  const auto knn = features::knn_classify(bank.features, bank.labels, test.features, test.labels, kopt);
  return {{"knn_top1", knn.top1}, {"knn_top5", knn.top5}};
}

nlohmann::json Trainer::finish_epoch(int64_t epoch, const EStepOutput& estep, const EpochStats& stats) {
  const auto& c = state_.config;
  nlohmann::json record = epoch_record(epoch, estep, stats);
  if (state_.collectives->world_size() > 1) {  // counted by rank 0 (dist::Traffic)
    record["processes"] = state_.collectives->world_size();
    record["sent_bytes_per_step"] = stats.steps > 0 ? stats.sent_bytes / stats.steps : 0;
    record["estep_sent_bytes"] = estep.sent_bytes;
  }
  const bool last = epoch + 1 == c.epochs;
  if (state_.val && !state_.dataset->classes().empty() && c.knn_every > 0 && ((epoch + 1) % c.knn_every == 0 || last))
    record.update(knn_monitor());
  // Keys of different images nearly parallel after an epoch of training: the embedding has
  // collapsed (a random network's keys start at 0.9 or more; learning spreads them out).
  if (epoch > 0 && stats.key_cosine > kCollapsedKeyCosine)  // false for NaN
    log::warn("epoch ", epoch + 1, ": keys of different images have mean cosine ", stats.key_cosine,
              ", the embedding is collapsing (try a lower --lr, a shorter --queue-size or a larger --moco-m;"
              " docs/BENCHMARKS.md, \"Does it learn?\")");
  if (writes_run_folder()) {
    state_.metrics.write(record);
    write_training_curves(c.out);
  }
  log::info(record.dump());
  state_.epochs_done = epoch + 1;
  if (last || (c.save_every > 0 && (epoch + 1) % c.save_every == 0)) save_checkpoint();
  if (hooks_.after_epoch) hooks_.after_epoch(state_, record);
  return record;
}

void Trainer::save_mid_epoch_checkpoint(int64_t epoch, const std::vector<PrototypeLevel>& levels,
                                        const EpochProgress& progress) {
  TORCH_INTERNAL_ASSERT(epoch == state_.epochs_done);
  if (!writes_run_folder()) return;
  if (progress.steps == 0) {  // nothing done in this epoch yet: the epoch checkpoint says it all
    save_checkpoint();
    return;
  }
  run::CheckpointMeta meta;
  meta.config = state_.config;
  meta.epoch = state_.epochs_done;
  meta.step = progress.steps;
  meta.epoch_progress = {{"monitors", progress.to_json()}, {"estep", state_.epoch_estep}};
  for (const auto& level : levels) {
    const auto& perm = level.sampler.permutation();
    meta.sampler_permutations.push_back(torch::tensor(perm, torch::kLong));
  }
  run::save_checkpoint(run::checkpoint_path(state_.config.out), state_.moco, state_.optimizer.get(), meta,
                       state_.estep ? &*state_.estep : nullptr);
  log::info("saved a checkpoint at epoch ", epoch + 1, " step ", progress.steps, " to ",
            run::checkpoint_path(state_.config.out));
}

void Trainer::save_checkpoint() {
  if (!writes_run_folder()) return;
  run::CheckpointMeta meta;
  meta.config = state_.config;
  meta.epoch = state_.epochs_done;
  run::save_checkpoint(run::checkpoint_path(state_.config.out), state_.moco, state_.optimizer.get(), meta,
                       state_.estep ? &*state_.estep : nullptr);
}

}  // namespace protoclr::train
