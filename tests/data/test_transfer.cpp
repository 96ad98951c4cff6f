// The GPU feed's data half: uint8 views normalised on the device must equal the host's float
// views bit for bit (so a GPU run sees exactly the pixels a CPU run sees), and the options a
// loader gets for a device. The CUDA cases skip without a GPU.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "protoclr/core/error.h"
#include "protoclr/data/loader.h"
#include "protoclr/data/transfer.h"
#include "support/memory_dataset.h"

namespace protoclr::data {
namespace {

std::vector<Batch> one_epoch(bool uint8_views, bool channels_last, bool pin_memory = false) {
  auto ds = std::make_shared<test_support::MemoryDataset>(24, 20, 4);
  LoaderOptions o;
  o.batch_size = 8;
  o.workers = 2;
  o.seed = 11;
  o.channels_last = channels_last;
  o.uint8_views = uint8_views;
  o.pin_memory = pin_memory;
  Loader loader(ds, Augmentation(AugmentOptions::mocov2(16)), o);
  loader.start_epoch(1);
  std::vector<Batch> out;
  while (auto b = loader.next()) out.push_back(std::move(*b));
  return out;
}

TEST(Transfer, Uint8ViewsNormalisedEqualTheFloatViewsBitForBit) {
  for (const bool channels_last : {false, true}) {
    const auto floats = one_epoch(false, channels_last);
    const auto bytes = one_epoch(true, channels_last);
    ASSERT_EQ(floats.size(), bytes.size());
    for (size_t b = 0; b < floats.size(); ++b) {
      EXPECT_TRUE(torch::equal(floats[b].index, bytes[b].index));
      for (int v = 0; v < 2; ++v) {
        const auto& raw = bytes[b].views[v];
        EXPECT_EQ(raw.scalar_type(), torch::kByte);
        EXPECT_EQ(raw.is_contiguous(at::MemoryFormat::ChannelsLast), channels_last);
        const auto normalised = normalize_images(raw);
        EXPECT_EQ(normalised.scalar_type(), torch::kFloat);
        EXPECT_EQ(normalised.is_contiguous(at::MemoryFormat::ChannelsLast), channels_last) << "format kept";
        EXPECT_TRUE(torch::equal(normalised, floats[b].views[v])) << "batch " << b << " view " << v;
        EXPECT_TRUE(torch::equal(view_on_device(raw, torch::kCPU), floats[b].views[v]));
      }
    }
  }
}

TEST(Transfer, EveryByteValueMapsAsToTensorAndNormalize) {
  // All 256 values in every channel: (v / 255 - mean) / std in float32, torchvision's order.
  const auto bytes = torch::arange(256, torch::kLong).to(torch::kByte).view({1, 1, 16, 16}).expand({2, 3, 16, 16}).contiguous();
  const auto out = normalize_images(bytes);
  for (int c = 0; c < 3; ++c) {
    for (int v = 0; v < 256; v += 17) {
      const float want = (static_cast<float>(v) / 255.0f - kImageNetMean[c]) / kImageNetStd[c];
      EXPECT_EQ(out[1][c].view(-1)[v].item<float>(), want) << "channel " << c << " value " << v;
    }
  }
}

TEST(Transfer, BadInputIsAClearError) {
  EXPECT_THROW(normalize_images(torch::zeros({2, 3, 4, 4})), Error) << "float, not uint8";
  EXPECT_THROW(normalize_images(torch::zeros({2, 1, 4, 4}, torch::kByte)), Error) << "one channel";
}

TEST(Transfer, LoaderOptionsForADevice) {
  LoaderOptions base;
  base.batch_size = 32;
  const auto cpu = loader_options_for(base, torch::kCPU);
  EXPECT_FALSE(cpu.uint8_views);
  EXPECT_FALSE(cpu.pin_memory);
  const auto gpu = loader_options_for(base, torch::Device(torch::kCUDA, 0));
  EXPECT_TRUE(gpu.uint8_views) << "4x fewer bytes over PCIe";
  EXPECT_TRUE(gpu.pin_memory) << "non-blocking copies need page-locked memory";
  EXPECT_EQ(gpu.batch_size, 32);
  const auto x = torch::rand({3, 3});
  EXPECT_TRUE(to_device(x, torch::kCPU).is_same(x)) << "no copy on the CPU";
}

TEST(Transfer, CudaViewsEqualTheHostViews) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const torch::Device cuda(torch::kCUDA, 0);
  const auto floats = one_epoch(false, true);
  const auto pinned = one_epoch(true, true, /*pin_memory=*/true);
  ASSERT_TRUE(pinned[0].views[0].is_pinned());
  ASSERT_TRUE(pinned[0].index.is_pinned());
  for (size_t b = 0; b < floats.size(); ++b) {
    const auto on_gpu = view_on_device(pinned[b].views[0], cuda);
    EXPECT_EQ(on_gpu.device(), cuda);
    EXPECT_TRUE(torch::equal(on_gpu.cpu(), floats[b].views[0])) << "batch " << b;
  }
}

}  // namespace
}  // namespace protoclr::data
