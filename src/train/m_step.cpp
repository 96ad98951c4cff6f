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
  /// `start`: the sums of the steps an interrupted epoch already did.
  EpochMonitor(int64_t steps, const torch::Device& device, const EpochProgress& start)
      : rows_(torch::full({std::max<int64_t>(steps - start.steps, 1), kColumns}, std::nan(""),
                          torch::TensorOptions().dtype(torch::kDouble).device(device))),
        missing_(torch::full({}, std::nan(""), rows_.options())),
        start_(start.steps),
        sums_(start) {}
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
                     start_ + read_ + i + 1, " (lower --lr or check the data; the last checkpoint is unchanged)");
      sums_.loss += row[0];
      sums_.acc_inst += row[1];
      if (!std::isnan(row[2])) sums_.acc_proto += row[2], ++sums_.proto_steps;
      if (!std::isnan(row[3])) sums_.key_cosine += row[3], ++sums_.key_cosine_steps;
      std::copy(row, row + kColumns, last_.begin());
    }
    read_ = written_;
    sums_.steps = start_ + read_;
  }
  /// Steps of the epoch done, counting those before a resume.
  int64_t steps() const { return start_ + written_; }
  /// The values of the last step read.
  double last_loss() const { return last_[0]; }
  double last_acc_inst() const { return last_[1]; }
  double last_acc_proto() const { return last_[2]; }
  /// The sums over the steps read (call read() first).
  const EpochProgress& sums() const { return sums_; }

 private:
  static constexpr int64_t kColumns = 4;  ///< loss, acc_inst, acc_proto, key_cosine (NaN: none)
  torch::Tensor rows_, missing_;
  int64_t start_ = 0;  ///< steps done before this monitor (a resumed epoch)
  int64_t written_ = 0, read_ = 0;
  EpochProgress sums_;
  std::array<double, kColumns> last_{};
};

/// Means of the sums into the epoch's figures.
void fill_means(const EpochProgress& p, EpochStats& stats) {
  const double steps = static_cast<double>(std::max<int64_t>(1, p.steps));
  stats.loss = p.loss / steps;
  stats.acc_inst = p.acc_inst / steps;
  if (p.proto_steps > 0) stats.acc_proto = p.acc_proto / static_cast<double>(p.proto_steps);
  if (p.key_cosine_steps > 0) stats.key_cosine = p.key_cosine / static_cast<double>(p.key_cosine_steps);
}

}  // namespace

nlohmann::json EpochProgress::to_json() const {
  // Doubles print with round-trip precision: a resumed epoch's means are bit-identical.
  return {{"steps", steps}, {"images", images}, {"seconds", seconds}, {"loss", loss}, {"acc_inst", acc_inst},
          {"acc_proto", acc_proto}, {"key_cosine", key_cosine}, {"proto_steps", proto_steps},
          {"key_cosine_steps", key_cosine_steps}};
}

EpochProgress EpochProgress::from_json(const nlohmann::json& j) {
  EpochProgress p;
  p.steps = j.at("steps").get<int64_t>();
  p.images = j.at("images").get<int64_t>();
  p.seconds = j.at("seconds").get<double>();
  p.loss = j.at("loss").get<double>();
  p.acc_inst = j.at("acc_inst").get<double>();
  p.acc_proto = j.at("acc_proto").get<double>();
  p.key_cosine = j.at("key_cosine").get<double>();
  p.proto_steps = j.at("proto_steps").get<int64_t>();
  p.key_cosine_steps = j.at("key_cosine_steps").get<int64_t>();
  return p;
}

EpochStats Trainer::train_epoch(int64_t epoch, std::vector<PrototypeLevel>& levels, const EpochProgress& start) {
  const auto& c = state_.config;
  EpochStats stats;
  const uint64_t sent_before = state_.collectives->bytes_sent();
  stats.lr = learning_rate(c.schedule, c.lr, epoch, c.epochs, c.milestones);
  for (auto& group : state_.optimizer->param_groups())
    static_cast<torch::optim::SGDOptions&>(group.options()).lr(stats.lr);
  state_.moco->train();
  const int64_t steps_per_epoch = state_.feed->steps_per_epoch();
  PROTOCLR_CHECK(start.steps <= steps_per_epoch, "the checkpoint stopped at step ", start.steps, " of an epoch of ",
                 steps_per_epoch, " steps (was it written with another --batch-size, --max-steps or data?)");
  state_.feed->start_epoch(epoch, start.steps);
  EpochMonitor monitor(steps_per_epoch, state_.device, start);
  // A process steps through its share of each batch; the progress line shows all of them.
  const int world = state_.collectives->world_size();
  Throughput meter((steps_per_epoch - start.steps) * (c.batch_size / world)), settled, last_print;
  // The sums so far with this session's images and time: what a mid-epoch checkpoint saves.
  const auto progress = [&] {
    monitor.read(epoch);
    EpochProgress p = monitor.sums();
    p.images = start.images + meter.done();
    p.seconds = start.seconds + meter.seconds();
    return p;
  };
  while (monitor.steps() < steps_per_epoch) {
    if (stop_requested()) {
      stats.stopped = true;
      // After the last finished step: --resume continues with the next one.
      save_mid_epoch_checkpoint(epoch, levels, progress());
      break;
    }
    const auto batch = state_.feed->next();
    if (!batch) break;
    Rng rng(stream_seed(c.seed, 0x4d53544550ULL /*"MSTEP"*/, epoch, monitor.steps()));
    const StepOutput step = train_step(*batch, levels, rng);
    monitor.add(step);
    meter.add(step.images);
    const int64_t session_steps = monitor.steps() - start.steps;
    if (session_steps == kSettleSteps) settled.reset(0);
    else if (session_steps > kSettleSteps) settled.add(step.images);
    // On a GPU the monitors are read about once a second, the step's only wait for the
    // device; on the CPU reading is free, so a non-finite loss stops the run at its step.
    if (!state_.device.is_cuda()) monitor.read(epoch);
    if (last_print.seconds() > 1.0 || monitor.steps() == steps_per_epoch) {
      last_print.reset(0);
      monitor.read(epoch);
      log::progress(detail::concat(
          "epoch ", epoch + 1, "/", c.epochs, "  step ", monitor.steps(), "/", steps_per_epoch, "  ",
          static_cast<int64_t>(meter.per_second() * world), " img/s  ETA ", format_duration(meter.eta_seconds()), "  loss ",
          monitor.last_loss(), "  acc@inst ", monitor.last_acc_inst(),
          levels.empty() ? std::string() : detail::concat("  acc@proto ", monitor.last_acc_proto())));
    }
    // (At the epoch's last step a request waits for the next epoch's first step.)
    if (monitor.steps() < steps_per_epoch && checkpoint_requested()) {
      log::progress_done();
      save_mid_epoch_checkpoint(epoch, levels, progress());
    }
  }
  log::progress_done();
  stats.progress = progress();
  if (state_.collectives->world_size() > 1 && !stats.stopped) {
    // The epoch's record covers every process: images summed, monitors averaged (every rank
    // ran the same steps on equal shares, so the mean of their means is the batch mean).
    EpochProgress& p = stats.progress;
    std::vector<double> sums{p.loss, p.acc_inst, p.acc_proto, p.key_cosine, static_cast<double>(p.images)};
    state_.collectives->sum_over_ranks(sums);
    const double w = state_.collectives->world_size();
    p.loss = sums[0] / w;
    p.acc_inst = sums[1] / w;
    p.acc_proto = sums[2] / w;
    p.key_cosine = sums[3] / w;
    p.images = static_cast<int64_t>(sums[4]);
    stats.sent_bytes = state_.collectives->bytes_sent() - sent_before;
  }
  stats.seconds = stats.progress.seconds;
  stats.steps = stats.progress.steps;
  stats.images = stats.progress.images;
  fill_means(stats.progress, stats);
  if (monitor.steps() - start.steps > kSettleSteps)  // every process steps in lockstep on an equal share
    stats.settled_img_per_s = settled.per_second() * state_.collectives->world_size();
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
    logits.push_back(loss::proto_logits(q, level.scaled_prototypes, ids));
  }
  return logits;
}

}  // namespace protoclr::train
