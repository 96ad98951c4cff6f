// Checkpoints (weights, queue, optimiser, E-step, configuration) and metrics.jsonl.
#include <gtest/gtest.h>

#include <sys/resource.h>

#include <csignal>

#include <filesystem>
#include <fstream>

#include <torch/torch.h>

#include "protoclr/core/error.h"
#include "protoclr/run/checkpoint.h"
#include "protoclr/run/metrics.h"
#include "protoclr/run/optimizer_state.h"
#include "support/temp_dir.h"

using namespace protoclr;
namespace fs = std::filesystem;

TEST(Checkpoint, RoundTripGivesIdenticalTensors) {
  test_support::TempDir tmp;
  torch::manual_seed(3);
  model::EncoderOptions e{"resnet18", true, 8, true};
  model::MoCo a(model::MoCoOptions(e).queue_size(12));
  torch::optim::SGD sgd(a->encoder_q->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  // One step so the optimiser has momentum buffers to save.
  a->train();
  auto loss = a->encode_query(torch::randn({4, 3, 16, 16})).sum();
  loss.backward();
  sgd.step();
  cluster::EStepResult estep;
  cluster::ClusterLevel level;
  level.k = 3;
  level.prototypes = torch::randn({3, 8});
  level.assignments = torch::tensor({0, 2, 1, 1}, torch::kLong);
  level.phi = torch::rand({3});
  level.counts = torch::tensor({1, 2, 1}, torch::kLong);
  estep.levels.push_back(level);
  run::CheckpointMeta meta;
  meta.epoch = 7;
  meta.config.seed = 99;
  const auto path = (tmp.path() / "ck" / "checkpoint.pt").string();
  run::save_checkpoint(path, a, &sgd, meta, &estep);
  EXPECT_FALSE(fs::exists(tmp.path() / "ck" / ".checkpoint.pt.tmp"));

  torch::manual_seed(4);
  model::MoCo b(model::MoCoOptions(e).queue_size(12));
  torch::optim::SGD sgd_b(b->encoder_q->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  std::optional<cluster::EStepResult> back;
  const auto got = run::load_checkpoint(path, b, &sgd_b, &back);
  EXPECT_EQ(got.epoch, 7);
  EXPECT_EQ(got.config.seed, 99u);
  auto pa = a->named_parameters(), pb = b->named_parameters();
  for (const auto& item : pa) EXPECT_TRUE(torch::equal(item.value(), pb[item.key()])) << item.key();
  auto ba = a->named_buffers(), bb = b->named_buffers();
  for (const auto& item : ba) EXPECT_TRUE(torch::equal(item.value(), bb[item.key()])) << item.key();
  ASSERT_TRUE(back.has_value());
  EXPECT_TRUE(torch::equal(back->levels[0].prototypes, level.prototypes));
  EXPECT_TRUE(torch::equal(back->levels[0].assignments, level.assignments));
  EXPECT_TRUE(torch::equal(back->levels[0].phi, level.phi));
  EXPECT_TRUE(torch::equal(back->levels[0].counts, level.counts));
  EXPECT_EQ(back->levels[0].k, 3);
  // Optimiser momentum buffers restored, parameter by parameter.
  const auto& params_a = sgd.param_groups()[0].params();
  const auto& params_b = sgd_b.param_groups()[0].params();
  ASSERT_EQ(sgd_b.state().size(), sgd.state().size());
  for (size_t i = 0; i < params_a.size(); ++i) {
    const auto key_a = run::optimizer_state_key(params_a[i]);
    const auto key_b = run::optimizer_state_key(params_b[i]);
    const auto& sa = static_cast<const torch::optim::SGDParamState&>(*sgd.state().at(key_a));
    const auto& sb = static_cast<const torch::optim::SGDParamState&>(*sgd_b.state().at(key_b));
    EXPECT_TRUE(torch::equal(sa.momentum_buffer(), sb.momentum_buffer()));
  }

  // A checkpoint of another architecture: a clear error naming a key and both shapes.
  model::EncoderOptions other{"resnet18", true, 16, true};
  model::MoCo c(model::MoCoOptions(other).queue_size(12));
  try {
    run::load_checkpoint(path, c, nullptr, nullptr);
    FAIL() << "expected a shape error";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("shape"), std::string::npos) << err.what();
  }
  // Not a checkpoint at all.
  std::ofstream(tmp.path() / "junk.pt") << "not a zip";
  EXPECT_THROW(run::read_checkpoint_meta((tmp.path() / "junk.pt").string()), Error);
}

namespace {

/// A small MoCo, with one saved checkpoint, for the fault tests.
struct SavedRun {
  model::EncoderOptions encoder{"resnet18", true, 8, true};
  model::MoCo moco{model::MoCoOptions(encoder).queue_size(12)};
};

/// Lowers the largest file this process may write (RLIMIT_FSIZE, which binds root too) for
/// its lifetime; writes past it fail with EFBIG instead of raising SIGXFSZ.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    getrlimit(RLIMIT_FSIZE, &saved_);
    previous_ = std::signal(SIGXFSZ, SIG_IGN);
    rlimit limited = saved_;
    limited.rlim_cur = bytes;
    setrlimit(RLIMIT_FSIZE, &limited);
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &saved_);
    std::signal(SIGXFSZ, previous_);
  }

 private:
  rlimit saved_{};
  void (*previous_)(int) = nullptr;
};

}  // namespace

// Catches: a checkpoint write that fails half-way and leaves a truncated checkpoint.pt (or a
// temporary file) behind, or fails with a crash or a multi-line torch trace instead of one line.
TEST(Checkpoint, AWriteThatRunsOutOfSpaceLeavesThePreviousCheckpointLoadable) {
  test_support::TempDir tmp;
  torch::manual_seed(5);
  SavedRun run_a;
  run::CheckpointMeta meta;
  meta.epoch = 3;
  const auto path = (tmp.path() / "checkpoint.pt").string();
  run::save_checkpoint(path, run_a.moco, nullptr, meta, nullptr);
  const auto size = fs::file_size(path);

  meta.epoch = 4;
  std::string message;
  {
    FileSizeLimit limit(size / 2);  // the disk "fills" half-way through the next checkpoint
    try {
      run::save_checkpoint(path, run_a.moco, nullptr, meta, nullptr);
    } catch (const Error& e) {
      message = e.what();
    }
  }
  EXPECT_NE(message.find("cannot write"), std::string::npos) << message;
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  EXPECT_EQ(fs::file_size(path), size);
  SavedRun run_b;
  EXPECT_EQ(run::load_checkpoint(path, run_b.moco, nullptr, nullptr).epoch, 3);
  for (const auto& entry : fs::directory_iterator(tmp.path()))
    EXPECT_EQ(entry.path().filename(), "checkpoint.pt") << "left behind: " << entry.path();
}

// Catches: a mid-epoch checkpoint whose step, progress or sampler states do not come back.
TEST(Checkpoint, MidEpochStateRoundTrips) {
  test_support::TempDir tmp;
  SavedRun saved;
  run::CheckpointMeta meta;
  meta.epoch = 2;
  meta.step = 5;
  meta.epoch_progress = {{"monitors", {{"steps", 5}, {"loss", 0.1 + 0.2}}}};
  meta.sampler_permutations = {torch::tensor({2, 0, 1}, torch::kLong), torch::tensor({1, 0}, torch::kLong)};
  const auto path = (tmp.path() / "checkpoint.pt").string();
  run::save_checkpoint(path, saved.moco, nullptr, meta, nullptr);
  SavedRun loaded;
  const auto back = run::load_checkpoint(path, loaded.moco, nullptr, nullptr);
  EXPECT_EQ(back.epoch, 2);
  EXPECT_EQ(back.step, 5);
  EXPECT_EQ(back.epoch_progress["monitors"]["loss"].get<double>(), 0.1 + 0.2);  // bit-exact through JSON
  ASSERT_EQ(back.sampler_permutations.size(), 2u);
  EXPECT_TRUE(torch::equal(back.sampler_permutations[0], meta.sampler_permutations[0]));
  EXPECT_TRUE(torch::equal(back.sampler_permutations[1], meta.sampler_permutations[1]));
  EXPECT_EQ(run::read_checkpoint_meta(path).step, 5);
}

TEST(Metrics, TruncateKeepsFinishedEpochsAndDropsACutLine) {
  test_support::TempDir tmp;
  std::ofstream(run::metrics_path(tmp.str())) << "{\"epoch\": 1, \"loss\": 3}\n{\"epoch\": 2, \"loss\": 2}\n"
                                                  "{\"epoch\": 3, \"loss\": 1}\n{\"epoch\": 4, \"lo";
  run::truncate_metrics(tmp.str(), 2);
  const auto kept = run::read_metrics(tmp.str());
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(kept[1]["epoch"], 2);
  run::truncate_metrics((tmp.path() / "no_run").string(), 1);  // nothing to do
  EXPECT_FALSE(fs::exists(tmp.path() / "no_run"));
  std::ofstream(run::metrics_path(tmp.str()), std::ios::app) << "not json\n";
  EXPECT_THROW(run::read_metrics(tmp.str()), Error);
  EXPECT_THROW(run::read_metrics((tmp.path() / "no_run").string()), Error);
}
