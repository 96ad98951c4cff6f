// The M-step against PyTorch: tests/train/make_step_reference.py runs three PCL steps the
// published way on fixed inputs (train-mode BatchNorm, InfoNCE + ProtoNCE with phi, SGD with
// momentum and weight decay, the momentum update, the enqueue); Trainer::train_step must
// give the same losses and leave the same weights, BN statistics and queue.
#include <gtest/gtest.h>

#include "interop/interop_helpers.h"
#include "protoclr/interop/checkpoint_import.h"
#include "protoclr/train/trainer.h"
#include "support/python.h"
#include "support/tiny_run.h"

namespace protoclr::train {
namespace {

using test_support::max_relative_diff;

/// float32 through a ResNet-18 and three SGD steps, summed in another order.
constexpr double kTolerance = 2e-4;

class StepEquivalence : public test_support::TinyRunTest {};

TEST_F(StepEquivalence, ThreeProtoNceStepsMatchPyTorch) {
  REQUIRE_TORCH();
  const auto ref = tmp_.path() / "reference";
  std::string log;
  ASSERT_EQ(test_support::run_python(test_support::source_path("tests/train/make_step_reference.py"), ref.string(), &log),
            0)
      << log;
  const auto init = (tmp_.path() / "init.pt").string(), after = (tmp_.path() / "after.pt").string();
  interop::import_checkpoint((ref / "init.pth.tar").string(), init);
  interop::import_checkpoint((ref / "after.pth.tar").string(), after);
  auto in = test_support::read_io((ref / "inputs.pt").string());
  const auto hyper = in.at("hyper");  // lr, weight decay, SGD momentum, MoCo m, tau

  run::TrainConfig c = config("run");
  c.init = init;
  c.low_dim = 8;
  c.queue_size = 16;
  c.bn_splits = 1;
  c.lr = hyper[0].item<double>();
  c.weight_decay = hyper[1].item<double>();
  c.momentum = hyper[2].item<double>();
  c.moco_m = hyper[3].item<double>();
  c.temperature = hyper[4].item<double>();
  c.neg_prototypes = 100;  // r >= K: every id not in the batch, as the reference
  Trainer trainer(c);
  auto& s = trainer.state();
  for (auto& group : s.optimizer->param_groups())
    static_cast<torch::optim::SGDOptions&>(group.options()).lr(c.lr);
  s.moco->train();

  std::vector<PrototypeLevel> levels;
  for (int i = 0; in.count("level" + std::to_string(i) + "_assignments"); ++i) {
    const auto prefix = "level" + std::to_string(i) + "_";
    const auto centroids = in.at(prefix + "centroids");
    levels.push_back(PrototypeLevel{in.at(prefix + "assignments"), centroids / in.at(prefix + "phi").unsqueeze(1),
                                    cluster::NegativePrototypeSampler(centroids.size(0))});
  }
  ASSERT_EQ(levels.size(), 2u);
  const auto losses = in.at("losses");
  for (int64_t i = 0; i < losses.numel(); ++i) {
    const auto prefix = "step" + std::to_string(i) + "_";
    DeviceBatch batch{in.at(prefix + "query"), in.at(prefix + "key"), in.at(prefix + "index")};
    Rng rng(static_cast<uint64_t>(i));
    const auto step = trainer.train_step(batch, levels, rng);
    EXPECT_NEAR(step.loss.item<double>(), losses[i].item<double>(), kTolerance * losses[i].item<double>())
        << "step " << i;
  }

  auto expected = test_support::load_protoclr(after);
  auto mine_params = s.moco->named_parameters(), their_params = expected->named_parameters();
  auto mine_buffers = s.moco->named_buffers(), their_buffers = expected->named_buffers();
  ASSERT_EQ(mine_params.size(), their_params.size());
  double worst = 0;
  for (const auto& item : their_params) {
    const double diff = max_relative_diff(mine_params[item.key()], item.value());
    EXPECT_LE(diff, kTolerance) << item.key();
    worst = std::max(worst, diff);
  }
  for (const auto& item : their_buffers) {
    if (!item.value().is_floating_point()) {
      EXPECT_TRUE(torch::equal(mine_buffers[item.key()], item.value())) << item.key();
      continue;
    }
    const double diff = max_relative_diff(mine_buffers[item.key()], item.value());
    EXPECT_LE(diff, kTolerance) << item.key();
    worst = std::max(worst, diff);
  }
  RecordProperty("max_relative_diff", std::to_string(worst));
}

}  // namespace
}  // namespace protoclr::train
