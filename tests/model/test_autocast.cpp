// AutocastGuard: bf16 matmuls while in scope, and the enclosing autocast state back after it.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "protoclr/model/autocast.h"

namespace protoclr::model {
namespace {

TEST(Autocast, CpuGuardRunsBf16AndRestoresTheEnclosingState) {
  const torch::Device cpu(torch::kCPU);
  const auto a = torch::randn({4, 8}), b = torch::randn({8, 3});
  ASSERT_FALSE(detail::autocast_enabled(c10::kCPU));
  const auto dtype_before = detail::autocast_dtype(c10::kCPU);
  {
    AutocastGuard outer(/*enabled=*/true, cpu);
    EXPECT_TRUE(detail::autocast_enabled(c10::kCPU));
    EXPECT_EQ(torch::mm(a, b).scalar_type(), torch::kBFloat16);
    {
      AutocastGuard inner(/*enabled=*/true, cpu);
      EXPECT_EQ(torch::mm(a, b).scalar_type(), torch::kBFloat16);
    }
    // The inner guard gave back the outer one's state, not "disabled".
    EXPECT_TRUE(detail::autocast_enabled(c10::kCPU));
    EXPECT_EQ(torch::mm(a, b).scalar_type(), torch::kBFloat16);
    {
      AutocastGuard off(/*enabled=*/false, cpu);  // leaves the state alone
      EXPECT_TRUE(detail::autocast_enabled(c10::kCPU));
    }
  }
  EXPECT_FALSE(detail::autocast_enabled(c10::kCPU));
  EXPECT_EQ(detail::autocast_dtype(c10::kCPU), dtype_before);
  EXPECT_EQ(torch::mm(a, b).scalar_type(), torch::kFloat);
}

TEST(Autocast, CudaGuardLeavesCpuAutocastAlone) {
  {
    AutocastGuard guard(/*enabled=*/true, torch::Device(torch::kCUDA));
    EXPECT_TRUE(detail::autocast_enabled(c10::kCUDA));
    EXPECT_FALSE(detail::autocast_enabled(c10::kCPU));
  }
  EXPECT_FALSE(detail::autocast_enabled(c10::kCUDA));
}

}  // namespace
}  // namespace protoclr::model
