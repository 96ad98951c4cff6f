// Phase 1 (set up the run) and the loop that chains the phases.
#include "protoclr/train/trainer.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>

#include "protoclr/cluster/e_step.h"
#include "protoclr/core/error.h"
#include "protoclr/core/fs.h"
#include "protoclr/core/log.h"
#include "protoclr/data/transfer.h"
#include "protoclr/model/memory_format.h"
#include "protoclr/run/checkpoint.h"
#include "protoclr/run/environment.h"
#include "protoclr/run/metrics.h"
#include "protoclr/run/preemption.h"
#include "protoclr/train/group_collectives.h"

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

namespace {

/// Fails with one line, without creating anything, if `out` cannot become a run folder: a
/// file of that name, or a nearest existing parent that is not a writable folder.
void check_run_folder(const std::string& out) {
  const fs::path path = fs::absolute(out);
  if (fs::exists(path)) {
    PROTOCLR_CHECK(fs::is_directory(path), "the run folder '", out, "' is a file (choose another --out)");
    PROTOCLR_CHECK(::access(path.c_str(), W_OK) == 0, "the run folder '", out, "' is not writable: ",
                   std::strerror(errno), " (choose another --out)");
    return;
  }
  fs::path parent = path.parent_path();
  while (!parent.empty() && parent != parent.root_path() && !fs::exists(parent)) parent = parent.parent_path();
  PROTOCLR_CHECK(fs::is_directory(parent), "cannot create the run folder '", out, "': '", parent.string(),
                 "' is not a folder (choose another --out)");
  PROTOCLR_CHECK(::access(parent.c_str(), W_OK) == 0, "cannot create the run folder '", out, "' in '",
                 parent.string(), "': ", std::strerror(errno), " (choose another --out)");
}

}  // namespace

Trainer::Trainer(run::TrainConfig config, const std::string& resume, TrainerHooks hooks)
    : hooks_(std::move(hooks)) {
  config.validate();
  state_.config = std::move(config);
  state_.device = torch::Device(state_.config.device);
  PROTOCLR_CHECK(!state_.device.is_cuda() || torch::cuda::is_available(), "--device ", state_.config.device,
                 " asked for, but this LibTorch has no CUDA device (use --device cpu)");
  state_.collectives = hooks_.collectives ? hooks_.collectives : std::make_shared<Collectives>();
  // --batch-size is the whole step's batch (the published code's, over all GPUs): each of
  // W processes takes its 1/W slice of it (data::Loader's shards).
  const int world = state_.collectives->world_size();
  if (state_.config.batch_size % world != 0)
    throw UsageError(detail::concat("--batch-size ", state_.config.batch_size, " must be a multiple of the ", world,
                                    " processes: each takes an equal share"));
  torch::manual_seed(state_.config.seed);
  check_run_folder(state_.config.out);  // before any data is read; made once the run can start
  open_data();  // a bad path or a K larger than N fails before any model is built
  build_model();
  restore(resume);
  if (state_.collectives->world_size() > 1) {
    // Every process starts from rank 0's model, as DDP broadcasts it.
    std::vector<torch::Tensor> model_state = state_.moco->parameters();
    for (const auto& buffer : state_.moco->buffers()) model_state.push_back(buffer);
    state_.collectives->broadcast_from_first(model_state);
  }
  start_run_folder();
}

bool Trainer::writes_run_folder() const { return state_.collectives->rank() == 0; }

bool Trainer::stop_requested() {
  return state_.collectives->any_rank(hooks_.stop_requested && hooks_.stop_requested());
}

bool Trainer::checkpoint_requested() {
  return state_.collectives->any_rank(hooks_.checkpoint_requested && hooks_.checkpoint_requested());
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
  model::MoCoOptions moco_options = c.moco_options();
  // --query-bn-splits counts BatchNorm groups of the whole batch; a process has its share.
  moco_options.query_bn_groups(
      groups_per_process(c.query_bn_splits, state_.collectives->world_size(), "--query-bn-splits"));
  // A process of several normalises its share as one process normalises each of its groups.
  moco_options.batch_norm_share_formula(state_.collectives->world_size() > 1);
  state_.moco = model::MoCo(moco_options);
  state_.moco->to(state_.device);
  if (c.channels_last) model::to_channels_last(*state_.moco);
  state_.optimizer = std::make_unique<torch::optim::SGD>(
      state_.moco->encoder_q->parameters(),
      torch::optim::SGDOptions(c.lr).momentum(c.momentum).weight_decay(c.weight_decay));
  state_.key_shuffle = state_.collectives->key_shuffle(c.bn_splits);
  state_.collectives->watch_gradients(state_.optimizer->param_groups()[0].params());
}

void Trainer::restore(const std::string& resume) {
  if (!resume.empty()) {
    const auto path = run::resolve_checkpoint(resume);
    state_.resume_point = run::load_checkpoint(path, state_.moco, state_.optimizer.get(), &state_.estep);
    state_.epochs_done = state_.resume_point.epoch;
    if (state_.resume_point.step > 0)
      log::info("resumed from ", path, " in epoch ", state_.epochs_done + 1, " after step ", state_.resume_point.step);
    else
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
  const int world = state_.collectives->world_size();
  if (writes_run_folder()) {  // several processes: rank 0 writes the run folder
    std::error_code ec;
    fs::create_directories(c.out, ec);
    PROTOCLR_CHECK(!ec, "cannot create the run folder '", c.out, "': ", ec.message(), " (choose another --out)");
    run::truncate_metrics(c.out, state_.epochs_done);
    state_.metrics = JsonLinesWriter(run::metrics_path(c.out), /*truncate=*/state_.epochs_done == 0);
    write_file_atomic(fs::path(c.out) / "config.json", c.to_json().dump(2) + "\n");
    // One line per start: a resumed run may be on another machine.
    nlohmann::json environment = run::runtime_environment();
    environment["start_epoch"] = state_.epochs_done;
    environment["device"] = state_.device.str();
    environment["processes"] = world;
    JsonLinesWriter((fs::path(c.out) / "environment.jsonl").string(), /*truncate=*/state_.epochs_done == 0)
        .write(environment);
  }

  data::LoaderOptions lopt;
  lopt.batch_size = c.batch_size / world;  // each process' slice (checked in the constructor)
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

TrainResult Trainer::run(std::optional<int64_t> stop_after_epochs) {
  PROTOCLR_CHECK(!stop_after_epochs || *stop_after_epochs >= 0, "--stop-after-epochs must be >= 0, got ",
                 stop_after_epochs.value_or(0));
  TrainResult result;
  result.run_dir = state_.config.out;
  result.epochs_done = state_.epochs_done;
  const int64_t end = std::min(state_.config.epochs, stop_after_epochs.value_or(state_.config.epochs));
  for (int64_t epoch = state_.epochs_done; epoch < end; ++epoch) {
    EpochProgress start;
    EStepOutput estep;
    if (epoch == state_.epochs_done && state_.resume_point.step > 0) {
      estep = resume_mid_epoch(start);  // the interrupted epoch's own E-step and sums
    } else {
      if (stop_requested()) {  // between epochs (e.g. in the kNN monitor)
        result.stopped = true;
        save_checkpoint();
        break;
      }
      estep = e_step(epoch);
    }
    state_.epoch_estep = {{"seconds", estep.seconds}, {"feature_seconds", estep.feature_seconds},
                          {"kmeans_seconds", estep.kmeans_seconds}, {"clusters", estep.cluster_sizes}};
    const EpochStats stats = train_epoch(epoch, estep.levels, start);
    if (stats.stopped) {
      result.stopped = true;
      result.stopped_at_step = stats.steps;
      break;
    }
    result.last_metrics = finish_epoch(epoch, estep, stats);
    result.epochs_done = state_.epochs_done;
  }
  if (!result.stopped && state_.epochs_done < state_.config.epochs) {
    // Paused at --stop-after-epochs: the checkpoint a resume continues from (finish_epoch
    // saves only every --save-every epochs and at the schedule's end).
    result.paused = true;
    const int64_t every = state_.config.save_every;
    if (state_.epochs_done == 0 || every == 0 || state_.epochs_done % every != 0) save_checkpoint();
  }
  return result;
}

EStepOutput Trainer::resume_mid_epoch(EpochProgress& start) {
  const auto& point = state_.resume_point;
  EStepOutput estep;
  const bool has_levels = state_.config.prototypes && state_.epochs_done >= state_.config.warmup_epochs;
  if (has_levels) {
    PROTOCLR_CHECK(state_.estep && state_.estep->levels.size() == point.sampler_permutations.size(),
                   "the mid-epoch checkpoint of epoch ", state_.epochs_done + 1, " lacks its E-step (a damaged file?)");
    estep = levels_of_last_e_step();
    for (size_t m = 0; m < estep.levels.size(); ++m) {
      const auto perm = point.sampler_permutations[m].to(torch::kLong).contiguous();
      estep.levels[m].sampler.set_permutation(
          std::vector<int64_t>(perm.data_ptr<int64_t>(), perm.data_ptr<int64_t>() + perm.numel()));
    }
    exclude_unclustered_rows();
  }
  const auto& saved = point.epoch_progress;
  start = EpochProgress::from_json(saved.at("monitors"));
  const auto& e = saved.at("estep");
  if (e.is_object()) {
    estep.seconds = e.value("seconds", 0.0);
    estep.feature_seconds = e.value("feature_seconds", 0.0);
    estep.kmeans_seconds = e.value("kmeans_seconds", 0.0);
    if (e.contains("clusters")) estep.cluster_sizes = e.at("clusters");
  }
  state_.resume_point = run::CheckpointMeta{};  // only the first epoch continues
  return estep;
}

TrainResult train(const run::TrainConfig& config, const std::string& resume, std::optional<int64_t> stop_after_epochs) {
  return Trainer(config, resume).run(stop_after_epochs);
}

TrainResult train(const run::RunRequest& request) {
  run::TrainConfig config = run::resolve_config(request);
  const dist::LaunchInfo launch = dist::LaunchInfo::from_environment();
  TrainerHooks hooks;
  int threads = config.threads;
  if (launch.distributed()) {
    log::set_rank(launch.rank);
    // The machine's cores shared among its processes, unless --threads says otherwise.
    if (threads == 0)
      threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / launch.local_world_size);
    dist::GroupOptions options;
    options.timeout = std::chrono::milliseconds(static_cast<int64_t>(request.dist_timeout * 1000));
    if (torch::Device(config.device).is_cuda()) {
      config.device = "cuda:" + std::to_string(launch.local_rank);  // one GPU per process
      if (dist::backend_available(dist::Backend::kNccl)) options.backend = dist::Backend::kNccl;
    }
    log::info("process group: ", launch.world_size, " processes (", dist::backend_name(options.backend), "), rendezvous at ",
              launch.master_addr, ":", launch.master_port);
    hooks.collectives = std::make_shared<GroupCollectives>(dist::Group::connect(launch, options),
                                                           GroupCollectives::kBucketBytes, request.overlap_gradients);
  }
  run::set_threads(threads);
  run::PreemptionSignals signals;
  hooks.stop_requested = [] { return run::PreemptionSignals::stop_requested(); };
  hooks.checkpoint_requested = [] { return run::PreemptionSignals::take_checkpoint_request(); };
  TrainResult result = Trainer(config, request.resume, hooks).run(request.stop_after_epochs);
  result.stop_signal = run::PreemptionSignals::stop_signal();
  return result;
}

}  // namespace protoclr::train
