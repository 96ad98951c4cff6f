// Split-BN in one pass (model/split_batch_norm.h) against its definition: each consecutive
// share normalised by its own statistics (what G separate passes give), running statistics
// moved once by the mean of the groups' statistics (MoCo's SplitBatchNorm), in either memory
// format, with gradients, and under bf16.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "protoclr/core/error.h"
#include "protoclr/model/split_batch_norm.h"

namespace protoclr::model {
namespace {

namespace nn = torch::nn;

nn::BatchNorm2d trained_bn(int64_t channels) {
  nn::BatchNorm2d bn(channels);
  torch::NoGradGuard no_grad;
  bn->weight.uniform_(0.5, 1.5);
  bn->bias.uniform_(-0.5, 0.5);
  bn->running_mean.uniform_(-1, 1);
  bn->running_var.uniform_(0.5, 2);
  bn->train();
  return bn;
}

TEST(SplitBatchNorm, EachShareHasItsOwnStatisticsAndRunningStatisticsMoveOnce) {
  torch::manual_seed(3);
  const int64_t groups = 4, b = 3, c = 5;
  const auto x = torch::randn({groups * b, c, 6, 7}) * 2 + 1;
  auto bn = trained_bn(c);
  const auto mean0 = bn->running_mean.clone(), var0 = bn->running_var.clone();

  torch::Tensor out;
  {
    BatchNormGroups scope(groups);
    EXPECT_EQ(BatchNormGroups::current(), groups);
    out = batch_norm(*bn, x);
  }
  EXPECT_EQ(BatchNormGroups::current(), 1) << "the scope restores plain BN";

  // Definition: each share through a plain BN of its own (same affine parameters).
  std::vector<torch::Tensor> shares, means, vars;
  for (int64_t g = 0; g < groups; ++g) {
    const auto share = x.slice(0, g * b, (g + 1) * b);
    auto plain = trained_bn(c);
    {
      torch::NoGradGuard no_grad;
      plain->weight.copy_(bn->weight);
      plain->bias.copy_(bn->bias);
    }
    shares.push_back(plain->forward(share));
    means.push_back(share.mean({0, 2, 3}));
    vars.push_back(share.transpose(0, 1).reshape({c, -1}).var(1, /*unbiased=*/true));
  }
  EXPECT_TRUE(torch::allclose(out, torch::cat(shares), 1e-5, 1e-5));
  // Running statistics: one momentum step (0.1) towards the mean of the groups' statistics,
  // not G steps (what G sequential passes would do).
  const auto want_mean = 0.9 * mean0 + 0.1 * torch::stack(means).mean(0);
  const auto want_var = 0.9 * var0 + 0.1 * torch::stack(vars).mean(0);
  EXPECT_TRUE(torch::allclose(bn->running_mean, want_mean, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(bn->running_var, want_var, 1e-5, 1e-6));
  EXPECT_EQ(bn->num_batches_tracked.item<int64_t>(), 1);
}

TEST(SplitBatchNorm, ChannelsLastGradientsAndBf16) {
  torch::manual_seed(4);
  const int64_t groups = 2, c = 4;
  auto bn = trained_bn(c);
  const auto x = torch::randn({6, c, 5, 5});
  BatchNormGroups scope(groups);
  const auto reference = batch_norm(*bn, x);
  const auto cl = batch_norm(*bn, x.contiguous(at::MemoryFormat::ChannelsLast));
  EXPECT_TRUE(cl.is_contiguous(at::MemoryFormat::ChannelsLast)) << "the memory format is kept";
  EXPECT_TRUE(torch::allclose(cl, reference, 1e-5, 1e-5));

  // Gradients: as through each share's own BN.
  const auto w = torch::randn_like(x);
  auto xg = x.clone().requires_grad_(true);
  (batch_norm(*bn, xg) * w).sum().backward();
  auto xs = x.clone().requires_grad_(true);
  {
    BatchNormGroups plain(1);
    std::vector<torch::Tensor> parts;
    for (int64_t g = 0; g < groups; ++g) parts.push_back(bn->forward(xs.slice(0, 3 * g, 3 * g + 3)));
    (torch::cat(parts) * w).sum().backward();
  }
  EXPECT_TRUE(torch::allclose(xg.grad(), xs.grad(), 1e-4, 1e-5));
  EXPECT_TRUE(bn->weight.grad().defined());

  const auto half = batch_norm(*bn, x.to(torch::kBFloat16));
  EXPECT_EQ(half.scalar_type(), torch::kBFloat16);
  EXPECT_TRUE(torch::allclose(half.to(torch::kFloat), reference, 0.05, 0.05));
}

TEST(SplitBatchNorm, EvalModeAndUnevenBatches) {
  auto bn = trained_bn(3);
  const auto x = torch::randn({6, 3, 4, 4});
  BatchNormGroups scope(4);
  EXPECT_THROW(batch_norm(*bn, x), Error) << "6 images cannot make 4 equal groups";
  bn->eval();
  EXPECT_TRUE(torch::equal(batch_norm(*bn, x), bn->forward(x))) << "eval mode uses the running statistics";
  EXPECT_THROW(BatchNormGroups(0), Error);
}

}  // namespace
}  // namespace protoclr::model
