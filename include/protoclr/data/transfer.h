#pragma once
/// From the loader's host batches to the training device without making the host wait:
/// pinned memory and non-blocking copies on a GPU, uint8 on the wire, normalisation there.
#include <array>

#include <torch/types.h>

#include "protoclr/data/augment.h"
#include "protoclr/data/loader.h"

namespace protoclr::data {

/// `host` (a CPU tensor) on `device`. To a GPU: through page-locked memory (the caching host
/// allocator, which keeps the block until the copy is done) with a non-blocking copy, so the
/// host never waits; a pageable copy would block until the stream is idle. On the CPU: `host`.
torch::Tensor to_device(const torch::Tensor& host, const torch::Device& device);

/// The device half of to_normalized_float: uint8 images [B, 3, H, W] (on any device, either
/// memory format) -> float32 (x / 255 - mean) / std on the same device, equal to the host path
/// bit for bit.
torch::Tensor normalize_images(const torch::Tensor& images, const std::array<float, 3>& mean = kImageNetMean,
                               const std::array<float, 3>& std = kImageNetStd);

/// What a loader feeding `device` should produce: page-locked uint8 views for a GPU (4x fewer
/// bytes to copy, normalised there), float views as today on the CPU.
LoaderOptions loader_options_for(LoaderOptions options, const torch::Device& device);

/// A loader view on `device`, float32 normalised: to_device, then normalize_images for uint8.
torch::Tensor view_on_device(const torch::Tensor& view, const torch::Device& device);

}  // namespace protoclr::data
