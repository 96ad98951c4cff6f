#pragma once
/// Scoped bf16 autocast on the device's backend (CPU or CUDA), for encoder forward passes.
#include <ATen/autocast_mode.h>
#include <torch/types.h>

namespace protoclr::model {

class AutocastGuard {
 public:
  AutocastGuard(bool enabled, const torch::Device& device) : enabled_(enabled), cuda_(device.is_cuda()) {
    if (!enabled_) return;
    if (cuda_) {
      at::autocast::set_enabled(true);
      at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
    } else {
      at::autocast::set_cpu_enabled(true);
      at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    }
  }
  ~AutocastGuard() {
    if (!enabled_) return;
    if (cuda_) at::autocast::set_enabled(false); else at::autocast::set_cpu_enabled(false);
    at::autocast::clear_cache();
  }
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool enabled_, cuda_;
};

}  // namespace protoclr::model
