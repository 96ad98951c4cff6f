// Phase 1 (set up the run) and the loop that chains the phases.
#include "protoclr/train/trainer.h"

#include <filesystem>

#include "protoclr/cluster/e_step.h"
#include "protoclr/core/error.h"
#include "protoclr/core/fs.h"
#include "protoclr/core/log.h"
#include "protoclr/data/transfer.h"
#include "protoclr/model/memory_format.h"
#include "protoclr/run/checkpoint.h"
#include "protoclr/run/environment.h"
#include "protoclr/run/metrics.h"

namespace protoclr::train {
namespace fs = std::filesystem;

cluster::EStepOptions e_step_options(const run::TrainConfig& config) {
  cluster::EStepOptions o;
  o.num_clusters = config.num_clusters;
  o.iterations = config.kmeans_iterations;
  o.redo = config.kmeans_redo;
  o.backend = cluster::parse_kmeans_backend(config.kmeans_backend);
  o.seed = config.seed;
  o.concentration.alpha = config.alpha;
  o.concentration.temperature = config.temperature;
  return o;
}

features::ExtractOptions key_feature_options(const run::TrainConfig& config, torch::Device device) {
  features::ExtractOptions o;
  o.layer = features::FeatureLayer::kEmbedding;
  o.image_size = config.image_size;
  o.batch_size = 2 * config.batch_size;
  o.workers = config.workers;
  o.device = device;
  o.channels_last = config.channels_last;
  o.bf16 = config.bf16;
  o.keep_on_device = true;  // the E-step clusters them and the kNN monitor votes where they are
  return o;
}

Trainer::Trainer(run::TrainConfig config, const std::string& resume, TrainerHooks hooks)
    : hooks_(std::move(hooks)) {
  config.validate();
  state_.config = std::move(config);
  state_.device = torch::Device(state_.config.device);
  PROTOCLR_CHECK(!state_.device.is_cuda() || torch::cuda::is_available(), "--device ", state_.config.device,
                 " asked for, but this LibTorch has no CUDA device (use --device cpu)");
  state_.collectives = hooks_.collectives ? hooks_.collectives : std::make_shared<Collectives>();
  torch::manual_seed(state_.config.seed);
  open_data();  // first: a bad path or a K larger than N fails before any model is built
  build_model();
  restore(resume);
  start_run_folder();
}

Trainer::~Trainer() = default;

void Trainer::open_data() {
  const auto& c = state_.config;
  state_.dataset = data::open_dataset(c.data, c.dataset_options());
  const int64_t n = static_cast<int64_t>(state_.dataset->size());
  if (c.prototypes && c.warmup_epochs < c.epochs) {
    cluster::check_num_clusters(c.num_clusters, n);
    const int64_t smallest_k = *std::min_element(c.num_clusters.begin(), c.num_clusters.end());
    if (c.neg_prototypes > smallest_k - 1)
      log::warn("--neg-prototypes ", c.neg_prototypes, " is more than the negatives K=", smallest_k,
                " can offer: every prototype that is not positive in the batch is used");
  }
  if (!c.val.empty()) state_.val = data::open_dataset(c.val, c.val_dataset_options());
  log::info("data: ", n, " images (", state_.dataset->format(), ", ", state_.dataset->classes().size(), " classes)",
            state_.val ? detail::concat("; kNN monitor on ", state_.val->size(), " images") : std::string());
}

void Trainer::build_model() {
  const auto& c = state_.config;
  state_.moco = model::MoCo(c.moco_options());
  state_.moco->to(state_.device);
  if (c.channels_last) model::to_channels_last(*state_.moco);
  state_.optimizer = std::make_unique<torch::optim::SGD>(
      state_.moco->encoder_q->parameters(),
      torch::optim::SGDOptions(c.lr).momentum(c.momentum).weight_decay(c.weight_decay));
  state_.key_shuffle = state_.collectives->key_shuffle(c.bn_splits);
}

void Trainer::restore(const std::string& resume) {
  if (!resume.empty()) {
    const auto path = run::resolve_checkpoint(resume);
    state_.epochs_done = run::load_checkpoint(path, state_.moco, state_.optimizer.get(), &state_.estep).epoch;
    log::info("resumed from ", path, " after epoch ", state_.epochs_done);
  } else if (!state_.config.init.empty()) {
    // Weights (both encoders and the queue) only: a new run, epoch 0, fresh optimiser.
    const auto path = run::resolve_checkpoint(state_.config.init);
    run::load_checkpoint(path, state_.moco, /*optimizer=*/nullptr, /*estep=*/nullptr);
    log::info("initialised from ", path);
  }
}

void Trainer::start_run_folder() {
  const auto& c = state_.config;
  fs::create_directories(c.out);
  run::truncate_metrics(c.out, state_.epochs_done);
  state_.metrics = JsonLinesWriter(run::metrics_path(c.out), /*truncate=*/state_.epochs_done == 0);
  write_file_atomic(fs::path(c.out) / "config.json", c.to_json().dump(2) + "\n");
  // One line per start: a resumed run may be on another machine.
  nlohmann::json environment = run::runtime_environment();
  environment["start_epoch"] = state_.epochs_done;
  environment["device"] = state_.device.str();
  JsonLinesWriter((fs::path(c.out) / "environment.jsonl").string(), /*truncate=*/state_.epochs_done == 0)
      .write(environment);

  data::LoaderOptions lopt;
  lopt.batch_size = c.batch_size;
  lopt.workers = c.workers;
  lopt.views = 2;
  lopt.channels_last = c.channels_last;
  lopt.seed = c.seed;
  lopt.rank = state_.collectives->rank();
  lopt.world_size = state_.collectives->world_size();
  auto augment = data::AugmentOptions::from_name(c.augmentation, c.image_size);
  augment.crop_scale[0] = c.crop_scale_min;
  state_.feed = std::make_unique<BatchFeed>(
      std::make_unique<data::Loader>(state_.dataset, data::Augmentation(augment),
                                     data::loader_options_for(lopt, state_.device)),
      state_.device, c.max_steps);
}

TrainResult Trainer::run() {
  TrainResult result;
  result.run_dir = state_.config.out;
  result.epochs_done = state_.epochs_done;
  for (int64_t epoch = state_.epochs_done; epoch < state_.config.epochs; ++epoch) {
    EStepOutput estep = e_step(epoch);
    const EpochStats stats = train_epoch(epoch, estep.levels);
    if (stats.stopped) {
      result.stopped = true;
      log::warn("stopped during epoch ", epoch + 1, " after ", stats.steps, " steps; `protoclr train --resume ",
                state_.config.out, "` continues after the last saved epoch");
      break;
    }
    result.last_metrics = finish_epoch(epoch, estep, stats);
    result.epochs_done = state_.epochs_done;
  }
  if (const int64_t failed = state_.feed->loader().failed_images(); failed > 0)
    log::warn(failed, " images failed to decode and were replaced (run `protoclr data inspect`)");
  return result;
}

TrainResult train(const run::TrainConfig& config, const std::string& resume) { return Trainer(config, resume).run(); }

TrainResult train(const run::RunRequest& request) {
  const run::TrainConfig config = run::resolve_config(request);
  run::set_threads(config.threads);
  return train(config, request.resume);
}

}  // namespace protoclr::train
