#pragma once
/// Scoped bf16 autocast on the device's backend (CPU or CUDA), for encoder forward passes.
#include <ATen/autocast_mode.h>
#include <torch/types.h>
#include <torch/version.h>

namespace protoclr::model {
namespace detail {

// LibTorch 2.4 made autocast's state per device type and deprecated the per-backend calls
// (set_enabled, set_cpu_enabled, set_autocast_gpu_dtype, ...) that 1.13 has only.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
inline bool autocast_enabled(c10::DeviceType type) { return at::autocast::is_autocast_enabled(type); }
inline void set_autocast_enabled(c10::DeviceType type, bool on) { at::autocast::set_autocast_enabled(type, on); }
inline at::ScalarType autocast_dtype(c10::DeviceType type) { return at::autocast::get_autocast_dtype(type); }
inline void set_autocast_dtype(c10::DeviceType type, at::ScalarType dtype) {
  at::autocast::set_autocast_dtype(type, dtype);
}
#else
inline bool autocast_enabled(c10::DeviceType type) {
  return type == c10::kCUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
}
inline void set_autocast_enabled(c10::DeviceType type, bool on) {
  if (type == c10::kCUDA) at::autocast::set_enabled(on); else at::autocast::set_cpu_enabled(on);
}
inline at::ScalarType autocast_dtype(c10::DeviceType type) {
  return type == c10::kCUDA ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
}
inline void set_autocast_dtype(c10::DeviceType type, at::ScalarType dtype) {
  if (type == c10::kCUDA) at::autocast::set_autocast_gpu_dtype(dtype); else at::autocast::set_autocast_cpu_dtype(dtype);
}
#endif

}  // namespace detail

/// Enables bf16 autocast for `device`'s backend (CUDA, else CPU) while in scope, as
/// `torch.autocast(device_type, dtype=torch.bfloat16)` does; `enabled` false leaves the
/// current state alone. Nests: the destructor restores the enclosing enabled state and dtype,
/// and the outermost guard clears the cast cache.
class AutocastGuard {
 public:
  AutocastGuard(bool enabled, const torch::Device& device)
      : enabled_(enabled), type_(device.is_cuda() ? c10::kCUDA : c10::kCPU) {
    if (!enabled_) return;
    was_enabled_ = detail::autocast_enabled(type_);
    previous_dtype_ = detail::autocast_dtype(type_);
    detail::set_autocast_enabled(type_, true);
    detail::set_autocast_dtype(type_, at::kBFloat16);
    at::autocast::increment_nesting();
  }
  ~AutocastGuard() {
    if (!enabled_) return;
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    detail::set_autocast_enabled(type_, was_enabled_);
    detail::set_autocast_dtype(type_, previous_dtype_);
  }
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool enabled_;
  c10::DeviceType type_;
  bool was_enabled_ = false;
  at::ScalarType previous_dtype_ = at::kBFloat16;
};

}  // namespace protoclr::model
