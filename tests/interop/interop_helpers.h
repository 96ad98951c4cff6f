#pragma once
// Helpers shared by the interop tests: random non-trivial models and tensor comparison.
#include <string>

#include <torch/torch.h>

#include "protoclr/model/moco.h"

namespace protoclr::test_support {

/// Random BN statistics and affine parameters, so that eval mode exercises every buffer.
inline void randomize_bn(torch::nn::Module& module, uint64_t seed) {
  torch::NoGradGuard no_grad;
  auto gen = at::detail::createCPUGenerator(seed);
  for (auto& item : module.named_modules()) {
    auto* bn = item.value()->as<torch::nn::BatchNorm2d>();
    if (!bn) continue;
    bn->running_mean.copy_(at::randn(bn->running_mean.sizes(), gen) * 0.1);
    bn->running_var.copy_(at::rand(bn->running_var.sizes(), gen) + 0.5);
    bn->weight.copy_(at::rand(bn->weight.sizes(), gen) + 0.5);
    bn->bias.copy_(at::randn(bn->bias.sizes(), gen) * 0.1);
    bn->num_batches_tracked.fill_(static_cast<int64_t>(seed % 1000 + 1));
  }
}

/// Whether every parameter and buffer of `a` equals `b`'s bit for bit (same keys, dtypes).
inline ::testing::AssertionResult same_state(torch::nn::Module& a, torch::nn::Module& b) {
  auto pa = a.named_parameters(), pb = b.named_parameters();
  auto ba = a.named_buffers(), bb = b.named_buffers();
  if (pa.size() != pb.size() || ba.size() != bb.size()) return ::testing::AssertionFailure() << "key counts differ";
  for (auto* pair : {&pa, &ba}) {
    const auto& other = pair == &pa ? pb : bb;
    for (const auto& item : *pair) {
      const auto* t = other.find(item.key());
      if (!t) return ::testing::AssertionFailure() << item.key() << " missing";
      if (t->scalar_type() != item.value().scalar_type() || !torch::equal(*t, item.value()))
        return ::testing::AssertionFailure() << item.key() << " differs";
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace protoclr::test_support
