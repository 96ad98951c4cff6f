#include <gtest/gtest.h>

#include <torch/torch.h>

#include "protoclr/model/moco.h"

using namespace protoclr;

namespace {
model::MoCo tiny_moco(int64_t queue = 10, double m = 0.9) {
  model::EncoderOptions e;
  e.arch = "resnet18";
  e.cifar_stem = true;
  e.low_dim = 4;
  e.mlp = true;
  return model::MoCo(model::MoCoOptions(e).queue_size(queue).momentum(m));
}
}  // namespace

TEST(MoCo, KeyEncoderStartsAsACopyAndFollowsByMomentum) {
  torch::manual_seed(0);
  auto moco = tiny_moco(10, 0.9);
  auto q = moco->encoder_q->named_parameters();
  auto k = moco->encoder_k->named_parameters();
  ASSERT_EQ(q.size(), k.size());
  for (const auto& item : q) EXPECT_TRUE(torch::equal(item.value(), k[item.key()]));
  for (const auto& item : k) EXPECT_FALSE(item.value().requires_grad());

  const auto before_k = k["fc.2.weight"].clone();
  {
    torch::NoGradGuard g;
    q["fc.2.weight"].add_(1.0);
  }
  const auto new_q = q["fc.2.weight"].clone();
  moco->momentum_update();
  // theta_k <- 0.9 theta_k + 0.1 theta_q
  EXPECT_TRUE(torch::allclose(k["fc.2.weight"], 0.9 * before_k + 0.1 * new_q, 1e-6, 1e-6));
}

TEST(MoCo, QueueWrapsAround) {
  torch::manual_seed(0);
  auto moco = tiny_moco(/*queue=*/5);
  EXPECT_EQ(moco->queue.sizes(), (std::vector<int64_t>{4, 5}));
  EXPECT_TRUE(torch::allclose(moco->queue.norm(2, 0), torch::ones({5}), 1e-5, 1e-5));
  auto keys_a = torch::arange(12, torch::kFloat).view({3, 4});
  moco->enqueue(keys_a);
  EXPECT_EQ(moco->queue_ptr.item<int64_t>(), 3);
  EXPECT_TRUE(torch::equal(moco->negatives().slice(0, 0, 3), keys_a));
  auto keys_b = 100 + torch::arange(12, torch::kFloat).view({3, 4});
  moco->enqueue(keys_b);  // columns 3, 4, then 0
  EXPECT_EQ(moco->queue_ptr.item<int64_t>(), 1);
  EXPECT_TRUE(torch::equal(moco->negatives()[3], keys_b[0]));
  EXPECT_TRUE(torch::equal(moco->negatives()[4], keys_b[1]));
  EXPECT_TRUE(torch::equal(moco->negatives()[0], keys_b[2]));
  EXPECT_TRUE(torch::equal(moco->negatives()[1], keys_a[1]));
}

// enqueue keeps the pointer on the host so a step never reads the device; a checkpoint load
// writes the buffer in place, and the next enqueue must follow the loaded value.
TEST(MoCo, EnqueueFollowsAQueuePointerWrittenInPlace) {
  torch::manual_seed(0);
  auto moco = tiny_moco(/*queue=*/6);
  moco->enqueue(torch::zeros({2, 4}));
  EXPECT_EQ(moco->queue_ptr.item<int64_t>(), 2);
  {
    torch::NoGradGuard no_grad;
    moco->queue_ptr.copy_(torch::tensor({5}, torch::kLong));  // what loading a checkpoint does
  }
  const auto keys = 1 + torch::arange(8, torch::kFloat).view({2, 4});
  moco->enqueue(keys);  // columns 5, then 0
  EXPECT_EQ(moco->queue_ptr.item<int64_t>(), 1);
  EXPECT_TRUE(torch::equal(moco->negatives()[5], keys[0]));
  EXPECT_TRUE(torch::equal(moco->negatives()[0], keys[1]));
  EXPECT_FALSE(torch::equal(moco->negatives()[2], keys[0])) << "not where the host pointer was";
}

TEST(MoCo, ShuffleKeepsSampleOrderAndOneGroupEqualsPlainBatchNorm) {
  torch::manual_seed(0);
  auto moco = tiny_moco();
  moco->train();
  auto x = torch::randn({8, 3, 16, 16});
  torch::NoGradGuard g;
  const auto plain = moco->encoder_k->forward(x);
  protoclr::Rng rng(1);
  model::SplitBatchShuffle one_group(1);
  // Batch statistics do not depend on the order, so one shuffled group gives the same rows.
  EXPECT_TRUE(torch::allclose(one_group.encode(moco->encoder_k, x, rng), plain, 1e-4, 1e-4));
  model::SplitBatchShuffle four_groups(4);
  const auto split = four_groups.encode(moco->encoder_k, x, rng);
  EXPECT_EQ(split.sizes(), plain.sizes());
  EXPECT_FALSE(torch::allclose(split, plain, 1e-4, 1e-4));  // each group has its own statistics
  const auto k = moco->encode_key(x, four_groups, rng);
  EXPECT_TRUE(torch::allclose(k.norm(2, 1), torch::ones({8}), 1e-5, 1e-5));
}

TEST(MoCo, QueryBatchNormGroupsNormaliseEachShareOnItsOwn) {
  torch::manual_seed(0);
  model::EncoderOptions e;
  e.arch = "resnet18";
  e.cifar_stem = true;
  e.low_dim = 4;
  e.mlp = true;
  auto grouped = model::MoCo(model::MoCoOptions(e).queue_size(10).query_bn_groups(2));
  grouped->train();
  auto x = torch::randn({8, 3, 16, 16});
  torch::NoGradGuard g;
  const auto q = grouped->encode_query(x);
  // Each half through its own forward pass (its own batch statistics), in batch order.
  const auto halves = torch::cat({grouped->encoder_q->forward(x.slice(0, 0, 4)), grouped->encoder_q->forward(x.slice(0, 4))});
  EXPECT_TRUE(torch::allclose(q, torch::nn::functional::normalize(halves, torch::nn::functional::NormalizeFuncOptions().dim(1)),
                              1e-4, 1e-4));
  const auto whole = torch::nn::functional::normalize(grouped->encoder_q->forward(x),
                                                      torch::nn::functional::NormalizeFuncOptions().dim(1));
  EXPECT_FALSE(torch::allclose(q, whole, 1e-4, 1e-4));
  EXPECT_THROW(model::MoCo(model::MoCoOptions(e).query_bn_groups(0)), std::exception);
}
