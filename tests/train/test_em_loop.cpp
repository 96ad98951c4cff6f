// The EM loop across epochs: clustering every epoch after warm-up with the momentum encoder
// as the previous epoch left it, exact resume, and runs that do not depend on the number of
// loader threads. The comments name the mistake each test catches.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include <torch/torch.h>

#include "protoclr/cluster/e_step.h"
#include "protoclr/core/error.h"
#include "protoclr/data/image.h"
#include "protoclr/features/extract.h"
#include "protoclr/model/head.h"
#include "protoclr/run/checkpoint.h"
#include "protoclr/run/metrics.h"
#include "protoclr/train/curves.h"
#include "protoclr/train/trainer.h"
#include "support/json_lines.h"
#include "support/temp_dir.h"
#include "support/tiny_run.h"

using namespace protoclr;
namespace fs = std::filesystem;

namespace {

using EmLoopTest = test_support::TinyRunTest;

/// A module's parameters and buffers, copied.
using Snapshot = std::map<std::string, torch::Tensor>;

Snapshot snapshot(const torch::nn::Module& module) {
  Snapshot s;
  for (const auto& item : module.named_parameters()) s[item.key()] = item.value().detach().clone();
  for (const auto& item : module.named_buffers()) s[item.key()] = item.value().clone();
  return s;
}

/// An encoder of `config`'s shape holding `weights`.
model::ResNet encoder_from(const run::TrainConfig& config, const Snapshot& weights) {
  auto encoder = model::make_encoder(config.encoder_options());
  torch::NoGradGuard no_grad;
  for (auto& item : encoder->named_parameters()) item.value().copy_(weights.at(item.key()));
  for (auto& item : encoder->named_buffers()) item.value().copy_(weights.at(item.key()));
  return encoder;
}

using test_support::read_json_lines;
using test_support::without_timing;

void expect_same_weights(const std::string& checkpoint_a, const std::string& checkpoint_b, const run::TrainConfig& c) {
  model::MoCo a(c.moco_options()), b(c.moco_options());
  run::load_checkpoint(checkpoint_a, a, nullptr, nullptr);
  run::load_checkpoint(checkpoint_b, b, nullptr, nullptr);
  auto pb = b->named_parameters();
  for (const auto& item : a->named_parameters()) EXPECT_TRUE(torch::equal(item.value(), pb[item.key()])) << item.key();
  auto bb = b->named_buffers();
  for (const auto& item : a->named_buffers()) EXPECT_TRUE(torch::equal(item.value(), bb[item.key()])) << item.key();
}

}  // namespace

// Catches: clustering once instead of every epoch after warm-up; a feature cache that
// survives a training step (the kNN monitor and the next E-step then see an old encoder);
// clustering during warm-up.
TEST_F(EmLoopTest, EveryEpochAfterWarmUpClustersTheMomentumEncoderOfThePreviousEpoch) {
  auto c = config("every_epoch");
  c.epochs = 3;
  c.moco_m = 0.9;  // the momentum encoder moves visibly within an epoch
  std::vector<Snapshot> key_encoder;                 // encoder_k after each epoch
  std::vector<std::optional<cluster::EStepResult>> clustered;  // the E-step each epoch used
  train::TrainerHooks hooks;
  hooks.after_epoch = [&](const train::RunState& s, const nlohmann::json& record) {
    key_encoder.push_back(snapshot(*s.moco->encoder_k));
    clustered.push_back(s.estep);
    EXPECT_TRUE(record.contains("knn_top1"));  // the monitor filled the feature cache
  };
  train::Trainer t(c, "", hooks);
  t.run();
  ASSERT_EQ(clustered.size(), 3u);
  EXPECT_FALSE(clustered[0].has_value()) << "epoch 1 is warm-up";
  const auto dataset = t.state().dataset;
  for (size_t e = 1; e < 3; ++e) {
    ASSERT_TRUE(clustered[e].has_value()) << "epoch " << e + 1;
    auto encoder = encoder_from(c, key_encoder[e - 1]);
    const auto f = features::extract_features(encoder, dataset, train::key_feature_options(c, torch::kCPU));
    const auto expected = cluster::run_e_step(f.features, train::e_step_options(c));
    for (size_t m = 0; m < expected.levels.size(); ++m) {
      EXPECT_TRUE(torch::equal(clustered[e]->levels[m].assignments, expected.levels[m].assignments))
          << "epoch " << e + 1 << " level " << m;
      EXPECT_TRUE(torch::allclose(clustered[e]->levels[m].prototypes, expected.levels[m].prototypes, 0, 1e-6))
          << "epoch " << e + 1 << " level " << m;
    }
  }
  // The check can tell the epochs apart: the E-steps of epochs 2 and 3 differ.
  EXPECT_FALSE(torch::allclose(clustered[1]->levels[0].prototypes, clustered[2]->levels[0].prototypes, 0, 1e-4));
}

// Catches: a resume that restores less than the whole state (optimiser, queue, E-step, BN
// buffers, epoch), and metrics.jsonl not truncated back to the checkpoint's epoch.
TEST_F(EmLoopTest, ResumeAfterAnEpochContinuesExactly) {
  const auto full = config("full");
  train::train(full);
  const auto full_metrics = run::read_metrics(full.out);
  ASSERT_EQ(full_metrics.size(), 2u);
  EXPECT_TRUE(full_metrics[0]["acc_proto"].is_null());
  ASSERT_TRUE(full_metrics[1]["acc_proto"].is_number());
  EXPECT_EQ(full_metrics[1]["clusters"].size(), 2u);
  ASSERT_TRUE(full_metrics[1]["settled_img_per_s"].is_number());  // 6 steps: 4 after settling
  ASSERT_TRUE(full_metrics[1]["key_cosine"].is_number());
  // The run folder holds its curves, redrawn every epoch: a real picture, not an empty file.
  const auto curves = data::decode_image_file((fs::path(full.out) / "curves.png").string());
  EXPECT_EQ(curves.rgb.rows, 900);
  EXPECT_GT(cv::countNonZero(curves.rgb.reshape(1) != 255), 1000);
  EXPECT_THROW(train::write_training_curves((tmp_.path() / "no_run").string()), Error);

  // Interrupted after epoch 1, then resumed with the saved configuration but for --epochs.
  auto cut = config("cut");
  cut.epochs = 1;
  train::train(cut);
  const auto after_one = (tmp_.path() / "after_one.pt").string();
  fs::copy_file(run::checkpoint_path(cut.out), after_one);
  run::RunRequest resume;  // what `protoclr train --resume RUN --epochs 2` asks for
  resume.resume = cut.out;
  resume.overrides = {{"epochs", 2}};
  EXPECT_EQ(train::train(resume).epochs_done, 2);
  auto cut_metrics = run::read_metrics(cut.out);
  ASSERT_EQ(cut_metrics.size(), 2u);
  for (size_t e = 0; e < 2; ++e) EXPECT_EQ(without_timing(cut_metrics[e]), without_timing(full_metrics[e])) << e;
  expect_same_weights(run::checkpoint_path(cut.out), run::checkpoint_path(full.out), full);

  // One environment line per start: the first run's, then the resumed one's.
  const auto starts = read_json_lines(fs::path(cut.out) / "environment.jsonl");
  ASSERT_EQ(starts.size(), 2u);
  EXPECT_EQ(starts[0]["start_epoch"], 0);
  EXPECT_EQ(starts[1]["start_epoch"], 1);
  EXPECT_EQ(starts[1]["device"], "cpu");
  EXPECT_EQ(starts[1]["intra_op_threads"], 2);
  EXPECT_FALSE(starts[1]["blas"].get<std::string>().empty());

  // Resuming the epoch-1 checkpoint into the same folder again rewrites epoch 2's record
  // instead of appending a second one.
  resume.resume = after_one;
  resume.overrides["out"] = cut.out;
  train::train(resume);
  cut_metrics = run::read_metrics(cut.out);
  ASSERT_EQ(cut_metrics.size(), 2u);
  EXPECT_EQ(cut_metrics[1]["epoch"], 2);
  EXPECT_EQ(without_timing(cut_metrics[1]), without_timing(full_metrics[1]));
}

// Catches: anything in the loop that depends on which loader thread made a batch.
TEST_F(EmLoopTest, OneOrTwoLoaderThreadsGiveTheSameRun) {
  auto one = config("workers_1");
  one.workers = 1;
  auto two = config("workers_2");
  two.workers = 2;
  train::train(one);
  train::train(two);
  const auto a = run::read_metrics(one.out), b = run::read_metrics(two.out);
  ASSERT_EQ(a.size(), 2u);
  ASSERT_EQ(b.size(), 2u);
  for (size_t e = 0; e < 2; ++e) EXPECT_EQ(without_timing(a[e]), without_timing(b[e])) << e;
  expect_same_weights(run::checkpoint_path(one.out), run::checkpoint_path(two.out), one);
}

// Catches: a mid-epoch checkpoint that restores less than the step's whole state (the
// epoch's E-step, the negative samplers' permutations, the monitors' sums, the loader's
// position), a stop that loses the steps done, or a checkpoint request that perturbs the run.
TEST_F(EmLoopTest, StopInTheMiddleOfAnEpochThenResumeContinuesExactly) {
  const auto full = config("full");
  train::train(full);
  const auto full_metrics = run::read_metrics(full.out);
  ASSERT_EQ(full_metrics.size(), 2u);

  // Asked before each epoch and before every step but an epoch's first: the 12th ask comes
  // before step 4 of epoch 2, the first epoch with prototypes. A checkpoint is also asked for
  // after step 2 of epoch 2 (asked after every step but an epoch's last: the 7th ask).
  auto cut = config("cut");
  int stop_asks = 0, checkpoint_asks = 0;
  train::TrainerHooks hooks;
  hooks.stop_requested = [&] { return ++stop_asks == 12; };
  hooks.checkpoint_requested = [&] { return ++checkpoint_asks == 7; };
  const auto stopped = train::Trainer(cut, "", hooks).run();
  EXPECT_TRUE(stopped.stopped);
  EXPECT_EQ(stopped.epochs_done, 1);
  EXPECT_EQ(stopped.stopped_at_step, 3);
  const auto meta = run::read_checkpoint_meta(run::checkpoint_path(cut.out));
  EXPECT_EQ(meta.epoch, 1);
  EXPECT_EQ(meta.step, 3);
  EXPECT_EQ(run::read_metrics(cut.out).size(), 1u);

  const auto resumed = train::Trainer(cut, cut.out).run();
  EXPECT_FALSE(resumed.stopped);
  EXPECT_EQ(resumed.epochs_done, 2);
  const auto cut_metrics = run::read_metrics(cut.out);
  ASSERT_EQ(cut_metrics.size(), 2u);
  for (size_t e = 0; e < 2; ++e) EXPECT_EQ(without_timing(cut_metrics[e]), without_timing(full_metrics[e])) << e;
  expect_same_weights(run::checkpoint_path(cut.out), run::checkpoint_path(full.out), full);
}

// Catches: --stop-after-epochs that shortens the schedule (the loss proxies of
// docs/BENCHMARKS.md compare epochs 2 and 4 of the full run's cosine), that leaves no
// checkpoint to resume from, or whose resume is not the uninterrupted run; and an epoch-0
// stop that saves anything but the initial weights (the crossed design starts both trainers
// from them).
TEST_F(EmLoopTest, StopAfterEpochsKeepsTheScheduleAndResumesExactly) {
  auto full = config("full");
  full.save_every = 0;  // only the pause and the end save
  train::train(full);
  const auto full_metrics = run::read_metrics(full.out);
  ASSERT_EQ(full_metrics.size(), 2u);

  auto cut = config("cut");
  cut.save_every = 0;
  const auto paused = train::train(cut, "", /*stop_after_epochs=*/1);
  EXPECT_TRUE(paused.paused);
  EXPECT_FALSE(paused.stopped);
  EXPECT_EQ(paused.epochs_done, 1);
  EXPECT_EQ(run::read_checkpoint_meta(run::checkpoint_path(cut.out)).epoch, 1);
  auto cut_metrics = run::read_metrics(cut.out);
  ASSERT_EQ(cut_metrics.size(), 1u);
  EXPECT_EQ(without_timing(cut_metrics[0]), without_timing(full_metrics[0]));  // lr of the 2-epoch cosine

  run::RunRequest resume;  // `protoclr train --resume RUN`
  resume.resume = cut.out;
  const auto resumed = train::train(resume);
  EXPECT_FALSE(resumed.paused);
  EXPECT_EQ(resumed.epochs_done, 2);
  cut_metrics = run::read_metrics(cut.out);
  ASSERT_EQ(cut_metrics.size(), 2u);
  EXPECT_EQ(without_timing(cut_metrics[1]), without_timing(full_metrics[1]));
  expect_same_weights(run::checkpoint_path(cut.out), run::checkpoint_path(full.out), full);

  // Epoch 0: the weights a fresh model of this seed starts from, nothing trained.
  auto start = config("start");
  const auto at_zero = train::train(start, "", 0);
  EXPECT_TRUE(at_zero.paused);
  EXPECT_EQ(at_zero.epochs_done, 0);
  EXPECT_TRUE(run::read_metrics(start.out).empty());
  torch::manual_seed(start.seed);
  model::MoCo fresh(start.moco_options());
  model::MoCo saved(start.moco_options());
  run::load_checkpoint(run::checkpoint_path(start.out), saved, nullptr, nullptr);
  auto fresh_params = fresh->named_parameters();
  for (const auto& item : saved->named_parameters())
    EXPECT_TRUE(torch::equal(item.value(), fresh_params[item.key()])) << item.key();
}
