#include "protoclr/run/config.h"

#include <filesystem>

#include "protoclr/cluster/kmeans.h"
#include "protoclr/core/error.h"
#include "protoclr/run/checkpoint.h"

namespace protoclr::run {
namespace {

/// The quickstart's shape: `protoclr quickstart`'s budget (minutes on 2 CPU cores).
/// ResNet-18 with its standard stem on 32 px inputs is 16x cheaper than the CIFAR stem,
/// which buys ~8 epochs of 16,000 images. With that few steps the paper's settings stay in
/// the early dip of contrastive training, below the random network (PyTorch does the same:
/// docs/BENCHMARKS.md, "Does it learn"). What learns within the budget, measured on
/// Fashion-MNIST: a faster key encoder (m = 0.99) with a short queue of fresh keys (1024 =
/// 8 batches, the staleness of MoCo's CIFAR demo), tau = 0.1, lr 0.015, and crops of at
/// least half the image (28 px garments lose their shape in a 20% crop).
void apply_quickstart(TrainConfig& c) {
  c.arch = "resnet18";
  c.cifar_stem = false;
  c.image_size = 32;
  c.limit = 16000;
  c.epochs = 8;
  c.warmup_epochs = 3;
  c.batch_size = 128;
  c.lr = 0.015;
  c.moco_m = 0.99;
  c.queue_size = 1024;
  c.temperature = 0.1;
  c.crop_scale_min = 0.5;
  c.num_clusters = {200, 400};
  c.neg_prototypes = 64;
  c.bn_splits = 4;
  c.save_every = 0;
  c.knn_every = 0;
  c.out = "runs/quickstart";
}

}  // namespace

const std::vector<std::string>& preset_names() {
  static const std::vector<std::string> names = {"pcl-v1", "pcl-v2", "moco-v1", "moco-v2", "quickstart"};
  return names;
}

TrainConfig TrainConfig::from_preset(const std::string& preset) {
  TrainConfig c;
  c.preset = preset;
  if (preset == "pcl-v1" || preset == "moco-v1") {
    // PCL v1 / MoCo v1: linear head, tau 0.1, MoCo v1 augmentation, step schedule.
    c.temperature = 0.1;
    c.mlp = false;
    c.augmentation = "mocov1";
    c.schedule = "step";
  } else if (preset == "pcl-v2" || preset == "moco-v2" || preset == "quickstart") {
    // PCL v2 / MoCo v2: MLP head, tau 0.2, MoCo v2 augmentation (blur), cosine schedule.
    c.temperature = 0.2;
    c.mlp = true;
    c.augmentation = "mocov2";
    c.schedule = "cosine";
    if (preset == "quickstart") apply_quickstart(c);  // pcl-v2, shaped for minutes on a laptop
  } else {
    throw Error("unknown --preset '" + preset + "' (use pcl-v1, pcl-v2, moco-v1, moco-v2 or quickstart)");
  }
  c.prototypes = preset.rfind("moco", 0) != 0;
  return c;
}

void TrainConfig::validate() const {
  const auto check = [this] {
    PROTOCLR_CHECK(epochs > 0, "--epochs must be positive (got ", epochs, ")");
    PROTOCLR_CHECK(batch_size > 0, "--batch-size must be positive (got ", batch_size, ")");
    PROTOCLR_CHECK(lr > 0, "--lr must be positive (got ", lr, ")");
    PROTOCLR_CHECK(temperature > 0, "--temperature must be positive (got ", temperature, ")");
    PROTOCLR_CHECK(image_size >= 8, "--image-size must be at least 8 (got ", image_size, ")");
    PROTOCLR_CHECK(queue_size > 0, "--queue-size must be positive (got ", queue_size, ")");
    PROTOCLR_CHECK(low_dim > 0, "--low-dim must be positive (got ", low_dim, ")");
    PROTOCLR_CHECK(moco_m >= 0 && moco_m <= 1, "--moco-m must be in [0, 1] (got ", moco_m, ")");
    PROTOCLR_CHECK(bn_splits >= 1, "--bn-splits must be >= 1 (got ", bn_splits, ")");
    PROTOCLR_CHECK(query_bn_splits >= 1, "--query-bn-splits must be >= 1 (got ", query_bn_splits, ")");
    // Split-BN normalises equal shares of the batch (model/split_batch_norm.h).
    PROTOCLR_CHECK(batch_size % bn_splits == 0, "--batch-size ", batch_size, " must be a multiple of --bn-splits ",
                   bn_splits, " (each BatchNorm group gets an equal share)");
    PROTOCLR_CHECK(batch_size % query_bn_splits == 0, "--batch-size ", batch_size,
                   " must be a multiple of --query-bn-splits ", query_bn_splits);
    PROTOCLR_CHECK(warmup_epochs >= 0, "--warmup-epochs must be >= 0 (got ", warmup_epochs, ")");
    PROTOCLR_CHECK(schedule == "cosine" || schedule == "step", "unknown --schedule '", schedule,
                   "' (use cosine, or step milestones such as 120,160)");
    PROTOCLR_CHECK(crop_scale_min > 0 && crop_scale_min <= 1, "--crop-scale must be in (0, 1] (got ",
                   crop_scale_min, ")");
    PROTOCLR_CHECK(augmentation == "mocov1" || augmentation == "mocov2", "unknown --aug '", augmentation,
                   "' (use mocov1 or mocov2)");
    PROTOCLR_CHECK(device == "cpu" || device.rfind("cuda", 0) == 0, "unknown --device '", device,
                   "' (use cpu or cuda[:N])");
    if (prototypes) {
      PROTOCLR_CHECK(!num_clusters.empty(), "--num-clusters is empty (give e.g. 25000,50000,100000)");
      for (int64_t k : num_clusters) PROTOCLR_CHECK(k >= 2, "--num-clusters values must be >= 2 (got ", k, ")");
      PROTOCLR_CHECK(neg_prototypes >= 1, "--neg-prototypes must be >= 1 (got ", neg_prototypes, ")");
      PROTOCLR_CHECK(kmeans_iterations >= 1, "--kmeans-iterations must be >= 1 (got ", kmeans_iterations, ")");
      PROTOCLR_CHECK(kmeans_redo >= 1, "--kmeans-redo must be >= 1 (got ", kmeans_redo, ")");
      cluster::parse_kmeans_backend(kmeans_backend);  // names --kmeans-backend if unknown
    }
    PROTOCLR_CHECK(save_every >= 0 && knn_every >= 0, "--save-every and --knn-every must be >= 0");
    PROTOCLR_CHECK(knn_k >= 1, "--knn-k must be >= 1 (got ", knn_k, ")");
    PROTOCLR_CHECK(max_steps >= 0, "--max-steps must be >= 0 (got ", max_steps, ")");
  };
  try {
    check();
  } catch (const UsageError&) {
    throw;
  } catch (const Error& e) {
    throw UsageError(e.what());  // every check here is about a flag's value
  }
}

// One field list for both directions; missing keys keep their defaults (older checkpoints).
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(
    TrainConfig, preset, prototypes, data, split, val, val_split, limit, val_limit, augmentation,
    crop_scale_min,
    image_size, workers, arch, cifar_stem, low_dim, mlp, moco_m, queue_size, bn_splits, query_bn_splits,
    temperature,
    num_clusters, neg_prototypes, kmeans_iterations, kmeans_redo, kmeans_backend,
    kmeans_warm_start, alpha, warmup_epochs, epochs,
    batch_size, lr, momentum, weight_decay, schedule, milestones, channels_last, bf16, device, threads,
    seed, init, out, save_every, knn_every, knn_k, knn_temperature, max_steps)

nlohmann::json TrainConfig::to_json() const { return *this; }

TrainConfig TrainConfig::from_json(const nlohmann::json& j) { return j.get<TrainConfig>(); }

model::EncoderOptions TrainConfig::encoder_options() const { return {arch, cifar_stem, low_dim, mlp}; }

model::MoCoOptions TrainConfig::moco_options() const {
  return model::MoCoOptions(encoder_options()).queue_size(queue_size).momentum(moco_m).query_bn_groups(query_bn_splits);
}

data::DatasetOptions TrainConfig::dataset_options() const {
  data::DatasetOptions o;
  o.split = split;
  o.limit = limit;
  o.seed = seed;
  return o;
}

data::DatasetOptions TrainConfig::val_dataset_options() const {
  auto o = dataset_options();
  o.split = val_split;
  o.limit = val_limit;
  return o;
}

TrainConfig resolve_config(const RunRequest& request) {
  PROTOCLR_CHECK(request.overrides.is_object(), "run overrides must be a JSON object of configuration keys");
  const bool resuming = !request.resume.empty();
  TrainConfig base = resuming ? read_checkpoint_meta(resolve_checkpoint(request.resume)).config
                              : TrainConfig::from_preset(request.preset);
  const std::string init = request.overrides.value("init", std::string());
  if (!resuming && !init.empty()) {
    // The model's shape comes with the weights; explicit values still override it below.
    const TrainConfig shape = read_checkpoint_meta(resolve_checkpoint(init)).config;
    base.arch = shape.arch;
    base.cifar_stem = shape.cifar_stem;
    base.low_dim = shape.low_dim;
    base.mlp = shape.mlp;
    base.queue_size = shape.queue_size;
  }
  const nlohmann::json base_json = base.to_json();
  nlohmann::json merged = base_json;
  for (const auto& [key, value] : request.overrides.items()) {
    PROTOCLR_CHECK(merged.contains(key), "unknown configuration key '", key, "'");
    merged[key] = value;
  }
  TrainConfig config;
  try {
    config = TrainConfig::from_json(merged);
  } catch (const nlohmann::json::exception&) {
    // Name the value that does not fit: the first one that fails on its own.
    for (const auto& [key, value] : request.overrides.items()) {
      nlohmann::json alone = base_json;
      alone[key] = value;
      try {
        TrainConfig::from_json(alone);
      } catch (const nlohmann::json::exception&) {
        throw Error("configuration key '" + key + "' expects a " + base_json[key].type_name() + " (got " +
                    value.dump() + ")");
      }
    }
    throw;
  }
  // Resuming a run folder keeps writing into it unless "out" says otherwise.
  if (resuming && std::filesystem::is_directory(request.resume) && !request.overrides.contains("out"))
    config.out = request.resume;
  config.validate();
  return config;
}

}  // namespace protoclr::run
