#include "protoclr/train/trainer.h"


#include <filesystem>
#include <fstream>
#include <limits>

#include "protoclr/cluster/e_step.h"
#include "protoclr/cluster/prototype_sampler.h"
#include "protoclr/core/error.h"
#include "protoclr/model/autocast.h"
#include "protoclr/core/fs.h"
#include "protoclr/core/log.h"
#include "protoclr/core/progress.h"
#include "protoclr/data/loader.h"
#include "protoclr/eval/features.h"
#include "protoclr/eval/knn.h"
#include "protoclr/loss/info_nce.h"
#include "protoclr/loss/proto_nce.h"
#include "protoclr/model/moco.h"
#include "protoclr/train/checkpoint.h"
#include "protoclr/core/schedule.h"
#include "protoclr/train/curves.h"
#include "protoclr/train/environment.h"
#include "protoclr/model/memory_format.h"

namespace protoclr::train {
namespace fs = std::filesystem;
namespace {

/// One E-step granularity, ready for the M-step.
struct PrototypeLevel {
  torch::Tensor assignments;       ///< [N] int64 on the CPU (the sampler reads it there)
  torch::Tensor scaled_prototypes; ///< [K, D] prototypes / phi on the device
  cluster::NegativePrototypeSampler sampler;
};

/// Keeps the metrics of epochs <= `epochs_done` (a resumed run rewrites what follows).
void truncate_metrics(const fs::path& path, int64_t epochs_done) {
  if (!fs::exists(path)) return;
  std::ifstream in(path);
  std::string line, kept;
  while (std::getline(in, line)) {
    try {
      if (nlohmann::json::parse(line).value("epoch", int64_t{0}) <= epochs_done) kept += line + "\n";
    } catch (const std::exception&) {
      // A line cut short by a kill: drop it.
    }
  }
  write_file_atomic(path, kept);
}

/// Mean key cosine above which an epoch is reported as collapsed.
constexpr double kCollapsedKeyCosine = 0.95;

struct EpochStats {
  double loss = 0, acc_inst = 0, acc_proto = 0;
  int64_t steps = 0, images = 0, key_cosine_steps = 0;
  torch::Tensor key_cosine_sum;  ///< on the device: read once per epoch, not per step
  double seconds = 0;
};

}  // namespace

TrainResult train(TrainConfig config, const std::string& resume) {
  config.validate();
  const torch::Device device(config.device);
  PROTOCLR_CHECK(!device.is_cuda() || torch::cuda::is_available(), "--device ", config.device,
                 " asked for, but this LibTorch has no CUDA device (use --device cpu)");
  torch::manual_seed(config.seed);

  // Data first: a bad path or a K larger than N fails before any model is built.
  data::DatasetOptions dopt;
  dopt.split = config.split;
  dopt.limit = config.limit;
  dopt.seed = config.seed;
  std::shared_ptr<const data::Dataset> dataset = data::open_dataset(config.data, dopt);
  const int64_t n = static_cast<int64_t>(dataset->size());
  if (config.prototypes && config.warmup_epochs < config.epochs) {
    cluster::check_num_clusters(config.num_clusters, n);
    const int64_t smallest_k = *std::min_element(config.num_clusters.begin(), config.num_clusters.end());
    if (config.neg_prototypes > smallest_k - 1)
      log::warn("--neg-prototypes ", config.neg_prototypes, " is more than the negatives K=", smallest_k,
                " can offer: every prototype that is not positive in the batch is used");
  }
  std::shared_ptr<const data::Dataset> val;
  if (!config.val.empty()) {
    data::DatasetOptions vopt;
    vopt.split = config.val_split;
    vopt.limit = config.val_limit;
    vopt.seed = config.seed;
    val = data::open_dataset(config.val, vopt);
  }
  log::info("data: ", n, " images (", dataset->format(), ", ", dataset->classes().size(), " classes)",
            val ? detail::concat("; kNN monitor on ", val->size(), " images") : std::string());

  model::MoCo moco = make_moco(config);
  moco->to(device);
  if (config.channels_last) model::to_channels_last(*moco);

  std::vector<torch::Tensor> trainable;
  for (auto& p : moco->encoder_q->parameters()) trainable.push_back(p);
  torch::optim::SGD sgd(trainable, torch::optim::SGDOptions(config.lr).momentum(config.momentum)
                                       .weight_decay(config.weight_decay));

  fs::create_directories(config.out);
  int64_t start_epoch = 0;
  std::optional<cluster::EStepResult> estep;
  if (!resume.empty()) {
    const auto path = resolve_checkpoint(resume);
    start_epoch = load_checkpoint(path, moco, &sgd, &estep).epoch;
    log::info("resumed from ", path, " after epoch ", start_epoch);
  } else if (!config.init.empty()) {
    // Weights (both encoders and the queue) only: a new run, epoch 0, fresh optimiser.
    const auto path = resolve_checkpoint(config.init);
    load_checkpoint(path, moco, /*optimizer=*/nullptr, /*estep=*/nullptr);
    log::info("initialised from ", path);
  }
  const fs::path metrics_path = fs::path(config.out) / "metrics.jsonl";
  truncate_metrics(metrics_path, start_epoch);
  JsonLinesWriter metrics(metrics_path.string(), /*truncate=*/start_epoch == 0);
  write_file_atomic(fs::path(config.out) / "config.json", config.to_json().dump(2) + "\n");
  // One line per start: a resumed run may be on another machine.
  nlohmann::json environment = runtime_environment();
  environment["start_epoch"] = start_epoch;
  environment["device"] = device.str();
  JsonLinesWriter((fs::path(config.out) / "environment.jsonl").string(), /*truncate=*/start_epoch == 0)
      .write(environment);

  data::LoaderOptions lopt;
  lopt.batch_size = config.batch_size;
  lopt.workers = config.workers;
  lopt.views = 2;
  lopt.channels_last = config.channels_last;
  lopt.seed = config.seed;
  auto augment = data::AugmentOptions::from_name(config.augmentation, config.image_size);
  augment.crop_scale[0] = config.crop_scale_min;
  data::Loader loader(dataset, data::Augmentation(augment), lopt);

  eval::ExtractOptions xopt;
  xopt.layer = eval::FeatureLayer::kEmbedding;
  xopt.image_size = config.image_size;
  xopt.batch_size = 2 * config.batch_size;
  xopt.workers = config.workers;
  xopt.device = device;
  xopt.channels_last = config.channels_last;
  xopt.bf16 = config.bf16;
  // Momentum-encoder features of the training set, valid until the next training step: the
  // kNN monitor at the end of epoch e and the E-step of epoch e + 1 share them.
  std::optional<eval::Features> key_features;
  auto train_key_features = [&]() -> const eval::Features& {
    if (!key_features) {
      xopt.progress_label = "E-step features";
      key_features = eval::extract_features(moco->encoder_k, dataset, xopt);
    }
    return *key_features;
  };

  model::SplitBatchShuffle shuffle(config.bn_splits);
  const int64_t steps_per_epoch = config.max_steps > 0 ? std::min(config.max_steps, loader.batches_per_epoch())
                                                       : loader.batches_per_epoch();
  bool warned_few_negatives = false;
  TrainResult result;
  result.run_dir = config.out;

  for (int64_t epoch = start_epoch; epoch < config.epochs; ++epoch) {
    const double lr = learning_rate(config.schedule, config.lr, epoch, config.epochs, config.milestones);
    for (auto& group : sgd.param_groups()) static_cast<torch::optim::SGDOptions&>(group.options()).lr(lr);

    // E-step (Algorithm 1): cluster the momentum features at every granularity.
    std::vector<PrototypeLevel> levels;
    double estep_seconds = 0, feature_seconds = 0, kmeans_seconds = 0;
    nlohmann::json cluster_sizes = nlohmann::json::array();
    const bool use_prototypes = config.prototypes && epoch >= config.warmup_epochs;
    if (use_prototypes) {
      Throughput timer;
      const auto& feats = train_key_features();
      feature_seconds = timer.seconds();  // ~0 when the kNN monitor already computed them
      cluster::EStepOptions copt;
      copt.num_clusters = config.num_clusters;
      copt.iterations = config.kmeans_iterations;
      copt.redo = config.kmeans_redo;
      copt.seed = config.seed;
      copt.concentration.alpha = config.alpha;
      copt.concentration.temperature = config.temperature;
      estep = cluster::run_e_step(feats.features, copt);
      for (const auto& level : estep->levels) {
        levels.push_back({level.assignments,
                          loss::scale_prototypes(level.prototypes, level.phi).to(device),
                          cluster::NegativePrototypeSampler(level.k)});
        cluster_sizes.push_back({{"k", level.k}, {"largest", level.counts.max().item<int64_t>()},
                                 {"smallest", level.counts.min().item<int64_t>()}});
      }
      estep_seconds = timer.seconds();
      kmeans_seconds = estep->seconds;
      log::info("E-step ", format_duration(estep_seconds), ": ", cluster_sizes.dump());
    }

    // M-step: ProtoNCE (InfoNCE alone during warm-up).
    moco->train();
    loader.start_epoch(epoch);
    EpochStats stats;
    double proto_steps = 0;
    Throughput meter(steps_per_epoch * config.batch_size);
    // Throughput after the first kSettleSteps steps (allocator and kernel set-up done): the
    // convention of the side-by-side reference, which times from its third step.
    constexpr int64_t kSettleSteps = 2;
    Throughput settled;
    Throughput last_print;
    while (stats.steps < steps_per_epoch) {
      auto batch = loader.next();
      if (!batch) break;
      key_features.reset();
      const auto v1 = batch->views[0].to(device, /*non_blocking=*/true);
      const auto v2 = batch->views[1].to(device, /*non_blocking=*/true);
      Rng rng(stream_seed(config.seed, 0x4d53544550ULL /*"MSTEP"*/, epoch, stats.steps));
      torch::Tensor q, k;
      {
        model::AutocastGuard autocast(config.bf16, device);
        q = moco->encode_query(v1);
        moco->momentum_update();
        k = moco->encode_key(v2, shuffle, rng);
      }
      q = q.to(torch::kFloat);
      const auto instance_logits = loss::info_nce_logits(q, k, moco->negatives(), config.temperature);
      std::vector<torch::Tensor> proto_logits;
      if (use_prototypes) {
        for (auto& level : levels) {
          // One lookup of the batch's positives: the sampler excludes them, the logits use them.
          const auto pos_cpu = level.assignments.index_select(0, batch->index).contiguous();
          auto neg = level.sampler.sample(pos_cpu.data_ptr<int64_t>(), pos_cpu.numel(), config.neg_prototypes, rng);
          if (static_cast<int64_t>(neg.size()) < config.neg_prototypes && !warned_few_negatives) {
            log::warn("only ", neg.size(), " negative prototypes available at K=", level.sampler.k(),
                      " (--neg-prototypes ", config.neg_prototypes, "): using all of them");
            warned_few_negatives = true;
          }
          const auto neg_ids = torch::tensor(neg, torch::kLong).to(device);
          proto_logits.push_back(loss::proto_logits(q, level.scaled_prototypes, pos_cpu.to(device), neg_ids));
        }
      }
      const auto out = loss::proto_nce(instance_logits, proto_logits);
      sgd.zero_grad();
      out.loss.backward();
      sgd.step();
      moco->enqueue(k);

      const double loss_value = out.loss.item<double>();
      PROTOCLR_CHECK(std::isfinite(loss_value), "the loss became ", loss_value, " at epoch ", epoch + 1,
                     " step ", stats.steps + 1, " (lower --lr or check the data)");
      const int64_t b = v1.size(0);
      stats.loss += loss_value;
      stats.acc_inst += out.acc_inst;
      if (b >= 2) {  // no pairs in a 1-image batch
        const auto c = loss::mean_pairwise_cosine(k);
        stats.key_cosine_sum = stats.key_cosine_sum.defined() ? stats.key_cosine_sum + c : c;
        ++stats.key_cosine_steps;
      }
      if (!proto_logits.empty()) {
        stats.acc_proto += out.acc_proto;
        proto_steps += 1;
      }
      ++stats.steps;
      stats.images += b;
      meter.add(b);
      if (stats.steps == kSettleSteps) settled.reset(0);
      else if (stats.steps > kSettleSteps) settled.add(b);
      if (last_print.seconds() > 1.0 || stats.steps == steps_per_epoch) {
        last_print.reset(0);
        log::progress(detail::concat(
            "epoch ", epoch + 1, "/", config.epochs, "  step ", stats.steps, "/", steps_per_epoch, "  ",
            static_cast<int64_t>(meter.per_second()), " img/s  ETA ", format_duration(meter.eta_seconds()),
            "  loss ", loss_value, "  acc@inst ", out.acc_inst,
            proto_logits.empty() ? std::string() : detail::concat("  acc@proto ", out.acc_proto)));
      }
    }
    log::progress_done();
    stats.seconds = meter.seconds();

    const double key_cosine = stats.key_cosine_steps > 0
                                  ? stats.key_cosine_sum.item<double>() / stats.key_cosine_steps
                                  : std::numeric_limits<double>::quiet_NaN();
    nlohmann::json record = {
        {"epoch", epoch + 1}, {"lr", lr}, {"loss", stats.loss / std::max<int64_t>(1, stats.steps)},
        {"acc_inst", stats.acc_inst / std::max<int64_t>(1, stats.steps)},
        {"key_cosine", std::isfinite(key_cosine) ? nlohmann::json(key_cosine) : nlohmann::json(nullptr)},
        {"acc_proto", proto_steps > 0 ? nlohmann::json(stats.acc_proto / proto_steps) : nlohmann::json(nullptr)},
        {"images", stats.images}, {"img_per_s", stats.images / std::max(1e-9, stats.seconds)},
        {"settled_img_per_s", stats.steps > kSettleSteps ? nlohmann::json(settled.per_second()) : nlohmann::json(nullptr)},
        {"train_seconds", stats.seconds}, {"estep_seconds", estep_seconds},
        {"estep_feature_seconds", feature_seconds}, {"kmeans_seconds", kmeans_seconds}, {"clusters", cluster_sizes}};
    const bool last = epoch + 1 == config.epochs;
    if (val && !dataset->classes().empty() && config.knn_every > 0 && ((epoch + 1) % config.knn_every == 0 || last)) {
      const auto& bank = train_key_features();
      xopt.progress_label = "kNN features";
      const auto test = eval::extract_features(moco->encoder_k, val, xopt);
      eval::KnnOptions kopt;
      kopt.k = config.knn_k;
      kopt.temperature = config.knn_temperature;
      kopt.num_classes = static_cast<int64_t>(std::max(dataset->classes().size(), val->classes().size()));
      const auto knn = eval::knn_classify(bank.features, bank.labels, test.features, test.labels, kopt);
      record["knn_top1"] = knn.top1;
      record["knn_top5"] = knn.top5;
    }
    // Keys of different images nearly parallel after an epoch of training: the embedding has
    // collapsed (a random network's keys start at 0.9 or more; learning spreads them out).
    if (epoch > 0 && key_cosine > kCollapsedKeyCosine)  // false for NaN
      log::warn("epoch ", epoch + 1, ": keys of different images have mean cosine ", key_cosine,
                ", the embedding is collapsing (try a lower --lr, a shorter --queue-size or a larger --moco-m;"
                " docs/BENCHMARKS.md, \"Does it learn?\")");
    metrics.write(record);
    log::info(record.dump());
    write_training_curves(config.out);
    result.last_metrics = record;
    result.epochs_done = epoch + 1;

    if (last || (config.save_every > 0 && (epoch + 1) % config.save_every == 0)) {
      CheckpointMeta meta;
      meta.config = config;
      meta.epoch = epoch + 1;
      save_checkpoint(checkpoint_path(config.out), moco, &sgd, meta, estep ? &*estep : nullptr);
    }
  }
  if (loader.failed_images() > 0)
    log::warn(loader.failed_images(), " images failed to decode and were replaced (run `protoclr data inspect`)");
  return result;
}

}  // namespace protoclr::train
