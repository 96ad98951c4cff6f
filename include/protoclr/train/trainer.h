#pragma once
/// The PCL EM loop (Algorithm 1 of the paper) as named phases over one owner of the run's
/// state:
///   Trainer(config)     set up the run: data, model, optimiser, resumed state, run folder;
///   e_step(epoch)       cluster the momentum features at every granularity -> the levels;
///   train_epoch(...)    the M-step: one epoch of ProtoNCE (InfoNCE during warm-up);
///   finish_epoch(...)   the epoch's record, the kNN monitor, the collapse warning, the
///                       checkpoint.
/// run() chains them for every epoch left. MoCo presets never run the E-step.
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "protoclr/cluster/e_step.h"
#include "protoclr/cluster/prototype_sampler.h"
#include "protoclr/core/progress.h"
#include "protoclr/core/rng.h"
#include "protoclr/data/dataset.h"
#include "protoclr/features/extract.h"
#include "protoclr/model/moco.h"
#include "protoclr/run/checkpoint.h"
#include "protoclr/run/config.h"
#include "protoclr/train/seams.h"

namespace protoclr::train {

/// One E-step granularity, ready for the M-step.
struct PrototypeLevel {
  torch::Tensor assignments;        ///< [N] int64 on the CPU: the prototype of every dataset row
  torch::Tensor scaled_prototypes;  ///< [K, D] c / phi_c on the device (the logits q.c / phi_c of eq. (11))
  cluster::NegativePrototypeSampler sampler;  ///< draws the r negatives; advances with every draw
};

/// What e_step returns.
struct EStepOutput {
  std::vector<PrototypeLevel> levels;  ///< M granularities; empty in warm-up and for MoCo presets
  double seconds = 0;                  ///< the whole E-step
  double feature_seconds = 0;          ///< embedding the training set (~0 when the kNN monitor already had)
  double kmeans_seconds = 0;           ///< k-means and phi
  nlohmann::json cluster_sizes = nlohmann::json::array();  ///< {"k", "largest", "smallest"} per level
  uint64_t sent_bytes = 0;             ///< several processes: what this one sent in the E-step
};

/// One training step.
struct StepOutput {
  // Every value stays on the device: the caller decides when to read it.
  torch::Tensor loss;        ///< [] ProtoNCE, eq. (11)
  torch::Tensor acc_inst;    ///< [] float64 % of rows whose positive key wins
  torch::Tensor acc_proto;   ///< [] float64 % of rows whose prototype wins; undefined without levels
  torch::Tensor key_cosine;  ///< [] float64 mean pairwise cosine of the keys; undefined for B < 2
  int64_t images = 0;        ///< B
};

/// The running sums of an epoch's monitors over the steps done so far: what a mid-epoch
/// checkpoint carries, so that the resumed epoch reports the means of an uninterrupted one.
struct EpochProgress {
  int64_t steps = 0;   ///< steps done (and read)
  int64_t images = 0;
  double seconds = 0;  ///< training time of those steps
  double loss = 0, acc_inst = 0, acc_proto = 0, key_cosine = 0;  ///< sums
  int64_t proto_steps = 0, key_cosine_steps = 0;  ///< steps that had acc_proto / key_cosine

  nlohmann::json to_json() const;
  static EpochProgress from_json(const nlohmann::json& j);
};

/// What train_epoch returns: means over the epoch's steps.
struct EpochStats {
  double lr = 0;
  double loss = 0;
  double acc_inst = 0;
  double acc_proto = std::numeric_limits<double>::quiet_NaN();  ///< NaN in warm-up and for MoCo
  double key_cosine = std::numeric_limits<double>::quiet_NaN();  ///< NaN when no step had 2 images
  int64_t steps = 0;
  int64_t images = 0;
  double seconds = 0;
  double settled_img_per_s = std::numeric_limits<double>::quiet_NaN();  ///< after kSettleSteps; NaN if none
  bool stopped = false;  ///< a stop request ended the epoch before its last step
  uint64_t sent_bytes = 0;  ///< several processes: what this one sent in the epoch's steps
  EpochProgress progress;  ///< the sums behind the means (what a mid-epoch checkpoint saves)
};

/// Steps of every epoch not counted in settled_img_per_s (allocator and kernel set-up): the
/// convention of the side-by-side reference, which times from its third step.
inline constexpr int64_t kSettleSteps = 2;

/// What a finished (or stopped) run returns.
struct TrainResult {
  std::string run_dir;
  int64_t epochs_done = 0;
  nlohmann::json last_metrics;  ///< the last line of metrics.jsonl
  bool stopped = false;         ///< a stop request ended the run early
  int64_t stopped_at_step = 0;  ///< steps done in the epoch after epochs_done when it stopped
  int stop_signal = 0;          ///< train(RunRequest): the signal that stopped it (0: none)
  bool paused = false;          ///< ended at stop_after_epochs, before config.epochs (not a stop)
};

/// Everything a run owns between phases, in one place, so no phase keeps state of its own.
struct RunState {
  run::TrainConfig config;
  torch::Device device = torch::kCPU;
  std::shared_ptr<const data::Dataset> dataset;  ///< training images
  std::shared_ptr<const data::Dataset> val;      ///< kNN monitor images; null without --val
  model::MoCo moco{nullptr};
  std::unique_ptr<torch::optim::SGD> optimizer;  ///< over encoder_q's parameters
  std::shared_ptr<Collectives> collectives;
  std::unique_ptr<model::KeyBatchShuffle> key_shuffle;
  std::unique_ptr<BatchFeed> feed;               ///< two augmented views per image, on the device
  int64_t epochs_done = 0;                       ///< finished epochs: where a resumed run starts
  std::optional<cluster::EStepResult> estep;     ///< the last E-step; saved with checkpoints
  /// Momentum-encoder features of the training set. Valid until the next training step: the
  /// kNN monitor at the end of epoch e and the E-step of epoch e + 1 share them.
  std::optional<features::DatasetFeatures> key_features;
  JsonLinesWriter metrics;                       ///< RUN/metrics.jsonl
  bool warned_few_negatives = false;
  /// A mid-epoch checkpoint restored: where epoch epochs_done continues (step 0 = none).
  run::CheckpointMeta resume_point;
  /// The running epoch's E-step figures ({seconds, feature_seconds, kmeans_seconds, clusters}),
  /// saved with a mid-epoch checkpoint for the epoch's record.
  nlohmann::json epoch_estep;
};

/// What a caller can plug into a run beyond its configuration.
struct TrainerHooks {
  std::shared_ptr<Collectives> collectives;  ///< null: one process
  /// Asked before every step; true ends the epoch and the run there, after a mid-epoch
  /// checkpoint (preemption: SIGTERM).
  std::function<bool()> stop_requested;
  /// Asked after every step; true saves a mid-epoch checkpoint and goes on (SIGUSR1).
  std::function<bool()> checkpoint_requested;
  /// After every finished epoch (record written, checkpoint saved when due).
  std::function<void(const RunState& state, const nlohmann::json& record)> after_epoch;
};

/// The E-step settings of a configuration (K, iterations, restarts, seed, eq. (12) constants).
cluster::EStepOptions e_step_options(const run::TrainConfig& config);
/// How the E-step and the kNN monitor embed a dataset: centre crops at the training size
/// through a network in eval mode, L2-normalised head output.
features::ExtractOptions key_feature_options(const run::TrainConfig& config, torch::Device device);

class Trainer {
 public:
  /// Phase 1, set up the run. `config` must be complete (run::resolve_config builds one);
  /// it is validated here, and data paths and K are checked before any model is built.
  /// `resume` (a run folder or checkpoint) restores weights, optimiser, queue, the last
  /// E-step and the epoch; else `config.init` (if set) restores weights and queue only.
  explicit Trainer(run::TrainConfig config, const std::string& resume = "", TrainerHooks hooks = {});
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  /// Runs the epochs left: for each, e_step, train_epoch, finish_epoch. With
  /// `stop_after_epochs`, only up to that epoch (the schedule stays that of config.epochs:
  /// the loss proxies of docs/BENCHMARKS.md, or a long run in stages), saving the checkpoint
  /// there so that a resume continues; 0 saves the initial weights.
  TrainResult run(std::optional<int64_t> stop_after_epochs = std::nullopt);

  /// Phase 2, the E-step of `epoch` (0-based; Algorithm 1): momentum features of the
  /// training set -> k-means at every K -> prototypes and phi (eq. (12)). No levels in
  /// warm-up (epoch < warmup_epochs) and for MoCo presets.
  EStepOutput e_step(int64_t epoch);
  /// Phase 3, the M-step of `epoch`: sets its learning rate, then steps through the epoch's
  /// batches until its end, max_steps, or a stop request (which saves a mid-epoch
  /// checkpoint). `start`: the steps already done (a resumed mid-epoch checkpoint).
  EpochStats train_epoch(int64_t epoch, std::vector<PrototypeLevel>& levels, const EpochProgress& start = {});
  /// One SGD step on `batch`: ProtoNCE over the instance logits and one set of prototype
  /// logits per level, then the momentum update (before the keys, as the reference) and
  /// the enqueue of the gathered keys. `rng` drives the key shuffle and the negatives.
  StepOutput train_step(const DeviceBatch& batch, std::vector<PrototypeLevel>& levels, Rng& rng);
  /// Phase 4: writes the epoch's record (metrics.jsonl, curves.png), runs the kNN monitor
  /// when due, warns on collapse, saves the checkpoint when due. Returns the record.
  nlohmann::json finish_epoch(int64_t epoch, const EStepOutput& estep, const EpochStats& stats);

  /// Momentum-encoder features of the training set (cached until the next step).
  const features::DatasetFeatures& key_features();
  /// Saves the checkpoint of the finished epochs (atomically) into the run folder.
  void save_checkpoint();
  /// Saves a checkpoint in the middle of `epoch` (atomically): weights, optimiser, queue,
  /// the epoch's E-step and sampler states, and `progress`, so that --resume continues
  /// bit-identically from the next step.
  void save_mid_epoch_checkpoint(int64_t epoch, const std::vector<PrototypeLevel>& levels,
                                 const EpochProgress& progress);

  RunState& state() { return state_; }
  const RunState& state() const { return state_; }

 private:
  void open_data();
  void build_model();
  void restore(const std::string& resume);
  void start_run_folder();
  /// Rank 0 (or the only process) writes metrics, curves, checkpoints and configuration.
  bool writes_run_folder() const;
  /// The hooks' requests, agreed by every rank (true when any rank has one).
  bool stop_requested();
  bool checkpoint_requested();
  std::vector<torch::Tensor> prototype_logits(const torch::Tensor& q, std::vector<PrototypeLevel>& levels,
                                              const torch::Tensor& index, Rng& rng);
  nlohmann::json knn_monitor();
  /// Tells the loader which rows the last E-step left without a prototype.
  void exclude_unclustered_rows();
  /// The levels of state_.estep for the M-step (prototypes scaled, on the device).
  EStepOutput levels_of_last_e_step() const;
  /// The interrupted epoch of a mid-epoch checkpoint: its E-step levels with their sampler
  /// states, and (into `start`) the steps and sums done.
  EStepOutput resume_mid_epoch(EpochProgress& start);

  RunState state_;
  TrainerHooks hooks_;
};

/// Trains `config` (complete, see Trainer), optionally resuming: Trainer(...).run().
TrainResult train(const run::TrainConfig& config, const std::string& resume = "",
                  std::optional<int64_t> stop_after_epochs = std::nullopt);

/// What `protoclr train` does: resolves the request (run::resolve_config), sets the
/// configuration's threads (run::set_threads), then trains with run::PreemptionSignals
/// installed (SIGTERM/SIGINT: checkpoint and stop; SIGUSR1: checkpoint and go on).
TrainResult train(const run::RunRequest& request);

}  // namespace protoclr::train
