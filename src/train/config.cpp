#include "protoclr/train/config.h"

#include <sstream>

#include "protoclr/core/error.h"

namespace protoclr::train {

TrainConfig TrainConfig::from_preset(const std::string& preset) {
  TrainConfig c;
  c.preset = preset;
  if (preset == "pcl-v1" || preset == "moco-v1") {
    // PCL v1 / MoCo v1: linear head, tau 0.1, MoCo v1 augmentation, step schedule.
    c.temperature = 0.1;
    c.mlp = false;
    c.augmentation = "mocov1";
    c.schedule = "step";
  } else if (preset == "pcl-v2" || preset == "moco-v2") {
    // PCL v2 / MoCo v2: MLP head, tau 0.2, MoCo v2 augmentation (blur), cosine schedule.
    c.temperature = 0.2;
    c.mlp = true;
    c.augmentation = "mocov2";
    c.schedule = "cosine";
  } else {
    throw Error("unknown --preset '" + preset + "' (use pcl-v1, pcl-v2, moco-v1 or moco-v2)");
  }
  c.prototypes = preset.rfind("pcl", 0) == 0;
  return c;
}

void TrainConfig::validate() const {
  PROTOCLR_CHECK(epochs > 0, "--epochs must be positive (got ", epochs, ")");
  PROTOCLR_CHECK(batch_size > 0, "--batch-size must be positive (got ", batch_size, ")");
  PROTOCLR_CHECK(lr > 0, "--lr must be positive (got ", lr, ")");
  PROTOCLR_CHECK(temperature > 0, "--temperature must be positive (got ", temperature, ")");
  PROTOCLR_CHECK(image_size >= 8, "--image-size must be at least 8 (got ", image_size, ")");
  PROTOCLR_CHECK(queue_size > 0, "--queue-size must be positive (got ", queue_size, ")");
  PROTOCLR_CHECK(low_dim > 0, "--low-dim must be positive (got ", low_dim, ")");
  PROTOCLR_CHECK(moco_m >= 0 && moco_m <= 1, "--moco-m must be in [0, 1] (got ", moco_m, ")");
  PROTOCLR_CHECK(bn_splits >= 1, "--bn-splits must be >= 1 (got ", bn_splits, ")");
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
  }
  PROTOCLR_CHECK(save_every >= 0 && knn_every >= 0, "--save-every and --knn-every must be >= 0");
}

// One field list for both directions; missing keys keep their defaults (older checkpoints).
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(
    TrainConfig, preset, prototypes, data, split, val, val_split, limit, val_limit, augmentation,
    crop_scale_min,
    image_size, workers, arch, cifar_stem, low_dim, mlp, moco_m, queue_size, bn_splits, temperature,
    num_clusters, neg_prototypes, kmeans_iterations, kmeans_redo, alpha, warmup_epochs, epochs,
    batch_size, lr, momentum, weight_decay, schedule, milestones, channels_last, bf16, device, threads,
    seed, init, out, save_every, knn_every, knn_k, knn_temperature, max_steps)

nlohmann::json TrainConfig::to_json() const { return *this; }

TrainConfig TrainConfig::from_json(const nlohmann::json& j) { return j.get<TrainConfig>(); }

std::vector<int64_t> parse_int_list(const std::string& text, const std::string& flag) {
  std::vector<int64_t> values;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (item.empty()) continue;
    size_t used = 0;
    int64_t v = 0;
    try {
      v = std::stoll(item, &used);
    } catch (...) {
      used = 0;
    }
    PROTOCLR_CHECK(used == item.size(), flag, " expects comma-separated integers (got '", text, "')");
    values.push_back(v);
  }
  return values;
}

}  // namespace protoclr::train
