// The trainer's phases one at a time: set-up, E-step, one step, one epoch, and the seams
// (collectives, stop requests). Each test would fail if its phase did the wrong thing; the
// comments name the mistake it catches.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include <torch/torch.h>

#include "protoclr/cluster/e_step.h"
#include "protoclr/core/error.h"
#include "protoclr/features/extract.h"
#include "protoclr/run/checkpoint.h"
#include "protoclr/run/metrics.h"
#include "protoclr/train/trainer.h"
#include "support/temp_dir.h"
#include "support/tiny_run.h"

using namespace protoclr;
namespace fs = std::filesystem;
namespace F = torch::nn::functional;

namespace {

using TrainerTest = test_support::TinyRunTest;

/// Adds seeded noise to every parameter of `module` (so encoder_q and encoder_k differ).
void perturb(torch::nn::Module& module, uint64_t seed, double scale) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(seed);
  for (auto& p : module.parameters()) p.add_(torch::randn_like(p) * scale);
}

bool same_parameters(const torch::nn::Module& a, const torch::nn::Module& b) {
  auto pb = b.named_parameters();
  for (const auto& item : a.named_parameters())
    if (!torch::equal(item.value(), pb[item.key()])) return false;
  return true;
}

/// The E-step as the paper states it, computed here independently of the trainer: encoder
/// features of centre crops in eval mode, then k-means and phi at every K.
cluster::EStepResult reference_e_step(model::ResNet& encoder, const run::TrainConfig& c,
                                      std::shared_ptr<const data::Dataset> dataset) {
  const auto f = features::extract_features(encoder, dataset, train::key_feature_options(c, torch::kCPU));
  return cluster::run_e_step(f.features, train::e_step_options(c));
}

/// Records what the trainer asks of its collectives; gathers "two processes'" keys by
/// sending the local keys twice.
class RecordingCollectives : public train::Collectives {
 public:
  std::unique_ptr<model::KeyBatchShuffle> key_shuffle(int bn_splits) override {
    shuffle_groups = bn_splits;
    return Collectives::key_shuffle(bn_splits);
  }
  void reduce_gradients(const std::vector<torch::Tensor>& parameters) override {
    ++reductions;
    for (const auto& p : parameters) all_gradients_defined = all_gradients_defined && p.grad().defined();
  }
  torch::Tensor gather_keys(const torch::Tensor& keys) override {
    ++gathers;
    return torch::cat({keys, keys});
  }
  cluster::EStepResult cluster_features(const features::DatasetFeatures& f, const cluster::EStepOptions& o) override {
    ++clusterings;
    rows_clustered = f.features.size(0);
    return Collectives::cluster_features(f, o);
  }
  int shuffle_groups = 0, reductions = 0, gathers = 0, clusterings = 0;
  int64_t rows_clustered = 0;
  bool all_gradients_defined = true;
};

}  // namespace

TEST_F(TrainerTest, SetUpChecksDataAndKBeforeBuildingAModel) {
  auto c = config("k_too_large");
  c.num_clusters = {8, 100};
  try {
    train::Trainer t(c);
    FAIL() << "expected an error for K > N";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--num-clusters"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(tmp_.path() / "k_too_large")) << "no run folder for a run that cannot start";
  c = config("no_data");
  c.data = (tmp_.path() / "missing").string();
  EXPECT_THROW(train::Trainer{c}, Error);
}

TEST_F(TrainerTest, SetUpWritesTheRunFolderAndOwnsTheState) {
  const auto c = config("setup");
  train::Trainer t(c);
  const auto& s = t.state();
  EXPECT_EQ(s.epochs_done, 0);
  EXPECT_EQ(s.dataset->size(), 48u);
  ASSERT_TRUE(s.val);
  EXPECT_EQ(s.feed->steps_per_epoch(), 6);
  EXPECT_EQ(s.optimizer->param_groups()[0].params().size(), s.moco->encoder_q->parameters().size());
  EXPECT_FALSE(s.estep.has_value());
  std::ifstream config_file(fs::path(c.out) / "config.json");
  EXPECT_EQ(nlohmann::json::parse(config_file), c.to_json());
  std::ifstream env(fs::path(c.out) / "environment.jsonl");
  std::string line;
  ASSERT_TRUE(std::getline(env, line));
  EXPECT_EQ(nlohmann::json::parse(line)["start_epoch"], 0);
  // MoCo starts with the key encoder a copy of the query encoder.
  EXPECT_TRUE(same_parameters(*s.moco->encoder_q, *s.moco->encoder_k));
}

// Catches: --init ignored, or loading the optimiser / E-step / epoch along with the weights.
TEST_F(TrainerTest, InitLoadsWeightsAndQueueButStartsAFreshRun) {
  auto source = config("source");
  torch::manual_seed(11);
  model::MoCo trained(source.moco_options());
  perturb(*trained->encoder_q, 12, 0.05);
  perturb(*trained->encoder_k, 13, 0.05);
  trained->queue.normal_();
  run::CheckpointMeta meta;
  meta.config = source;
  meta.epoch = 7;
  run::save_checkpoint(run::checkpoint_path(source.out), trained, nullptr, meta, nullptr);

  auto c = config("init");
  c.init = source.out;
  train::Trainer t(c);
  const auto& s = t.state();
  EXPECT_TRUE(same_parameters(*s.moco->encoder_q, *trained->encoder_q));
  EXPECT_TRUE(same_parameters(*s.moco->encoder_k, *trained->encoder_k));
  EXPECT_TRUE(torch::equal(s.moco->queue, trained->queue));
  EXPECT_EQ(s.epochs_done, 0);
  EXPECT_TRUE(s.optimizer->state().empty());
  // Without --init the same seed gives the random network instead.
  train::Trainer fresh(config("fresh"));
  EXPECT_FALSE(same_parameters(*fresh.state().moco->encoder_q, *trained->encoder_q));
}

// Catches: clustering encoder_q's features, augmented views, or features with batch
// statistics (train mode); a warm-up epoch or a MoCo preset that clusters.
TEST_F(TrainerTest, EStepClustersMomentumFeaturesOfCentreCrops) {
  auto c = config("estep");
  train::Trainer t(c);
  auto& moco = t.state().moco;
  perturb(*moco->encoder_q, 21, 0.2);  // encoder_q != encoder_k, as after training
  EXPECT_TRUE(t.e_step(0).levels.empty()) << "epoch 0 is warm-up";
  EXPECT_FALSE(t.state().estep.has_value());

  const auto out = t.e_step(1);
  ASSERT_EQ(out.levels.size(), 2u);
  ASSERT_TRUE(t.state().estep.has_value());
  const auto expected = reference_e_step(moco->encoder_k, c, t.state().dataset);
  const auto from_query = reference_e_step(moco->encoder_q, c, t.state().dataset);
  for (size_t m = 0; m < 2; ++m) {
    const auto& got = t.state().estep->levels[m];
    EXPECT_EQ(got.k, c.num_clusters[m]);
    EXPECT_TRUE(torch::equal(got.assignments, expected.levels[m].assignments)) << m;
    EXPECT_TRUE(torch::allclose(got.prototypes, expected.levels[m].prototypes, 0, 1e-6)) << m;
    EXPECT_TRUE(torch::allclose(got.phi, expected.levels[m].phi, 0, 1e-6)) << m;
    // The check can tell the encoders apart.
    EXPECT_FALSE(torch::allclose(got.prototypes, from_query.levels[m].prototypes, 0, 1e-3)) << m;
    // What the M-step uses: the same assignments, prototypes scaled by 1 / phi (eq. (11)).
    EXPECT_TRUE(torch::equal(out.levels[m].assignments, got.assignments));
    EXPECT_TRUE(torch::allclose(out.levels[m].scaled_prototypes, got.prototypes / got.phi.unsqueeze(1)));
    EXPECT_EQ(out.cluster_sizes[m]["k"], c.num_clusters[m]);
  }

  // Eval mode: an image's features do not depend on the rest of its batch (with batch
  // statistics they would).
  auto one_at_a_time = train::key_feature_options(c, torch::kCPU);
  one_at_a_time.batch_size = 1;
  const auto alone = features::extract_features(moco->encoder_k, t.state().dataset, one_at_a_time);
  EXPECT_TRUE(torch::allclose(t.key_features().features, alone.features, 1e-4, 1e-5));
  EXPECT_TRUE(moco->encoder_k->is_training()) << "the E-step leaves the encoder in train mode";

  // MoCo presets never cluster, warm-up or not (K larger than N would throw if they did).
  auto moco_config = run::TrainConfig::from_json(c.to_json());
  moco_config.preset = "moco-v2";
  moco_config.prototypes = false;
  moco_config.warmup_epochs = 0;
  moco_config.num_clusters = {1000};
  moco_config.out = (tmp_.path() / "moco").string();
  train::Trainer m(moco_config);
  EXPECT_TRUE(m.e_step(0).levels.empty());
  EXPECT_TRUE(m.e_step(1).levels.empty());
  EXPECT_FALSE(m.state().estep.has_value());
}

// Catches: positives looked up by batch position instead of dataset row; a prototype shared
// by two samples of the batch listed once (the published code lists it per sample, so it
// also competes as a negative); the wrong phi; a missing instance term.
TEST_F(TrainerTest, StepLossIsProtoNCEOverDatasetRows) {
  auto c = config("step");
  c.bn_splits = 1;         // shuffle-BN over one group: the keys do not depend on the shuffle
  c.moco_m = 1.0;          // the momentum update leaves encoder_k as it is
  c.neg_prototypes = 100;  // more than K: every non-positive prototype is a negative, in any order
  train::Trainer t(c);
  auto& moco = t.state().moco;
  perturb(*moco->encoder_q, 31, 0.1);
  {
    torch::NoGradGuard no_grad;
    moco->queue.normal_();
    moco->queue.copy_(F::normalize(moco->queue, F::NormalizeFuncOptions().dim(0)));
  }

  // Two levels; in the batch below, rows 3 and 40 share prototype 1 at K = 5.
  torch::manual_seed(32);
  const int64_t n = 48, b = 8;
  std::vector<train::PrototypeLevel> levels;
  std::vector<torch::Tensor> prototypes, phis;
  for (int64_t k : {5, 9}) {
    auto assignments = torch::randint(k, {n}, torch::kLong);
    if (k == 5) {
      assignments[3] = 1;
      assignments[40] = 1;
    }
    prototypes.push_back(F::normalize(torch::randn({k, c.low_dim}), F::NormalizeFuncOptions().dim(1)));
    phis.push_back(torch::rand({k}) * 0.2 + 0.05);
    levels.push_back({assignments, prototypes.back() / phis.back().unsqueeze(1), cluster::NegativePrototypeSampler(k)});
  }
  const auto index = torch::tensor({40, 3, 17, 9, 28, 33, 5, 12}, torch::kLong);
  train::DeviceBatch batch{torch::randn({b, 3, 16, 16}), torch::randn({b, 3, 16, 16}), index};

  // The loss from its definition (eq. (11)), before the step changes anything.
  torch::Tensor q, k;
  {
    torch::NoGradGuard no_grad;
    q = moco->encode_query(batch.query_view);
    k = F::normalize(moco->encoder_k->forward(batch.key_view), F::NormalizeFuncOptions().dim(1));
  }
  const auto queue = moco->negatives().clone();
  const auto instance = torch::cat({(q * k).sum(1, true), q.matmul(queue.t())}, 1) / c.temperature;
  auto expected = F::cross_entropy(instance, torch::zeros({b}, torch::kLong)).item<double>();
  auto proto_term = [&](bool by_batch_position, bool dedup) {
    double sum = 0;
    for (size_t m = 0; m < levels.size(); ++m) {
      const auto rows = by_batch_position ? torch::arange(b, torch::kLong) : index;
      auto pos = levels[m].assignments.index_select(0, rows);
      std::set<int64_t> positive(pos.data_ptr<int64_t>(), pos.data_ptr<int64_t>() + b);
      std::vector<int64_t> columns(pos.data_ptr<int64_t>(), pos.data_ptr<int64_t>() + b), targets(b);
      for (int64_t i = 0; i < b; ++i) targets[i] = i;
      if (dedup) {  // each positive prototype once: rows sharing it share the column
        std::vector<int64_t> unique(positive.begin(), positive.end());
        for (int64_t i = 0; i < b; ++i)
          targets[i] = std::find(unique.begin(), unique.end(), columns[i]) - unique.begin();
        columns = unique;
      }
      for (int64_t id = 0; id < prototypes[m].size(0); ++id)
        if (!positive.count(id)) columns.push_back(id);
      const auto logits = q.matmul((prototypes[m] / phis[m].unsqueeze(1)).index_select(0, torch::tensor(columns)).t());
      sum += F::cross_entropy(logits, torch::tensor(targets)).item<double>();
    }
    return sum / static_cast<double>(levels.size());
  };
  const double proto = proto_term(false, false);
  // The mistakes this test is meant to catch change the loss by far more than the tolerance.
  ASSERT_GT(std::abs(proto_term(true, false) - proto), 1e-2);
  ASSERT_GT(std::abs(proto_term(false, true) - proto), 1e-3);
  expected += proto;

  const auto queue_ptr = moco->queue_ptr.item<int64_t>();
  const auto before = moco->encoder_q->parameters()[0].clone();
  Rng rng(33);
  const auto step = t.train_step(batch, levels, rng);
  EXPECT_NEAR(step.loss.item<double>(), expected, 1e-4 * std::abs(expected));
  ASSERT_TRUE(step.acc_proto.defined()) << "two levels: a prototype accuracy";
  EXPECT_TRUE(std::isfinite(step.acc_proto.item<double>()));
  EXPECT_EQ(step.images, b);
  EXPECT_TRUE(step.key_cosine.defined());
  // Then the step: SGD moved encoder_q, the keys went into the queue.
  EXPECT_FALSE(torch::equal(before, moco->encoder_q->parameters()[0]));
  EXPECT_EQ(moco->queue_ptr.item<int64_t>(), (queue_ptr + b) % c.queue_size);
  EXPECT_TRUE(torch::allclose(moco->negatives().slice(0, queue_ptr, queue_ptr + b), k, 1e-4, 1e-5));
}

// Catches: a step that skips a collective, or enqueues the local keys instead of the gathered
// ones; a loader that ignores the process' shard.
TEST_F(TrainerTest, CollectivesAreCalledWhereTheLoopNeedsThem) {
  auto c = config("collectives");
  c.epochs = 2;
  c.warmup_epochs = 1;
  c.queue_size = 32;
  auto recording = std::make_shared<RecordingCollectives>();
  train::TrainerHooks hooks;
  hooks.collectives = recording;
  train::Trainer t(c, "", hooks);
  EXPECT_EQ(recording->shuffle_groups, c.bn_splits);
  const auto result = t.run();
  EXPECT_EQ(result.epochs_done, 2);
  EXPECT_EQ(recording->reductions, 12);  // 2 epochs of 6 steps
  EXPECT_TRUE(recording->all_gradients_defined) << "gradients are reduced after backward";
  EXPECT_EQ(recording->gathers, 12);
  EXPECT_EQ(recording->clusterings, 1);  // one E-step after the warm-up epoch
  EXPECT_EQ(recording->rows_clustered, 48);
  // Twice the batch entered the queue every step: 12 steps x 16 keys, mod 32.
  EXPECT_EQ(t.state().moco->queue_ptr.item<int64_t>(), (12 * 16) % 32);
}

// Catches: a stop request that is ignored or only honoured at the end of an epoch, or one
// that loses the steps done (no checkpoint).
TEST_F(TrainerTest, StopRequestEndsTheRunBetweenStepsWithAMidEpochCheckpoint) {
  auto c = config("stop");
  int asked = 0;
  train::TrainerHooks hooks;
  hooks.stop_requested = [&asked] { return ++asked > 3; };
  train::Trainer t(c, "", hooks);
  const auto result = t.run();
  EXPECT_TRUE(result.stopped);
  EXPECT_EQ(result.epochs_done, 0);
  EXPECT_EQ(result.stopped_at_step, 2);
  EXPECT_EQ(asked, 4);  // before the epoch, then before steps 1, 2 and 3; step 3 never ran
  EXPECT_TRUE(run::read_metrics(c.out).empty());
  const auto meta = run::read_checkpoint_meta(run::checkpoint_path(c.out));
  EXPECT_EQ(meta.epoch, 0);
  EXPECT_EQ(meta.step, 2);
  EXPECT_EQ(meta.epoch_progress.at("monitors").at("steps"), 2);
  EXPECT_EQ(meta.epoch_progress.at("monitors").at("images"), 16);
}

// Catches: --max-steps ignored.
TEST_F(TrainerTest, MaxStepsCapsEveryEpoch) {
  auto c = config("max_steps");
  c.max_steps = 2;
  c.knn_every = 0;
  std::vector<train::PrototypeLevel> none;
  train::Trainer t(c);
  const auto stats = t.train_epoch(0, none);
  EXPECT_EQ(stats.steps, 2);
  EXPECT_EQ(stats.images, 16);
  EXPECT_FALSE(stats.stopped);
  EXPECT_TRUE(std::isnan(stats.acc_proto)) << "no levels: InfoNCE only";
  EXPECT_TRUE(std::isfinite(stats.loss));
  EXPECT_TRUE(std::isfinite(stats.key_cosine));
  const auto result = t.run();
  const auto metrics = run::read_metrics(c.out);
  ASSERT_EQ(metrics.size(), 2u);
  for (const auto& record : metrics) EXPECT_EQ(record["images"], 16);
}

// Catches: a record missing what the method reports, a kNN monitor run when it is not due, a
// checkpoint not saved when due (or saved when not), the epoch count not advanced.
TEST_F(TrainerTest, FinishEpochWritesTheRecordAndSavesWhenDue) {
  auto c = config("finish");
  c.epochs = 4;
  c.save_every = 2;
  c.knn_every = 2;
  int hook_calls = 0;
  train::TrainerHooks hooks;
  hooks.after_epoch = [&](const train::RunState& s, const nlohmann::json& record) {
    ++hook_calls;
    EXPECT_EQ(record["epoch"], s.epochs_done);
  };
  train::Trainer t(c, "", hooks);
  train::EpochStats stats;
  stats.lr = 0.01;
  stats.loss = 2.5;
  stats.acc_inst = 40;
  stats.steps = 6;
  stats.images = 48;
  stats.seconds = 2;
  train::EStepOutput estep;
  estep.seconds = 1.5;
  estep.cluster_sizes = {{{"k", 8}, {"largest", 9}, {"smallest", 3}}};

  auto record = t.finish_epoch(0, estep, stats);  // epoch 1: neither kNN nor checkpoint due
  EXPECT_EQ(record["epoch"], 1);
  EXPECT_DOUBLE_EQ(record["loss"].get<double>(), 2.5);
  EXPECT_DOUBLE_EQ(record["img_per_s"].get<double>(), 24.0);
  EXPECT_TRUE(record["acc_proto"].is_null()) << "NaN is written as null";
  EXPECT_TRUE(record["key_cosine"].is_null());
  EXPECT_EQ(record["clusters"][0]["largest"], 9);
  EXPECT_DOUBLE_EQ(record["estep_seconds"].get<double>(), 1.5);
  EXPECT_FALSE(record.contains("knn_top1"));
  EXPECT_FALSE(fs::exists(run::checkpoint_path(c.out)));
  EXPECT_EQ(t.state().epochs_done, 1);

  stats.acc_proto = 12.5;
  record = t.finish_epoch(1, estep, stats);  // epoch 2: both due
  EXPECT_DOUBLE_EQ(record["acc_proto"].get<double>(), 12.5);
  ASSERT_TRUE(record.contains("knn_top1"));
  EXPECT_GE(record["knn_top1"].get<double>(), 0.0);
  EXPECT_LE(record["knn_top1"].get<double>(), 100.0);
  ASSERT_TRUE(fs::exists(run::checkpoint_path(c.out)));
  EXPECT_EQ(run::read_checkpoint_meta(run::checkpoint_path(c.out)).epoch, 2);
  EXPECT_TRUE(fs::exists(fs::path(c.out) / "curves.png"));

  const auto metrics = run::read_metrics(c.out);
  ASSERT_EQ(metrics.size(), 2u);
  EXPECT_EQ(metrics[1], record);
  EXPECT_EQ(hook_calls, 2);
}

// Catches: monitors read on the device but never checked, or a non-finite loss reported
// without saying where (the epoch's values now stay on the device between reads).
TEST_F(TrainerTest, NonFiniteLossStopsTheEpochNamingItsStep) {
  auto c = config("nan");
  c.knn_every = 0;
  std::vector<train::PrototypeLevel> none;
  train::Trainer t(c);
  {
    torch::NoGradGuard no_grad;
    t.state().moco->encoder_q->parameters().back().fill_(std::nan(""));  // the head's last bias
  }
  try {
    t.train_epoch(0, none);
    FAIL() << "a NaN loss must stop the epoch";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("the loss became nan at epoch 1 step 1 "), std::string::npos) << e.what();
  }
}

// Catches: a GPU step that computes something else than the CPU step (the uint8 feed with
// device normalisation, pinned id copies, monitors on the device).
TEST_F(TrainerTest, CudaEpochMatchesCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  std::vector<double> losses;
  for (const char* device : {"cpu", "cuda"}) {
    auto c = config(std::string("device_") + device);
    c.device = device;
    c.max_steps = 3;
    c.knn_every = 0;
    c.bn_splits = 1;  // the key shuffle draws the same permutation on both devices anyway
    std::vector<train::PrototypeLevel> none;
    train::Trainer t(c);
    const auto stats = t.train_epoch(0, none);
    EXPECT_EQ(stats.steps, 3);
    losses.push_back(stats.loss);
    EXPECT_EQ(t.state().moco->queue_ptr.item<int64_t>(), 3 * c.batch_size % c.queue_size);
  }
  EXPECT_NEAR(losses[1], losses[0], 1e-3 * std::abs(losses[0]));
}
