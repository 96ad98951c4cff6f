// InfoNCE / ProtoNCE (eq. (1), (11)) against values worked out by hand with std::exp/std::log.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <initializer_list>
#include <vector>

#include "protoclr/loss/info_nce.h"
#include "protoclr/loss/proto_nce.h"
#include "protoclr/model/autocast.h"

namespace pl = protoclr::loss;

namespace {

/// log(sum(exp(x))) in double, independent of torch.
double lse(std::initializer_list<double> xs) {
  double s = 0;
  for (double x : xs) s += std::exp(x);
  return std::log(s);
}

torch::Tensor mat(std::vector<float> v, int64_t rows, int64_t cols) {
  return torch::tensor(v, torch::kFloat).reshape({rows, cols});
}

// B = 2, D = 2, Q = 2, tau = 0.5.
//   q     = [[1, 0], [0, 1]]
//   k     = [[0.6, 0.8], [0, 1]]
//   queue = [[1, 0], [0.6, -0.8]]
// row 0: q0·k0 = 0.6, q0·queue = [1, 0.6]   -> logits [1.2, 2.0, 1.2], CE = -1.2 + lse(1.2, 2, 1.2)
// row 1: q1·k1 = 1,   q1·queue = [0, -0.8]  -> logits [2.0, 0.0, -1.6], CE = -2 + lse(2, 0, -1.6)
// argmax: row 0 -> column 1 (wrong), row 1 -> column 0 (right): acc_inst = 50 %.
struct InstanceCase {
  torch::Tensor q = mat({1, 0, 0, 1}, 2, 2);
  torch::Tensor k = mat({0.6f, 0.8f, 0, 1}, 2, 2);
  torch::Tensor queue = mat({1, 0, 0.6f, -0.8f}, 2, 2);
  double tau = 0.5;
  double ce0 = -1.2 + lse({1.2, 2.0, 1.2});
  double ce1 = -2.0 + lse({2.0, 0.0, -1.6});
  double loss = (ce0 + ce1) / 2;
};

// K = 4 prototypes, D = 2: c0 = [1, 0], c1 = [0, 1], c2 = [-1, 0], c3 = [0.6, 0.8].
// Level A: phi = [0.5, 0.25, 1, 0.4]; positives [0, 1]; negatives [2, 3].
//   row 0 (q0 = [1, 0]): [1/0.5, 0/0.25, -1/1, 0.6/0.4] = [2, 0, -1, 1.5], target col 0 (argmax 0: right)
//   row 1 (q1 = [0, 1]): [0, 1/0.25, 0, 0.8/0.4]      = [0, 4, 0, 2],     target col 1 (argmax 1: right)
// Level B: phi = 1 everywhere; positives [2, 3]; negatives [0].
//   row 0: [q0·c2, q0·c3, q0·c0] = [-1, 0.6, 1], target col 0 (argmax 2: wrong)
//   row 1: [q1·c2, q1·c3, q1·c0] = [0, 0.8, 0],  target col 1 (argmax 1: right)
// acc_proto = (100 + 50) / 2 = 75 %.
struct ProtoCase {
  torch::Tensor prototypes = mat({1, 0, 0, 1, -1, 0, 0.6f, 0.8f}, 4, 2);
  torch::Tensor phi_a = torch::tensor({0.5f, 0.25f, 1.0f, 0.4f});
  torch::Tensor phi_b = torch::ones({4});
  torch::Tensor pos_a = torch::tensor({0, 1}, torch::kLong);
  torch::Tensor neg_a = torch::tensor({2, 3}, torch::kLong);
  torch::Tensor pos_b = torch::tensor({2, 3}, torch::kLong);
  torch::Tensor neg_b = torch::tensor({0}, torch::kLong);
  double ce_a = ((-2.0 + lse({2, 0, -1, 1.5})) + (-4.0 + lse({0, 4, 0, 2}))) / 2;
  double ce_b = ((1.0 + lse({-1, 0.6, 1})) + (-0.8 + lse({0, 0.8, 0}))) / 2;
};

}  // namespace

TEST(InfoNCE, LogitsMatchHandValues) {
  InstanceCase c;
  const torch::Tensor logits = pl::info_nce_logits(c.q, c.k, c.queue, c.tau);
  ASSERT_EQ(logits.sizes(), (std::vector<int64_t>{2, 3}));
  const std::vector<float> want = {1.2f, 2.0f, 1.2f, 2.0f, 0.0f, -1.6f};
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(logits.view(-1)[i].item<float>(), want[i], 1e-6) << i;
}

TEST(InfoNCE, LossAndAccuracy) {
  InstanceCase c;
  const auto out = pl::proto_nce(pl::info_nce_logits(c.q, c.k, c.queue, c.tau), {});
  EXPECT_NEAR(out.loss.item<double>(), c.loss, 1e-6);
  EXPECT_NEAR(out.instance_loss.item<double>(), c.loss, 1e-6);
  EXPECT_FALSE(out.proto_loss.defined());
  EXPECT_DOUBLE_EQ(out.acc_inst.item<double>(), 50.0);
  EXPECT_FALSE(out.acc_proto.defined()) << "no granularities: no prototype accuracy";
}

TEST(InfoNCE, EmptyQueue) {
  InstanceCase c;
  // Q = 0: one column, CE = 0, accuracy 100 %.
  const torch::Tensor logits = pl::info_nce_logits(c.q, c.k, torch::empty({0, 2}), c.tau);
  ASSERT_EQ(logits.sizes(), (std::vector<int64_t>{2, 1}));
  EXPECT_NEAR(logits[0][0].item<float>(), 1.2f, 1e-6);
  const auto out = pl::proto_nce(logits, {});
  EXPECT_NEAR(out.loss.item<double>(), 0.0, 1e-7);
  EXPECT_DOUBLE_EQ(out.acc_inst.item<double>(), 100.0);
  EXPECT_EQ(pl::info_nce_logits(c.q, c.k, torch::Tensor(), c.tau).size(1), 1);
}

TEST(InfoNCE, MeanPairwiseCosine) {
  // Orthonormal keys: 0; one key repeated: 1 (collapse).
  EXPECT_NEAR(pl::mean_pairwise_cosine(torch::eye(4)).item<double>(), 0.0, 1e-12);
  EXPECT_NEAR(pl::mean_pairwise_cosine(torch::ones({5, 3}) / std::sqrt(3.0)).item<double>(), 1.0, 1e-6);
  // By hand: a = (1, 0), b = (0.6, 0.8), c = (-1, 0); pairs ab 0.6, ac -1, bc -0.6 -> mean -1/3.
  const auto k = torch::tensor({1.0f, 0.0f, 0.6f, 0.8f, -1.0f, 0.0f}).view({3, 2});
  EXPECT_NEAR(pl::mean_pairwise_cosine(k).item<double>(), -1.0 / 3.0, 1e-6);
  // Against the full Gram matrix on random unit rows.
  torch::manual_seed(0);
  const auto r = torch::nn::functional::normalize(torch::randn({16, 8}), torch::nn::functional::NormalizeFuncOptions().dim(1));
  const auto gram = r.matmul(r.t());
  const double off_diagonal = (gram.sum() - gram.trace()).item<double>() / (16 * 15);
  EXPECT_NEAR(pl::mean_pairwise_cosine(r).item<double>(), off_diagonal, 1e-5);
  EXPECT_TRUE(std::isnan(pl::mean_pairwise_cosine(torch::ones({1, 3})).item<double>()));
}

TEST(ProtoNCE, ScalePrototypes) {
  ProtoCase p;
  const torch::Tensor s = pl::scale_prototypes(p.prototypes, p.phi_a);
  ASSERT_EQ(s.sizes(), (std::vector<int64_t>{4, 2}));
  const std::vector<float> want = {2, 0, 0, 4, -1, 0, 1.5f, 2};
  for (int i = 0; i < 8; ++i) EXPECT_NEAR(s.view(-1)[i].item<float>(), want[i], 1e-6) << i;
  EXPECT_THROW(pl::scale_prototypes(p.prototypes, torch::ones({3})), c10::Error);
}

TEST(ProtoNCE, LogitsMatchHandValues) {
  InstanceCase c;
  ProtoCase p;
  const torch::Tensor a = pl::proto_logits(c.q, pl::scale_prototypes(p.prototypes, p.phi_a), p.pos_a, p.neg_a);
  ASSERT_EQ(a.sizes(), (std::vector<int64_t>{2, 4}));
  const std::vector<float> want_a = {2, 0, -1, 1.5f, 0, 4, 0, 2};
  for (int i = 0; i < 8; ++i) EXPECT_NEAR(a.view(-1)[i].item<float>(), want_a[i], 1e-6) << i;
  const torch::Tensor b = pl::proto_logits(c.q, pl::scale_prototypes(p.prototypes, p.phi_b), p.pos_b, p.neg_b);
  ASSERT_EQ(b.sizes(), (std::vector<int64_t>{2, 3}));
  const std::vector<float> want_b = {-1, 0.6f, 1, 0, 0.8f, 0};
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(b.view(-1)[i].item<float>(), want_b[i], 1e-6) << i;
  // No negatives: [B, B].
  EXPECT_EQ(pl::proto_logits(c.q, p.prototypes, p.pos_a, torch::empty({0}, torch::kLong)).size(1), 2);
}

TEST(ProtoNCE, LossAndAccuracy) {
  InstanceCase c;
  ProtoCase p;
  std::vector<torch::Tensor> levels = {
      pl::proto_logits(c.q, pl::scale_prototypes(p.prototypes, p.phi_a), p.pos_a, p.neg_a),
      pl::proto_logits(c.q, pl::scale_prototypes(p.prototypes, p.phi_b), p.pos_b, p.neg_b)};
  const auto out = pl::proto_nce(pl::info_nce_logits(c.q, c.k, c.queue, c.tau), levels);
  EXPECT_NEAR(out.instance_loss.item<double>(), c.loss, 1e-6);
  EXPECT_NEAR(out.proto_loss.item<double>(), (p.ce_a + p.ce_b) / 2, 1e-6);
  EXPECT_NEAR(out.loss.item<double>(), c.loss + (p.ce_a + p.ce_b) / 2, 1e-6);
  EXPECT_DOUBLE_EQ(out.acc_inst.item<double>(), 50.0);
  EXPECT_DOUBLE_EQ(out.acc_proto.item<double>(), 75.0);
  EXPECT_EQ(out.loss.scalar_type(), torch::kFloat);
}

TEST(ProtoNCE, GradientFlowsToQueryOnly) {
  InstanceCase c;
  ProtoCase p;
  const torch::Tensor q = c.q.clone().requires_grad_(true);
  const torch::Tensor k = c.k.clone().requires_grad_(true);
  const torch::Tensor queue = c.queue.clone().requires_grad_(true);
  const torch::Tensor protos = p.prototypes.clone().requires_grad_(true);
  const torch::Tensor phi = p.phi_a.clone().requires_grad_(true);
  const auto out = pl::proto_nce(pl::info_nce_logits(q, k, queue, c.tau),
                                 {pl::proto_logits(q, pl::scale_prototypes(protos, phi), p.pos_a, p.neg_a)});
  out.loss.backward();
  ASSERT_TRUE(q.grad().defined());
  EXPECT_GT(q.grad().abs().sum().item<float>(), 0.f);
  EXPECT_FALSE(k.grad().defined());
  EXPECT_FALSE(queue.grad().defined());
  EXPECT_FALSE(protos.grad().defined());
  EXPECT_FALSE(phi.grad().defined());

  // d CE / d q for row 1 of the instance term, by hand: with p = softmax(logits),
  // dL/dq1 = (1/B) * (1/tau) * (sum_j p_j x_j - k1), x = [k1, queue0, queue1].
  const torch::Tensor q2 = c.q.clone().requires_grad_(true);
  pl::proto_nce(pl::info_nce_logits(q2, c.k, c.queue, c.tau), {}).loss.backward();
  const double z = std::exp(2.0) + std::exp(0.0) + std::exp(-1.6);
  const double p0 = std::exp(2.0) / z, p1 = 1.0 / z, p2 = std::exp(-1.6) / z;
  const double gx = (p0 * 0 + p1 * 1 + p2 * 0.6 - 0) / 2 / 0.5;
  const double gy = (p0 * 1 + p1 * 0 + p2 * -0.8 - 1) / 2 / 0.5;
  EXPECT_NEAR(q2.grad()[1][0].item<double>(), gx, 1e-6);
  EXPECT_NEAR(q2.grad()[1][1].item<double>(), gy, 1e-6);
}

TEST(ProtoNCE, Bf16AutocastComputesInFloat) {
  InstanceCase c;
  ProtoCase p;
  const auto out = [&] {
    protoclr::model::AutocastGuard autocast(/*enabled=*/true, torch::kCPU);
    const torch::Tensor inst = pl::info_nce_logits(c.q, c.k, c.queue, c.tau);
    const torch::Tensor proto = pl::proto_logits(c.q, pl::scale_prototypes(p.prototypes, p.phi_a), p.pos_a, p.neg_a);
    return pl::proto_nce(inst, {proto});
  }();
  EXPECT_EQ(out.loss.scalar_type(), torch::kFloat);
  // bf16 has 8 bits of mantissa: agree to ~1e-2.
  EXPECT_NEAR(out.loss.item<double>(), c.loss + p.ce_a, 5e-2);
  EXPECT_TRUE(std::isfinite(out.loss.item<double>()));
}

TEST(ProtoNCE, CudaMatchesCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  InstanceCase c;
  ProtoCase p;
  const torch::Device dev(torch::kCUDA);
  const auto cpu = pl::proto_nce(pl::info_nce_logits(c.q, c.k, c.queue, c.tau),
                                 {pl::proto_logits(c.q, pl::scale_prototypes(p.prototypes, p.phi_a), p.pos_a, p.neg_a)});
  // Ids left on the CPU on purpose: the functions move them to the prototypes' device.
  const auto gpu = pl::proto_nce(
      pl::info_nce_logits(c.q.to(dev), c.k.to(dev), c.queue.to(dev), c.tau),
      {pl::proto_logits(c.q.to(dev), pl::scale_prototypes(p.prototypes.to(dev), p.phi_a), p.pos_a, p.neg_a)});
  EXPECT_EQ(gpu.loss.device().type(), torch::kCUDA);
  EXPECT_NEAR(gpu.loss.item<double>(), cpu.loss.item<double>(), 1e-5);
  EXPECT_EQ(gpu.acc_proto.device().type(), torch::kCUDA) << "monitors stay on the device";
  EXPECT_DOUBLE_EQ(gpu.acc_proto.item<double>(), cpu.acc_proto.item<double>());
}
