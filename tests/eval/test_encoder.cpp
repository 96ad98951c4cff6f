// The network an evaluation measures: either encoder of a checkpoint, or a seeded random init.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "protoclr/core/error.h"
#include "protoclr/eval/encoder.h"
#include "protoclr/run/checkpoint.h"
#include "support/temp_dir.h"

using namespace protoclr;

TEST(Encoder, LoadGivesEitherEncoderOrARandomInit) {
  test_support::TempDir tmp;
  run::CheckpointMeta meta;
  meta.epoch = 3;
  meta.config.arch = "resnet18";
  meta.config.cifar_stem = true;
  meta.config.low_dim = 8;
  meta.config.mlp = true;
  meta.config.queue_size = 12;
  torch::manual_seed(5);
  model::MoCo moco(model::MoCoOptions(model::EncoderOptions{"resnet18", true, 8, true}).queue_size(12));
  {
    // Make the two encoders differ, as after training.
    torch::NoGradGuard no_grad;
    for (auto& p : moco->encoder_q->parameters()) p.add_(0.5);
  }
  run::save_checkpoint(run::checkpoint_path(tmp.path().string()), moco, nullptr, meta, nullptr);

  const auto q = eval::load_encoder(tmp.path().string(), eval::EncoderRole::kQuery);
  const auto k = eval::load_encoder(tmp.path().string(), eval::EncoderRole::kKey);
  EXPECT_EQ(q.epoch, 3);
  EXPECT_FALSE(q.random_init);
  EXPECT_EQ(q.config.low_dim, 8);
  EXPECT_FALSE(q.encoder->is_training());
  auto expect_same = [](const model::ResNet& a, const model::ResNet& b, bool same) {
    auto pb = b->named_parameters();
    bool all = true;
    for (const auto& item : a->named_parameters()) all = all && torch::equal(item.value(), pb[item.key()]);
    EXPECT_EQ(all, same);
  };
  expect_same(q.encoder, moco->encoder_q, true);
  expect_same(k.encoder, moco->encoder_k, true);
  expect_same(q.encoder, k.encoder, false);

  // --random-init: the checkpoint's architecture, untrained, seeded.
  auto r1 = eval::load_encoder(tmp.path().string(), eval::EncoderRole::kQuery, /*random_init=*/true, 7);
  const auto r2 = eval::load_encoder(tmp.path().string(), eval::EncoderRole::kQuery, /*random_init=*/true, 7);
  EXPECT_TRUE(r1.random_init);
  EXPECT_EQ(r1.epoch, 0);
  expect_same(r1.encoder, r2.encoder, true);
  expect_same(r1.encoder, q.encoder, false);
  EXPECT_EQ(r1.encoder->forward(torch::randn({2, 3, 16, 16})).size(1), 8);

  EXPECT_THROW(eval::load_encoder((tmp.path() / "nothing").string(), eval::EncoderRole::kQuery), Error);
}
