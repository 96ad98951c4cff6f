#include "protoclr/data/transfer.h"

#include <torch/torch.h>

#include "protoclr/core/error.h"

namespace protoclr::data {

torch::Tensor to_device(const torch::Tensor& host, const torch::Device& device) {
  if (host.device() == device) return host;
  if (device.is_cuda() && host.device().is_cpu()) {
    const torch::Tensor pinned = host.is_pinned() ? host : host.pin_memory();
    return pinned.to(device, /*non_blocking=*/true);
  }
  return host.to(device);
}

torch::Tensor normalize_images(const torch::Tensor& images, const std::array<float, 3>& mean,
                               const std::array<float, 3>& std) {
  PROTOCLR_CHECK(images.dim() == 4 && images.size(1) == 3 && images.scalar_type() == torch::kByte,
                 "normalize_images: expected uint8 [B, 3, H, W], got ", images.scalar_type(), " ", images.sizes());
  // The constants are filled on the device: a small pageable host-to-device copy would make
  // the host wait for the stream every call.
  const float values[7] = {255.0f, mean[0], mean[1], mean[2], std[0], std[1], std[2]};
  const auto constants = torch::empty({7}, torch::TensorOptions().dtype(torch::kFloat).device(images.device()));
  for (int64_t i = 0; i < 7; ++i) constants.select(0, i).fill_(values[i]);
  const auto m = constants.slice(0, 1, 4).view({1, 3, 1, 1});
  const auto s = constants.slice(0, 4, 7).view({1, 3, 1, 1});
  // The host path's float operations in its order ((v / 255 - mean) / std), so both agree to
  // the bit. 255 is a device tensor, not a scalar: CUDA turns division by a host scalar into
  // multiplication by its reciprocal, which rounds differently. The memory format is kept.
  return images.to(torch::kFloat).div_(constants.select(0, 0)).sub_(m).div_(s);
}

LoaderOptions loader_options_for(LoaderOptions options, const torch::Device& device) {
  options.uint8_views = options.pin_memory = device.is_cuda();
  return options;
}

torch::Tensor view_on_device(const torch::Tensor& view, const torch::Device& device) {
  const torch::Tensor on_device = to_device(view, device);
  return on_device.scalar_type() == torch::kByte ? normalize_images(on_device) : on_device;
}

}  // namespace protoclr::data
