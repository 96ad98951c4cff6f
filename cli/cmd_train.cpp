#include <cstdlib>
#include <iostream>

#include "commands.h"
#include "protoclr/cluster/kmeans.h"
#include "protoclr/dist/group.h"
#include "protoclr/dist/launch.h"
#include "protoclr/run/config.h"
#include "protoclr/run/preemption.h"
#include "protoclr/train/trainer.h"

namespace protoclr::cli {
namespace {

/// A configuration default as --help shows it: 0.03, cpu, 25000,50000,100000.
template <typename T>
std::string default_text(const T& value) {
  if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
    return comma_list(value);
  } else {
    return CLI::detail::to_string(value);
  }
}

/// Flags land in `parsed`; every flag the user gave becomes an explicit value of the run
/// request, by its configuration key, and run::resolve_config puts it over the preset (or
/// the resumed run's configuration).
struct TrainFlags {
  run::TrainConfig parsed;
  run::RunRequest request;
  std::vector<std::pair<CLI::Option*, std::function<void(nlohmann::json&)>>> explicit_values;

  template <typename T>
  CLI::Option* bind(CLI::App* cmd, const std::string& flag, const std::string& key, T run::TrainConfig::*field,
                    const std::string& help, bool is_flag = false) {
    CLI::Option* opt = nullptr;
    if constexpr (std::is_same_v<T, bool>) {
      opt = is_flag ? cmd->add_flag(flag, parsed.*field, help) : cmd->add_option(flag, parsed.*field, help);
    } else {
      opt = cmd->add_option(flag, parsed.*field, help);
    }
    if (!is_flag) opt->default_str(default_text(run::TrainConfig{}.*field));
    explicit_values.emplace_back(opt, [this, key, field](nlohmann::json& o) { o[key] = parsed.*field; });
    return opt;
  }
};

}  // namespace

void add_train_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("train", "Train PCL (or the MoCo baselines) on a dataset");
  auto f = std::make_shared<TrainFlags>();
  using C = run::TrainConfig;
  cmd->add_option("--preset", f->request.preset, "Settings to start from (paper settings; quickstart: minutes on a laptop)")
      ->check(CLI::IsMember(run::preset_names()))->capture_default_str();
  cmd->add_option("--resume", f->request.resume, "Continue the run in this folder (or from this checkpoint)");
  f->bind(cmd, "--data", "data", &C::data, "Training images (default: built-in Fashion-MNIST)");
  f->bind(cmd, "--split", "split", &C::split, "train or test, for IDX / CIFAR folders");
  f->bind(cmd, "--val", "val", &C::val, "Labelled images for the kNN monitor");
  f->bind(cmd, "--val-split", "val_split", &C::val_split, "Split of --val for IDX / CIFAR folders");
  f->bind(cmd, "--limit", "limit", &C::limit, "Class-balanced subset of about N training images (0 = all)")->check(non_negative());
  f->bind(cmd, "--val-limit", "val_limit", &C::val_limit, "Class-balanced subset of the --val images (0 = all)")->check(non_negative());
  f->bind(cmd, "--aug", "augmentation", &C::augmentation, "mocov1 or mocov2 (default from the preset)")
      ->check(CLI::IsMember({"mocov1", "mocov2"}));
  f->bind(cmd, "--crop-scale", "crop_scale_min", &C::crop_scale_min, "Smallest crop area of RandomResizedCrop (fraction)")
      ->check(between(0, 1));
  f->bind(cmd, "--image-size", "image_size", &C::image_size, "Crop size (32 for CIFAR, 224 for ImageNet)")->check(at_least(8));
  f->bind(cmd, "--workers", "workers", &C::workers, "Loader threads (0 = all hardware threads)")->check(non_negative());
  f->bind(cmd, "--arch", "arch", &C::arch, "resnet18, resnet34 or resnet50")->check(CLI::IsMember({"resnet18", "resnet34", "resnet50"}));
  f->bind(cmd, "--cifar-stem", "cifar_stem", &C::cifar_stem, "3x3 stride-1 conv1 and no max-pool (small images)", /*is_flag=*/true);
  f->bind(cmd, "--low-dim", "low_dim", &C::low_dim, "Embedding dimension")->check(positive());
  f->bind(cmd, "--mlp", "mlp", &C::mlp, "MLP projection head (true/false; default from the preset)");
  f->bind(cmd, "--moco-m", "moco_m", &C::moco_m, "Momentum of the key encoder")->check(between(0, 1));
  f->bind(cmd, "--queue-size", "queue_size", &C::queue_size, "Negative keys in the MoCo queue")->check(positive());
  f->bind(cmd, "--bn-splits", "bn_splits", &C::bn_splits, "Shuffle-BN groups of the key batch")->check(positive());
  f->bind(cmd, "--query-bn-splits", "query_bn_splits", &C::query_bn_splits,
          "BatchNorm groups of the query batch (the published runs: one per GPU, 8)")
      ->check(positive());
  f->bind(cmd, "--temperature", "temperature", &C::temperature, "tau (default from the preset: 0.1 v1, 0.2 v2)")->check(positive());
  f->bind(cmd, "--num-clusters", "num_clusters", &C::num_clusters, "K per granularity, e.g. 25000,50000,100000")
      ->delimiter(',')->check(at_least(2));
  f->bind(cmd, "--neg-prototypes", "neg_prototypes", &C::neg_prototypes, "r, negative prototypes per granularity")->check(positive());
  f->bind(cmd, "--kmeans-iterations", "kmeans_iterations", &C::kmeans_iterations, "k-means iterations")->check(positive());
  f->bind(cmd, "--kmeans-redo", "kmeans_redo", &C::kmeans_redo, "k-means restarts (best objective kept)")->check(positive());
  f->bind(cmd, "--kmeans-backend", "kmeans_backend", &C::kmeans_backend,
          "k-means: faiss (CPU), torch (where the features are) or auto (torch on CUDA)")
      ->check(CLI::IsMember(cluster::kmeans_backend_names()));
  f->bind(cmd, "--kmeans-warm-start", "kmeans_warm_start", &C::kmeans_warm_start,
          "Each E-step's first k-means run starts from the last E-step's prototypes", /*is_flag=*/true);
  f->bind(cmd, "--warmup-epochs", "warmup_epochs", &C::warmup_epochs, "Epochs of InfoNCE only before the first E-step")->check(non_negative());
  f->bind(cmd, "--epochs", "epochs", &C::epochs, "Training epochs")->check(positive());
  f->bind(cmd, "--batch-size", "batch_size", &C::batch_size, "Images per step")->check(positive());
  f->bind(cmd, "--lr", "lr", &C::lr, "Base learning rate")->check(positive());
  f->bind(cmd, "--momentum", "momentum", &C::momentum, "SGD momentum")->check(between(0, 1));
  f->bind(cmd, "--wd", "weight_decay", &C::weight_decay, "Weight decay")->check(non_negative());
  add_schedule_option(cmd, f->parsed.schedule, f->parsed.milestones,
                      "cosine, or step milestones such as 120,160 (default from the preset)");
  f->explicit_values.emplace_back(cmd->get_option("--schedule"), [f](nlohmann::json& o) {
    o["schedule"] = f->parsed.schedule;
    o["milestones"] = f->parsed.milestones;
  });
  f->bind(cmd, "--channels-last", "channels_last", &C::channels_last, "NHWC memory format (true/false)");
  f->bind(cmd, "--bf16", "bf16", &C::bf16, "bf16 autocast for the encoders", /*is_flag=*/true);
  f->bind(cmd, "--device", "device", &C::device, "cpu or cuda[:N]");
  f->bind(cmd, "--threads", "threads", &C::threads, "Compute threads (0 = all)")->check(non_negative());
  f->bind(cmd, "--seed", "seed", &C::seed, "Seed of initialisation, shuffling, augmentation, k-means");
  f->bind(cmd, "--init", "init", &C::init, "Start a new run from these weights (protoclr checkpoint, e.g. from `protoclr import`)");
  f->bind(cmd, "--out", "out", &C::out, "Run folder: metrics.jsonl, config.json, checkpoint.pt");
  f->bind(cmd, "--save-every", "save_every", &C::save_every, "Save a checkpoint every N epochs (and at the end)")->check(non_negative());
  f->bind(cmd, "--knn-every", "knn_every", &C::knn_every, "kNN monitor on --val every N epochs (0 = never)")->check(non_negative());
  f->bind(cmd, "--knn-k", "knn_k", &C::knn_k, "Neighbours of the kNN monitor")->check(positive());
  auto stop_after = std::make_shared<int64_t>(-1);
  cmd->add_option("--stop-after-epochs", *stop_after,
                  "Stop after N epochs, the schedule still that of --epochs; `--resume` continues (0: save the "
                  "initial weights)")
      ->check(non_negative());
  f->bind(cmd, "--max-steps", "max_steps", &C::max_steps, "Stop each epoch after N steps (smoke runs; 0 = all)")->check(non_negative());

  auto nproc = std::make_shared<int>(1);
  cmd->add_option("--nproc-per-node", *nproc,
                  "Processes on this machine, data-parallel over c10d (Gloo on CPU, NCCL on CUDA: one GPU each); "
                  "--batch-size is their total")
      ->check(positive())->capture_default_str();
  cmd->add_option("--dist-timeout", f->request.dist_timeout,
                  "Seconds a process waits for the others at start and at every collective before it fails")
      ->check(positive())->capture_default_str();
  cmd->add_option("--overlap-gradients", f->request.overlap_gradients,
                  "Several processes: all-reduce gradients while backward still runs (false: after it; same result)")
      ->capture_default_str();

  cmd->callback([f, nproc, stop_after] {
    for (auto& [opt, apply] : f->explicit_values)
      if (opt->count() > 0) apply(f->request.overrides);
    if (*stop_after >= 0) f->request.stop_after_epochs = *stop_after;
    if (*nproc > 1 && std::getenv("RANK") == nullptr) {
      // The launcher: this command line without --nproc-per-node, once per rank.
      dist::LocalLaunchOptions launch;
      launch.processes = *nproc;
      if (std::getenv("MASTER_PORT") != nullptr) launch.master_port = dist::LaunchInfo::from_environment().master_port;
      const int status = dist::run_local_processes(
          "/proc/self/exe", dist::without_flag(dist::own_arguments(), "--nproc-per-node"), launch);
      if (status != 0) throw ExitStatus{status};
      return;
    }
    const auto result = train::train(f->request);
    const bool first_rank = dist::LaunchInfo::from_environment().rank == 0;  // the others stay quiet
    if (first_rank) std::cout << "run folder: " << result.run_dir << "\n";
    if (first_rank && result.paused)
      std::cerr << "paused after epoch " << result.epochs_done << " (--stop-after-epochs); `protoclr train --resume "
                << result.run_dir << "` continues\n";
    if (result.stopped) {
      const int sig = result.stop_signal;
      if (first_rank)
        std::cerr << "stopped by " << run::signal_name(sig) << " in epoch " << result.epochs_done + 1
                  << " after step " << result.stopped_at_step << "; the checkpoint is saved: `protoclr train --resume "
                  << result.run_dir << "` continues from the next step\n";
      throw ExitStatus{sig > 0 ? 128 + sig : 1};  // the shell's status for a signal: not a finished run
    }
  });
}

}  // namespace protoclr::cli
