#pragma once
/// The complete configuration of a training run: presets resolved, every flag applied,
/// validated once, and saved beside each checkpoint (LibTorch's DataLoaderOptions ->
/// FullDataLoaderOptions habit). resolve_config is the one place that builds it from what
/// a user asks for (a preset, --init, --resume and explicit values).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "protoclr/data/dataset.h"
#include "protoclr/model/moco.h"

namespace protoclr::run {

struct TrainConfig {
  // Method.
  std::string preset = "pcl-v2";  ///< pcl-v1 | pcl-v2 | moco-v1 | moco-v2 | quickstart
  bool prototypes = true;         ///< false: MoCo baseline (InfoNCE only)
  // Data.
  std::string data;               ///< training images (empty: built-in Fashion-MNIST)
  std::string split = "train";    ///< for IDX / CIFAR folders
  std::string val;                ///< kNN monitor split (empty: none)
  std::string val_split = "test";
  int64_t limit = 0;              ///< class-balanced subset of the training data (0 = all)
  int64_t val_limit = 0;
  std::string augmentation = "mocov2";  ///< mocov1 | mocov2
  double crop_scale_min = 0.2;    ///< RandomResizedCrop area lower bound (the recipes' 0.2)
  int64_t image_size = 224;
  int workers = 0;                ///< loader threads (0 = all hardware threads)
  // Model.
  std::string arch = "resnet50";
  bool cifar_stem = false;
  int64_t low_dim = 128;
  bool mlp = true;
  double moco_m = 0.999;
  int64_t queue_size = 16000;     ///< MoCo negatives (the reference ties this to r)
  int bn_splits = 8;              ///< shuffle-BN groups for the key encoder
  /// BatchNorm groups of the query batch (1: the whole batch). The published runs normalise
  /// each GPU's share (32 of 256), so --query-bn-splits 8 is their query encoder.
  int query_bn_splits = 1;
  double temperature = 0.2;       ///< tau
  // E-step / ProtoNCE.
  std::vector<int64_t> num_clusters = {25000, 50000, 100000};
  int64_t neg_prototypes = 16000; ///< r
  int kmeans_iterations = 20;
  int kmeans_redo = 5;             ///< faiss nredo, as the reference (best objective kept)
  std::string kmeans_backend = "auto";  ///< auto | faiss | torch (cluster::KMeansBackend; auto: torch on CUDA)
  bool kmeans_warm_start = false;  ///< each E-step's run 0 starts from the last E-step's prototypes
  double alpha = 10.0;
  int64_t warmup_epochs = 20;
  // Optimisation.
  int64_t epochs = 200;
  int64_t batch_size = 256;
  double lr = 0.03;
  double momentum = 0.9;
  double weight_decay = 1e-4;
  std::string schedule = "cosine";       ///< cosine | step
  std::vector<int64_t> milestones = {120, 160};  ///< step schedule, x0.1 at each
  bool channels_last = true;      ///< NHWC activations: same precision, faster convolutions on CPU
  bool bf16 = false;              ///< CPU/CUDA bf16 autocast for the encoders
  // Run.
  std::string device = "cpu";
  int threads = 0;
  uint64_t seed = 0;
  std::string init;               ///< start from these weights (protoclr checkpoint), at epoch 0
  std::string out = "runs/pcl";
  int64_t save_every = 10;
  int64_t knn_every = 1;
  int64_t knn_k = 200;
  double knn_temperature = 0.07;
  int64_t max_steps = 0;          ///< stop each epoch after this many steps (0 = all; for smoke runs)

  /// The preset's values over the paper defaults; throws Error for an unknown name.
  static TrainConfig from_preset(const std::string& preset);
  /// Throws UsageError naming the flag of the first invalid value.
  void validate() const;
  nlohmann::json to_json() const;
  static TrainConfig from_json(const nlohmann::json& j);

  /// The encoder this configuration describes (arch, stem, head): what model::make_encoder builds.
  model::EncoderOptions encoder_options() const;
  /// The MoCo model this configuration describes (encoders, queue, momentum): what a
  /// checkpoint of this configuration loads into.
  model::MoCoOptions moco_options() const;
  /// The training images (split, class-balanced limit, seed).
  data::DatasetOptions dataset_options() const;
  /// The kNN monitor's images (val_split, val_limit, seed).
  data::DatasetOptions val_dataset_options() const;
};

/// The presets from_preset knows, in the order the help text lists them.
const std::vector<std::string>& preset_names();

/// What a user asks for: resolve_config turns it into a complete TrainConfig.
struct RunRequest {
  std::string preset = "pcl-v2";  ///< the settings to start from (ignored when resuming)
  std::string resume;             ///< a run folder or checkpoint to continue (empty: a new run)
  /// Values given explicitly, by TrainConfig's JSON keys ({"lr": 0.06, "init": "runs/a"}):
  /// they override the preset, the --init checkpoint's model shape and a resumed run's
  /// saved configuration.
  nlohmann::json overrides = nlohmann::json::object();
  /// Several processes (RANK/WORLD_SIZE set): the longest a rendezvous or collective waits
  /// for the other ranks, in seconds (--dist-timeout).
  double dist_timeout = 60;
  /// Several processes: all-reduce each gradient bucket while backward computes the rest
  /// (--overlap-gradients; false: after backward). The result is the same either way.
  bool overlap_gradients = true;
  /// Stop after this many epochs (--stop-after-epochs), the schedule still that of the
  /// configuration's epochs; a later --resume continues. Not part of the configuration: a
  /// resumed run runs to its end unless asked again.
  std::optional<int64_t> stop_after_epochs;
};

/// The one place a run's configuration is resolved, in this order:
/// 1. the preset, or, with `resume`, the configuration saved in that checkpoint;
/// 2. for a new run with "init" among the overrides: the model shape of that checkpoint
///    (arch, stem, embedding size, head, queue size), since the weights come with it;
/// 3. the overrides;
/// 4. a resumed run folder keeps writing into itself unless "out" is overridden.
/// Validated. Throws Error naming the key for an unknown key or a value of the wrong type,
/// and naming the file for a missing or foreign checkpoint.
TrainConfig resolve_config(const RunRequest& request);

}  // namespace protoclr::run
