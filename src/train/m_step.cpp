// Phase 3: the M-step, one epoch of ProtoNCE (PCL eq. (11); InfoNCE, eq. (1), in warm-up).
#include <cmath>

#include "protoclr/core/error.h"
#include "protoclr/core/log.h"
#include "protoclr/core/schedule.h"
#include "protoclr/loss/info_nce.h"
#include "protoclr/loss/proto_nce.h"
#include "protoclr/model/autocast.h"
#include "protoclr/train/trainer.h"

namespace protoclr::train {
namespace {

/// Sums over an epoch's steps; EpochStats holds the means.
struct EpochSums {
  double loss = 0, acc_inst = 0, acc_proto = 0;  ///< acc_proto: summed only when there are levels
  int64_t steps = 0, key_cosine_steps = 0;
  torch::Tensor key_cosine;  ///< on the device: read once per epoch, not per step

  void add(const StepOutput& step, double loss_value) {
    loss += loss_value;
    acc_inst += step.acc_inst;
    if (step.key_cosine.defined()) {
      key_cosine = key_cosine.defined() ? key_cosine + step.key_cosine : step.key_cosine;
      ++key_cosine_steps;
    }
    if (!std::isnan(step.acc_proto)) acc_proto += step.acc_proto;
    ++steps;
  }
};

}  // namespace

EpochStats Trainer::train_epoch(int64_t epoch, std::vector<PrototypeLevel>& levels) {
  const auto& c = state_.config;
  EpochStats stats;
  stats.lr = learning_rate(c.schedule, c.lr, epoch, c.epochs, c.milestones);
  for (auto& group : state_.optimizer->param_groups())
    static_cast<torch::optim::SGDOptions&>(group.options()).lr(stats.lr);
  state_.moco->train();
  state_.feed->start_epoch(epoch);
  const int64_t steps_per_epoch = state_.feed->steps_per_epoch();
  EpochSums sums;
  Throughput meter(steps_per_epoch * c.batch_size), settled, last_print;
  while (sums.steps < steps_per_epoch) {
    if (hooks_.stop_requested && hooks_.stop_requested()) {
      stats.stopped = true;
      break;
    }
    const auto batch = state_.feed->next();
    if (!batch) break;
    Rng rng(stream_seed(c.seed, 0x4d53544550ULL /*"MSTEP"*/, epoch, sums.steps));
    const StepOutput step = train_step(*batch, levels, rng);
    const double loss_value = step.loss.item<double>();
    PROTOCLR_CHECK(std::isfinite(loss_value), "the loss became ", loss_value, " at epoch ", epoch + 1, " step ",
                   sums.steps + 1, " (lower --lr or check the data)");
    sums.add(step, loss_value);
    meter.add(step.images);
    if (sums.steps == kSettleSteps) settled.reset(0);
    else if (sums.steps > kSettleSteps) settled.add(step.images);
    if (last_print.seconds() > 1.0 || sums.steps == steps_per_epoch) {
      last_print.reset(0);
      log::progress(detail::concat(
          "epoch ", epoch + 1, "/", c.epochs, "  step ", sums.steps, "/", steps_per_epoch, "  ",
          static_cast<int64_t>(meter.per_second()), " img/s  ETA ", format_duration(meter.eta_seconds()), "  loss ",
          loss_value, "  acc@inst ", step.acc_inst,
          levels.empty() ? std::string() : detail::concat("  acc@proto ", step.acc_proto)));
    }
  }
  log::progress_done();
  stats.seconds = meter.seconds();
  stats.steps = sums.steps;
  stats.images = meter.done();
  stats.loss = sums.loss / std::max<int64_t>(1, sums.steps);
  stats.acc_inst = sums.acc_inst / std::max<int64_t>(1, sums.steps);
  if (!levels.empty() && sums.steps > 0) stats.acc_proto = sums.acc_proto / static_cast<double>(sums.steps);
  if (sums.key_cosine_steps > 0) stats.key_cosine = sums.key_cosine.item<double>() / sums.key_cosine_steps;
  if (sums.steps > kSettleSteps) stats.settled_img_per_s = settled.per_second();
  return stats;
}

StepOutput Trainer::train_step(const DeviceBatch& batch, std::vector<PrototypeLevel>& levels, Rng& rng) {
  auto& moco = state_.moco;
  torch::Tensor q, k;
  {
    model::AutocastGuard autocast(state_.config.bf16, state_.device);
    q = moco->encode_query(batch.query_view);
    moco->momentum_update();
    state_.key_features.reset();  // the momentum encoder moved: cached features are stale
    k = moco->encode_key(batch.key_view, *state_.key_shuffle, rng);
  }
  const auto instance_logits = loss::info_nce_logits(q, k, moco->negatives(), state_.config.temperature);
  const auto proto_logits = prototype_logits(q, levels, batch.index, rng);
  const auto out = loss::proto_nce(instance_logits, proto_logits);
  state_.optimizer->zero_grad();
  out.loss.backward();
  state_.collectives->reduce_gradients(state_.optimizer->param_groups()[0].params());
  state_.optimizer->step();
  moco->enqueue(state_.collectives->gather_keys(k));

  StepOutput step;
  step.loss = out.loss.detach();
  step.acc_inst = out.acc_inst;
  step.acc_proto = out.acc_proto;
  step.images = batch.query_view.size(0);
  if (step.images >= 2) step.key_cosine = loss::mean_pairwise_cosine(k);  // no pairs in a 1-image batch
  return step;
}

std::vector<torch::Tensor> Trainer::prototype_logits(const torch::Tensor& q, std::vector<PrototypeLevel>& levels,
                                                     const torch::Tensor& index, Rng& rng) {
  const int64_t r = state_.config.neg_prototypes;
  std::vector<torch::Tensor> logits;
  for (auto& level : levels) {
    // The positives by dataset row (not batch position), looked up once: the sampler
    // excludes them, the logits use them. A prototype shared by two samples is listed once
    // per sample, so it also competes as a negative of the other, as in the published code.
    const auto positives = level.assignments.index_select(0, index).contiguous();
    const auto negatives = level.sampler.sample(positives.data_ptr<int64_t>(), positives.numel(), r, rng);
    if (static_cast<int64_t>(negatives.size()) < r && !state_.warned_few_negatives) {
      log::warn("only ", negatives.size(), " negative prototypes available at K=", level.sampler.k(),
                " (--neg-prototypes ", r, "): using all of them");
      state_.warned_few_negatives = true;
    }
    const auto negative_ids = torch::tensor(negatives, torch::kLong).to(state_.device);
    logits.push_back(loss::proto_logits(q, level.scaled_prototypes, positives.to(state_.device), negative_ids));
  }
  return logits;
}

}  // namespace protoclr::train
