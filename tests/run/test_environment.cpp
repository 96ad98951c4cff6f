// environment.jsonl / `protoclr --version`: LibTorch, and CUDA named or said to be missing.
#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include "protoclr/run/environment.h"

using namespace protoclr;

TEST(Environment, CudaFieldsMatchTheDevices) {
  const auto env = run::runtime_environment();
  EXPECT_EQ(env.at("libtorch"), TORCH_VERSION);
  EXPECT_EQ(env.at("cuda_devices"), torch::cuda::device_count());
  if (!torch::cuda::is_available()) {
    EXPECT_EQ(env.at("cuda"), "not available");
    EXPECT_FALSE(env.contains("gpus"));
    EXPECT_FALSE(env.contains("cudnn"));
    return;
  }
  EXPECT_NE(env.at("cuda"), "not available");
  EXPECT_TRUE(env.contains("cudnn"));
  ASSERT_TRUE(env.contains("gpus")) << "libcuda.so.1 not opened";
  EXPECT_EQ(env.at("gpus").size(), torch::cuda::device_count());
}
