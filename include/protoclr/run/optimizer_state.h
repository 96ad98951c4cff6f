#pragma once
/// The key of one parameter's entry in torch::optim::Optimizer::state(), in every LibTorch
/// version protoclr builds with (Debian's 1.13 and the 2.x of a pip torch).
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>

#include <torch/optim/optimizer.h>

namespace protoclr::run {

/// What Optimizer::state() is keyed by: the text of the parameter's TensorImpl address up to
/// LibTorch 2.1 (`c10::guts::to_string(p.unsafeGetTensorImpl())`, a function 2.x removed),
/// the address itself (`void*`) from 2.2 on (pytorch/pytorch#108480). Taken from the map's
/// own type rather than from TORCH_VERSION_MAJOR, so 2.0 and 2.1 get the text too.
using OptimizerStateKey =
    typename std::decay_t<decltype(std::declval<torch::optim::Optimizer&>().state())>::key_type;

/// The key of `param` (a tensor of one of the optimiser's parameter groups) in
/// Optimizer::state(): `optimizer.state().find(optimizer_state_key(p))`.
template <class Key = OptimizerStateKey>
Key optimizer_state_key(const torch::Tensor& param) {
  void* impl = param.unsafeGetTensorImpl();
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream text;  // c10::guts::to_string of a pointer: operator<< of the address
    text << impl;
    return text.str();
  } else {
    static_assert(std::is_same_v<Key, void*>, "unknown key type of torch::optim::Optimizer::state()");
    return impl;
  }
}

}  // namespace protoclr::run
