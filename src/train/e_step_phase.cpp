// Phase 2: the E-step (PCL, Algorithm 1): momentum features -> k-means at every K ->
// prototypes and concentrations, made ready for the M-step.
#include "protoclr/core/log.h"
#include "protoclr/core/progress.h"
#include "protoclr/loss/proto_nce.h"
#include "protoclr/train/trainer.h"

namespace protoclr::train {

const features::DatasetFeatures& Trainer::key_features() {
  if (!state_.key_features) {
    auto options = key_feature_options(state_.config, state_.device);
    options.progress_label = "E-step features";
    // encoder_k, centre crops, eval mode: the published E-step's compute_features.
    // Every rank's momentum encoder normalises with rank 0's BatchNorm statistics.
    std::vector<torch::Tensor> statistics;
    for (const auto& buffer : state_.moco->encoder_k->buffers()) statistics.push_back(buffer);
    state_.collectives->broadcast_from_first(statistics);
    state_.key_features = state_.collectives->embed(state_.moco->encoder_k, state_.dataset, options);
  }
  return *state_.key_features;
}

void Trainer::exclude_unclustered_rows() {
  if (!state_.estep || state_.estep->levels.empty()) return;
  // An image the E-step could not read has no prototype (assignment -1): the M-step's
  // loader replaces it by the next readable image, as it replaces a failed decode.
  const auto unclustered = state_.estep->levels[0].assignments.lt(0).to(torch::kCPU).to(torch::kByte).contiguous();
  const uint8_t* flags = unclustered.data_ptr<uint8_t>();
  state_.feed->set_excluded(std::vector<uint8_t>(flags, flags + unclustered.numel()));
}

EStepOutput Trainer::levels_of_last_e_step() const {
  EStepOutput out;
  for (const auto& level : state_.estep->levels) {
    // Assignments on the host (the negative sampler reads them); prototypes on the device.
    out.levels.push_back({level.assignments.to(torch::kCPU),
                          loss::scale_prototypes(level.prototypes, level.phi).to(state_.device),
                          cluster::NegativePrototypeSampler(level.k)});
    out.cluster_sizes.push_back({{"k", level.k}, {"largest", level.counts.max().item<int64_t>()},
                                 {"smallest", level.counts.min().item<int64_t>()}});
  }
  return out;
}

EStepOutput Trainer::e_step(int64_t epoch) {
  EStepOutput out;
  if (!state_.config.prototypes || epoch < state_.config.warmup_epochs) return out;
  Throughput timer;
  const uint64_t sent_before = state_.collectives->bytes_sent();
  const auto& feats = key_features();
  out.feature_seconds = timer.seconds();  // ~0 when the kNN monitor already computed them
  cluster::EStepOptions options = e_step_options(state_.config);
  if (state_.config.kmeans_warm_start && state_.estep) {
    // Each level's first run starts from the last E-step's prototypes (where K is unchanged).
    for (size_t m = 0; m < options.num_clusters.size(); ++m) {
      const bool same_k = m < state_.estep->levels.size() && state_.estep->levels[m].k == options.num_clusters[m];
      options.init_centroids.push_back(same_k ? state_.estep->levels[m].prototypes : torch::Tensor());
    }
  }
  state_.estep = state_.collectives->cluster_features(feats, options);
  exclude_unclustered_rows();
  const double feature_seconds = out.feature_seconds;
  out = levels_of_last_e_step();
  out.feature_seconds = feature_seconds;
  out.seconds = timer.seconds();
  out.kmeans_seconds = state_.estep->seconds;
  out.sent_bytes = state_.collectives->bytes_sent() - sent_before;
  log::info("E-step ", format_duration(out.seconds), ": ", out.cluster_sizes.dump());
  return out;
}

}  // namespace protoclr::train
