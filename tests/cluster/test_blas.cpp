#include <gtest/gtest.h>

#include <strings.h>

#include <cstdlib>

#include <torch/torch.h>

#include "protoclr/core/blas.h"

// This binary links OpenBLAS (through faiss and LibTorch) and the start-up hook, as the
// protoclr executable does.
TEST(Blas, StartupHookRunsOpenblasWithTheKernelForThisCpu) {
  const std::string in_use = protoclr::blas::kernel_in_use();
  if (in_use.empty()) GTEST_SKIP() << "BLAS is not OpenBLAS";
  const char* best = protoclr::blas::kernel_for_cpu();
  if (best == nullptr) GTEST_SKIP() << "CPU without AVX2: OpenBLAS's own choice stands";
  const char* env = std::getenv("OPENBLAS_CORETYPE");
  ASSERT_NE(env, nullptr) << "the start-up hook did not add OPENBLAS_CORETYPE";
  if (strcasecmp(env, best) != 0) GTEST_SKIP() << "OPENBLAS_CORETYPE=" << env << " set by the user";
  EXPECT_EQ(strcasecmp(in_use.c_str(), best), 0) << in_use << " vs " << best;
  EXPECT_FALSE(protoclr::blas::runs_generic_kernels());
  EXPECT_EQ(protoclr::blas::describe(), "OpenBLAS " + in_use);
  // And the products are right with those kernels.
  torch::manual_seed(0);
  const torch::Tensor a = torch::randn({300, 70}, torch::kDouble), b = torch::randn({70, 90}, torch::kDouble);
  const torch::Tensor ref = torch::matmul(a, b);
  EXPECT_TRUE(torch::allclose(torch::matmul(a.to(torch::kFloat), b.to(torch::kFloat)).to(torch::kDouble), ref,
                              1e-4, 1e-4));
}

TEST(Blas, DescriptionSaysHowToLeaveGenericKernels) {
  using protoclr::blas::describe_kernel;
  EXPECT_EQ(describe_kernel("", "SkylakeX"), "not OpenBLAS");
  EXPECT_EQ(describe_kernel("SkylakeX", "SkylakeX"), "OpenBLAS SkylakeX");
  EXPECT_EQ(describe_kernel("Prescott", nullptr), "OpenBLAS Prescott");
  const std::string generic = describe_kernel("Prescott", "SkylakeX");
  EXPECT_NE(generic.find("OPENBLAS_CORETYPE=SkylakeX"), std::string::npos) << generic;
}
