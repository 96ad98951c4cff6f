#pragma once
// Helpers shared by the interop tests: random non-trivial models and tensor comparison.
#include <algorithm>
#include <map>
#include <string>

#include <torch/torch.h>

#include "protoclr/interop/torch_file.h"
#include "protoclr/model/moco.h"
#include "protoclr/run/checkpoint.h"

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

/// Every tensor of a torch.save file, by its dotted key path.
inline std::map<std::string, torch::Tensor> read_io(const std::string& path) {
  std::map<std::string, torch::Tensor> io;
  for (auto& [key, t] : interop::read_torch_file(path).tensors) io[key] = t;
  return io;
}

/// A protoclr checkpoint as the MoCo model its configuration describes, in eval mode.
inline model::MoCo load_protoclr(const std::string& path) {
  const auto c = run::read_checkpoint_meta(path).config;
  model::MoCo net(model::MoCoOptions(model::EncoderOptions{c.arch, c.cifar_stem, c.low_dim, c.mlp}).queue_size(c.queue_size));
  run::load_checkpoint(path, net, nullptr, nullptr);
  net->eval();
  return net;
}

/// max |mine - reference| / max(1, max |reference|).
inline double max_relative_diff(const torch::Tensor& mine, const torch::Tensor& reference) {
  EXPECT_EQ(mine.sizes(), reference.sizes());
  const double scale = std::max(1.0, reference.abs().max().item<double>());
  return (mine - reference).abs().max().item<double>() / scale;
}

}  // namespace protoclr::test_support
