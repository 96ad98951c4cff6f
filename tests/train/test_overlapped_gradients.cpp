// GroupCollectives' gradient all-reduce overlapped with backward (hooks on the parameters)
// against the synchronous path and against the mean computed in one process: the same
// values bit for bit, with the buckets begun while backward still runs.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <ATen/CPUGeneratorImpl.h>

#include <memory>
#include <vector>

#include "protoclr/dist/group.h"
#include "protoclr/train/group_collectives.h"
#include "support/thread_ranks.h"

namespace pd = protoclr::dist;
namespace pt = protoclr::train;
using protoclr::test_support::run_ranks;

namespace {

torch::Tensor draw(std::vector<int64_t> sizes, uint64_t seed) {
  auto generator = at::detail::createCPUGenerator(seed);
  return torch::randn(sizes, generator);
}

/// A three-layer network's parameters, with one parameter the forward never uses (it gets
/// no gradient: it must take part as zeros). Listed unused-first, so the unused one falls in
/// the last bucket (reverse order) and never holds the others back.
struct Net {
  std::vector<torch::Tensor> parameters;
  Net() {
    parameters = {draw({5}, 1), draw({16, 8}, 2), draw({16}, 3), draw({16, 16}, 4), draw({4, 16}, 5)};
    for (auto& p : parameters) p.requires_grad_(true);
  }
  torch::Tensor loss(const torch::Tensor& x) const {
    const auto& p = parameters;
    torch::Tensor h = torch::tanh(torch::addmm(p[2], x, p[1].t()));
    h = torch::tanh(h.matmul(p[3].t()));
    return h.matmul(p[4].t()).pow(2).sum();
  }
  void zero_grad() {
    for (auto& p : parameters)
      if (p.grad().defined()) p.mutable_grad().zero_();
  }
};

torch::Tensor batch_of(int rank, int step) { return draw({6, 8}, 100 + 10 * step + rank); }

/// Gradients of `net` on rank `rank`'s batch, in one process: the mean is built from these.
std::vector<torch::Tensor> local_gradients(int rank, int step) {
  Net net;
  net.loss(batch_of(rank, step)).backward();
  std::vector<torch::Tensor> grads;
  for (const auto& p : net.parameters) grads.push_back(p.grad().defined() ? p.grad().clone() : torch::zeros_like(p));
  return grads;
}

// Buckets of 500 bytes over (reverse order) 256 + 1024 | 64 + 512 | 20 bytes: three.
constexpr int64_t kBucketBytes = 500;

}  // namespace

TEST(OverlappedGradients, EqualTheSynchronousMeanAndBeginDuringBackward) {
  if (!pd::backend_available(pd::Backend::kGloo)) GTEST_SKIP() << "built without Gloo";
  run_ranks(2, [](pd::Group& group) {
    const std::shared_ptr<pd::Group> shared(&group, [](pd::Group*) {});
    for (const bool overlap : {true, false}) {
      Net net;
      pt::GroupCollectives collectives(shared, kBucketBytes, overlap);
      collectives.watch_gradients(net.parameters);
      // Hooked after the collectives' own hooks: runs once the last gradient (the first
      // layer's weight) is in its bucket, before backward returns.
      uint64_t calls_when_last_arrived = 0;
      net.parameters[1].register_hook([&](const torch::Tensor&) { calls_when_last_arrived = group.traffic().calls; });
      for (int step = 0; step < 2; ++step) {  // the second step must not see the first's values
        net.zero_grad();
        const uint64_t calls_before = group.traffic().calls;
        net.loss(batch_of(group.rank(), step)).backward();
        EXPECT_EQ(calls_when_last_arrived - calls_before, overlap ? 2u : 0u)
            << "buckets begun during backward (overlap " << overlap << ")";
        collectives.reduce_gradients(net.parameters);
        EXPECT_EQ(group.traffic().calls - calls_before, 3u) << "one all-reduce per bucket";

        const auto mine = local_gradients(0, step);
        const auto theirs = local_gradients(1, step);
        for (size_t i = 0; i < net.parameters.size(); ++i) {
          const torch::Tensor mean = (mine[i] + theirs[i]) * 0.5;
          ASSERT_TRUE(net.parameters[i].grad().defined());
          EXPECT_TRUE(net.parameters[i].grad().equal(mean))
              << "parameter " << i << ", step " << step << ", overlap " << overlap << ": max difference "
              << (net.parameters[i].grad() - mean).abs().max().item<float>();
        }
        EXPECT_TRUE(net.parameters[0].grad().equal(torch::zeros({5}))) << "the unused parameter";
      }
    }
  });
}

TEST(OverlappedGradients, OtherParametersThanTheWatchedOnesAreReducedAfterBackward) {
  if (!pd::backend_available(pd::Backend::kGloo)) GTEST_SKIP() << "built without Gloo";
  run_ranks(2, [](pd::Group& group) {
    const std::shared_ptr<pd::Group> shared(&group, [](pd::Group*) {});
    Net watched, other;
    pt::GroupCollectives collectives(shared, kBucketBytes);
    collectives.watch_gradients(watched.parameters);
    other.loss(batch_of(group.rank(), 0)).backward();
    collectives.reduce_gradients(other.parameters);
    const auto mine = local_gradients(0, 0);
    const auto theirs = local_gradients(1, 0);
    for (size_t i = 0; i < other.parameters.size(); ++i)
      EXPECT_TRUE(other.parameters[i].grad().equal((mine[i] + theirs[i]) * 0.5)) << "parameter " << i;
    for (const auto& p : watched.parameters) EXPECT_FALSE(p.grad().defined()) << "the watched net did not run";
  });
}
