#pragma once
/// Channels-last (NHWC) memory for a module's 4-D weights: with NHWC activations, oneDNN's
/// convolutions run without layout conversions (the 1.24x of docs/BENCHMARKS.md).
#include <torch/torch.h>

namespace protoclr::model {

/// Stores every 4-D parameter of `module` (convolution weights) channels-last, in place.
/// Values, shapes and parameter identities are unchanged (optimisers keep working).
void to_channels_last(torch::nn::Module& module);

}  // namespace protoclr::model
