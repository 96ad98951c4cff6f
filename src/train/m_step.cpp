// Phase 3: the M-step, one epoch of ProtoNCE (PCL eq. (11); InfoNCE, eq. (1), in warm-up).
#include <array>
#include <cmath>

#include "protoclr/core/error.h"
#include "protoclr/core/log.h"
#include "protoclr/core/schedule.h"
#include "protoclr/data/transfer.h"
#include "protoclr/loss/info_nce.h"
#include "protoclr/loss/proto_nce.h"
#include "protoclr/model/autocast.h"
#include "protoclr/train/trainer.h"

namespace protoclr::train {
namespace {

/// The epoch's monitors. Each step writes its loss, accuracies and key cosine into a row of a
/// device tensor (no host-device synchronisation); the host reads the new rows only when a
/// progress line prints and at the end of the epoch, and then checks that every loss is finite.
class EpochMonitor {
 public:
  EpochMonitor(int64_t steps, const torch::Device& device)
      : rows_(torch::full({std::max<int64_t>(steps, 1), kColumns}, std::nan(""),
                          torch::TensorOptions().dtype(torch::kDouble).device(device))),
        missing_(torch::full({}, std::nan(""), rows_.options())) {}

  void add(const StepOutput& step) {
    TORCH_INTERNAL_ASSERT(written_ < rows_.size(0));
    rows_.select(0, written_++).copy_(torch::stack(
        {step.loss.to(torch::kDouble), step.acc_inst, step.acc_proto.defined() ? step.acc_proto : missing_,
         step.key_cosine.defined() ? step.key_cosine : missing_}));
  }

  /// Reads the rows written since the last read (one device-to-host copy). Throws naming the
  /// first step whose loss is not finite.
  void read(int64_t epoch) {
    if (read_ == written_) return;
    const torch::Tensor fresh = rows_.slice(0, read_, written_).to(torch::kCPU).contiguous();
    const double* row = fresh.data_ptr<double>();
    for (int64_t i = 0; i < fresh.size(0); ++i, row += kColumns) {
      PROTOCLR_CHECK(std::isfinite(row[0]), "the loss became ", row[0], " at epoch ", epoch + 1, " step ",
                     read_ + i + 1, " (lower --lr or check the data)");
      loss_ += row[0];
      acc_inst_ += row[1];
      if (!std::isnan(row[2])) acc_proto_ += row[2], ++proto_steps_;
      if (!std::isnan(row[3])) key_cosine_ += row[3], ++key_cosine_steps_;
      std::copy(row, row + kColumns, last_.begin());
    }
    read_ = written_;
  }

  int64_t steps() const { return written_; }
  /// The values of the last step read.
  double last_loss() const { return last_[0]; }
  double last_acc_inst() const { return last_[1]; }
  double last_acc_proto() const { return last_[2]; }

  /// Means over the steps read (call read() first).
  void fill(EpochStats& stats) const {
    const double steps = static_cast<double>(std::max<int64_t>(1, read_));
    stats.loss = loss_ / steps;
    stats.acc_inst = acc_inst_ / steps;
    if (proto_steps_ > 0) stats.acc_proto = acc_proto_ / static_cast<double>(proto_steps_);
    if (key_cosine_steps_ > 0) stats.key_cosine = key_cosine_ / static_cast<double>(key_cosine_steps_);
  }

 private:
  static constexpr int64_t kColumns = 4;  ///< loss, acc_inst, acc_proto, key_cosine (NaN: none)
  torch::Tensor rows_, missing_;
  int64_t written_ = 0, read_ = 0;
  double loss_ = 0, acc_inst_ = 0, acc_proto_ = 0, key_cosine_ = 0;
  int64_t proto_steps_ = 0, key_cosine_steps_ = 0;
  std::array<double, kColumns> last_{};
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
  EpochMonitor monitor(steps_per_epoch, state_.device);
  Throughput meter(steps_per_epoch * c.batch_size), settled, last_print;
  while (monitor.steps() < steps_per_epoch) {
    if (hooks_.stop_requested && hooks_.stop_requested()) {
      stats.stopped = true;
      break;
    }
    const auto batch = state_.feed->next();
    if (!batch) break;
    Rng rng(stream_seed(c.seed, 0x4d53544550ULL /*"MSTEP"*/, epoch, monitor.steps()));
    const StepOutput step = train_step(*batch, levels, rng);
    monitor.add(step);
    meter.add(step.images);
    if (monitor.steps() == kSettleSteps) settled.reset(0);
    else if (monitor.steps() > kSettleSteps) settled.add(step.images);
    // On a GPU the monitors are read about once a second, the step's only wait for the
    // device; on the CPU reading is free, so a non-finite loss stops the run at its step.
    if (!state_.device.is_cuda()) monitor.read(epoch);
    if (last_print.seconds() > 1.0 || monitor.steps() == steps_per_epoch) {
      last_print.reset(0);
      monitor.read(epoch);
      log::progress(detail::concat(
          "epoch ", epoch + 1, "/", c.epochs, "  step ", monitor.steps(), "/", steps_per_epoch, "  ",
          static_cast<int64_t>(meter.per_second()), " img/s  ETA ", format_duration(meter.eta_seconds()), "  loss ",
          monitor.last_loss(), "  acc@inst ", monitor.last_acc_inst(),
          levels.empty() ? std::string() : detail::concat("  acc@proto ", monitor.last_acc_proto())));
    }
  }
  monitor.read(epoch);
  log::progress_done();
  stats.seconds = meter.seconds();
  stats.steps = monitor.steps();
  stats.images = meter.done();
  monitor.fill(stats);
  if (stats.steps > kSettleSteps) stats.settled_img_per_s = settled.per_second();
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
    // One page-locked buffer of [positives, negatives] and one non-blocking copy per level.
    auto ids = torch::empty({positives.numel() + static_cast<int64_t>(negatives.size())},
                            torch::TensorOptions().dtype(torch::kLong).pinned_memory(state_.device.is_cuda()));
    std::copy(positives.data_ptr<int64_t>(), positives.data_ptr<int64_t>() + positives.numel(), ids.data_ptr<int64_t>());
    std::copy(negatives.begin(), negatives.end(), ids.data_ptr<int64_t>() + positives.numel());
    ids = data::to_device(ids, state_.device);
    logits.push_back(loss::proto_logits(q, level.scaled_prototypes, ids.slice(0, 0, positives.numel()),
                                        ids.slice(0, positives.numel())));
  }
  return logits;
}

}  // namespace protoclr::train
