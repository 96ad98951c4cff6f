#include <filesystem>
#include <functional>
#include <iostream>

#include "commands.h"
#include "protoclr/train/checkpoint.h"
#include "protoclr/train/trainer.h"

namespace protoclr::cli {
namespace {

/// Flags land in `parsed`; after parsing, the preset's values are taken and every flag the
/// user gave overrides its field, so `--preset` never hides an explicit flag.
struct TrainFlags {
  train::TrainConfig parsed;
  std::string preset = "pcl-v2";
  std::string resume;
  std::string num_clusters, schedule;
  std::vector<std::pair<CLI::Option*, std::function<void(train::TrainConfig&)>>> overrides;

  template <typename T>
  void bind(CLI::App* cmd, const std::string& name, T train::TrainConfig::*field, const std::string& help) {
    auto* opt = cmd->add_option(name, parsed.*field, help);
    opt->default_str(CLI::detail::to_string(train::TrainConfig{}.*field));
    overrides.emplace_back(opt, [this, field](train::TrainConfig& c) { c.*field = parsed.*field; });
  }
  void bind_flag(CLI::App* cmd, const std::string& name, bool train::TrainConfig::*field, const std::string& help) {
    auto* opt = cmd->add_flag(name, parsed.*field, help);
    overrides.emplace_back(opt, [this, field](train::TrainConfig& c) { c.*field = parsed.*field; });
  }
};

}  // namespace

void add_train_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("train", "Train PCL (or the MoCo baselines) on a dataset");
  auto f = std::make_shared<TrainFlags>();
  using C = train::TrainConfig;
  cmd->add_option("--preset", f->preset, "pcl-v1, pcl-v2, moco-v1 or moco-v2 (paper settings)")->capture_default_str();
  cmd->add_option("--resume", f->resume, "Continue the run in this folder (or from this checkpoint)");
  f->bind(cmd, "--data", &C::data, "Training images (default: built-in Fashion-MNIST)");
  f->bind(cmd, "--split", &C::split, "train or test, for IDX / CIFAR folders");
  f->bind(cmd, "--val", &C::val, "Labelled images for the kNN monitor");
  f->bind(cmd, "--val-split", &C::val_split, "Split of --val for IDX / CIFAR folders");
  f->bind(cmd, "--limit", &C::limit, "Class-balanced subset of about N training images (0 = all)");
  f->bind(cmd, "--val-limit", &C::val_limit, "Class-balanced subset of the --val images (0 = all)");
  f->bind(cmd, "--aug", &C::augmentation, "mocov1 or mocov2 (default from the preset)");
  f->bind(cmd, "--crop-scale", &C::crop_scale_min, "Smallest crop area of RandomResizedCrop (fraction)");
  f->bind(cmd, "--image-size", &C::image_size, "Crop size (32 for CIFAR, 224 for ImageNet)");
  f->bind(cmd, "--workers", &C::workers, "Loader threads (0 = all hardware threads)");
  f->bind(cmd, "--arch", &C::arch, "resnet18, resnet34 or resnet50");
  f->bind_flag(cmd, "--cifar-stem", &C::cifar_stem, "3x3 stride-1 conv1 and no max-pool (small images)");
  f->bind(cmd, "--low-dim", &C::low_dim, "Embedding dimension");
  f->bind(cmd, "--mlp", &C::mlp, "MLP projection head (true/false; default from the preset)");
  f->bind(cmd, "--moco-m", &C::moco_m, "Momentum of the key encoder");
  f->bind(cmd, "--queue-size", &C::queue_size, "Negative keys in the MoCo queue");
  f->bind(cmd, "--bn-splits", &C::bn_splits, "Shuffle-BN groups of the key batch");
  f->bind(cmd, "--temperature", &C::temperature, "tau (default from the preset: 0.1 v1, 0.2 v2)");
  cmd->add_option("--num-clusters", f->num_clusters, "K per granularity, e.g. 25000,50000,100000");
  f->bind(cmd, "--neg-prototypes", &C::neg_prototypes, "r, negative prototypes per granularity");
  f->bind(cmd, "--kmeans-iterations", &C::kmeans_iterations, "k-means iterations");
  f->bind(cmd, "--kmeans-redo", &C::kmeans_redo, "k-means restarts (best objective kept)");
  f->bind(cmd, "--warmup-epochs", &C::warmup_epochs, "Epochs of InfoNCE only before the first E-step");
  f->bind(cmd, "--epochs", &C::epochs, "Training epochs");
  f->bind(cmd, "--batch-size", &C::batch_size, "Images per step");
  f->bind(cmd, "--lr", &C::lr, "Base learning rate");
  f->bind(cmd, "--momentum", &C::momentum, "SGD momentum");
  f->bind(cmd, "--wd", &C::weight_decay, "Weight decay");
  cmd->add_option("--schedule", f->schedule, "cosine, or step milestones such as 120,160 (default from the preset)");
  f->bind(cmd, "--channels-last", &C::channels_last, "NHWC memory format (true/false)");
  f->bind_flag(cmd, "--bf16", &C::bf16, "bf16 autocast for the encoders");
  f->bind(cmd, "--device", &C::device, "cpu or cuda[:N]");
  f->bind(cmd, "--threads", &C::threads, "Compute threads (0 = all)");
  f->bind(cmd, "--seed", &C::seed, "Seed of initialisation, shuffling, augmentation, k-means");
  f->bind(cmd, "--init", &C::init, "Start a new run from these weights (protoclr checkpoint, e.g. from `protoclr import`)");
  f->bind(cmd, "--out", &C::out, "Run folder: metrics.jsonl, config.json, checkpoint.pt");
  f->bind(cmd, "--save-every", &C::save_every, "Save a checkpoint every N epochs (and at the end)");
  f->bind(cmd, "--knn-every", &C::knn_every, "kNN monitor on --val every N epochs (0 = never)");
  f->bind(cmd, "--knn-k", &C::knn_k, "Neighbours of the kNN monitor");
  f->bind(cmd, "--max-steps", &C::max_steps, "Stop each epoch after N steps (smoke runs; 0 = all)");

  cmd->callback([f, cmd] {
    train::TrainConfig config;
    if (!f->resume.empty()) {
      // A resumed run keeps its configuration; flags given now (e.g. --epochs) override it.
      config = train::read_checkpoint_meta(train::resolve_checkpoint(f->resume)).config;
    } else {
      config = train::TrainConfig::from_preset(f->preset);
      if (!f->parsed.init.empty()) {
        // The model's shape comes with the weights; flags given now still override it.
        const auto init = train::read_checkpoint_meta(train::resolve_checkpoint(f->parsed.init)).config;
        config.arch = init.arch;
        config.cifar_stem = init.cifar_stem;
        config.low_dim = init.low_dim;
        config.mlp = init.mlp;
        config.queue_size = init.queue_size;
      }
    }
    for (auto& [opt, apply] : f->overrides)
      if (opt->count() > 0) apply(config);
    if (!f->num_clusters.empty()) config.num_clusters = train::parse_int_list(f->num_clusters, "--num-clusters");
    if (!f->schedule.empty()) {
      if (f->schedule == "cosine") {
        config.schedule = "cosine";
      } else {
        config.schedule = "step";
        config.milestones = train::parse_int_list(f->schedule, "--schedule");
      }
    }
    // Resuming a run folder keeps writing into it unless --out says otherwise.
    if (!f->resume.empty() && std::filesystem::is_directory(f->resume) && cmd->get_option("--out")->count() == 0)
      config.out = f->resume;
    set_threads(config.threads);
    const auto result = train::train(config, f->resume);
    std::cout << "run folder: " << result.run_dir << "\n";
  });
}

}  // namespace protoclr::cli
