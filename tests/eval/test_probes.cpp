#include <gtest/gtest.h>

#include <torch/torch.h>

#include "protoclr/core/error.h"
#include "protoclr/data/dataset.h"
#include "protoclr/eval/cluster_metrics.h"
#include "protoclr/eval/finetune.h"
#include "protoclr/eval/linear_probe.h"
#include "protoclr/model/resnet.h"
#include "support/memory_dataset.h"

using namespace protoclr;

namespace {

/// Linearly separable classes: class c sits around 3 * e_c in D dimensions.
void blobs(int64_t per_class, int64_t classes, int64_t dim, uint64_t seed, torch::Tensor& x, torch::Tensor& y) {
  auto gen = at::detail::createCPUGenerator(seed);
  y = torch::arange(classes, torch::kLong).repeat_interleave(per_class);
  x = torch::randn({classes * per_class, dim}, gen) * 0.3;
  x.index_put_({torch::arange(classes * per_class), y}, x.index({torch::arange(classes * per_class), y}) + 3.0);
}

}  // namespace

TEST(LinearProbe, SeparableToySetIsLearnedPerfectly) {
  torch::Tensor x, y, tx, ty;
  blobs(40, 4, 16, 1, x, y);
  blobs(10, 4, 16, 2, tx, ty);
  eval::LinearProbeOptions o;
  o.epochs = 30;
  o.lr = 0.5;
  o.batch_size = 32;
  o.milestones = {20};
  const auto r = eval::linear_probe(x, y, tx, ty, o);
  EXPECT_DOUBLE_EQ(r.top1, 100.0);
  EXPECT_DOUBLE_EQ(r.top5, 100.0);
  EXPECT_DOUBLE_EQ(r.train_top1, 100.0);
  EXPECT_EQ(r.train_samples, 160);
  EXPECT_EQ(r.test_samples, 40);
  EXPECT_LT(r.final_loss, 0.1);
  // Seeded: the same figures again.
  const auto again = eval::linear_probe(x, y, tx, ty, o);
  EXPECT_DOUBLE_EQ(again.final_loss, r.final_loss);
}

TEST(LinearProbe, StandardisedFeaturesDoNotCareAboutScale) {
  // A random initialisation's features can be orders of magnitude off a trained network's:
  // with standardisation the same learning rate fits both. 161 samples and batch 32 leave a
  // last batch of one, which batch statistics cannot use.
  torch::Tensor x, y, tx, ty;
  blobs(40, 4, 16, 1, x, y);
  x = torch::cat({x, x.slice(0, 0, 1)});
  y = torch::cat({y, y.slice(0, 0, 1)});
  blobs(10, 4, 16, 2, tx, ty);
  eval::LinearProbeOptions o;
  o.epochs = 20;
  o.batch_size = 32;
  const auto small = eval::linear_probe(x * 0.1, y, tx * 0.1, ty, o);
  const auto large = eval::linear_probe(x * 100.0, y, tx * 100.0, ty, o);
  EXPECT_DOUBLE_EQ(small.top1, 100.0);
  EXPECT_DOUBLE_EQ(large.top1, 100.0);
  EXPECT_NEAR(small.final_loss, large.final_loss, 0.05 * large.final_loss + 1e-4);
  // Raw features at the same learning rate: the tiny ones barely move in 20 epochs.
  o.standardize = false;
  EXPECT_GT(eval::linear_probe(x * 1e-3, y, tx * 1e-3, ty, o).final_loss, 1.0);
}

TEST(LinearProbe, RejectsBadInput) {
  torch::Tensor x, y;
  blobs(5, 2, 4, 1, x, y);
  eval::LinearProbeOptions o;
  o.epochs = 1;
  EXPECT_THROW(eval::linear_probe(x, torch::full_like(y, -1), x, y, o), Error);      // unlabeled
  EXPECT_THROW(eval::linear_probe(x, y, x.slice(1, 0, 3), y, o), Error);             // dims differ
  o.epochs = 0;
  EXPECT_THROW(eval::linear_probe(x, y, x, y, o), Error);
}

TEST(LinearProbe, AugmentedRunsThroughTheFrozenBackbone) {
  auto train = std::make_shared<test_support::MemoryDataset>(24, 20, 3);
  torch::manual_seed(0);
  model::ResNet net(model::ResNetOptions("resnet18").num_classes(0).cifar_stem(true));
  const auto before = net->conv1->weight.clone();
  torch::Tensor tx, ty;
  tx = torch::randn({6, 512});
  ty = torch::tensor({0, 1, 2, 0, 1, 2}, torch::kLong);
  eval::LinearProbeOptions o;
  o.epochs = 2;
  o.lr = 0.1;
  o.batch_size = 8;
  eval::AugmentedProbeOptions a;
  a.image_size = 16;
  a.workers = 1;
  const auto r = eval::linear_probe_augmented(net, train, tx, ty, o, a);
  EXPECT_EQ(r.train_samples, 24);
  EXPECT_EQ(r.test_samples, 6);
  EXPECT_TRUE(std::isfinite(r.final_loss));
  EXPECT_TRUE(torch::equal(before, net->conv1->weight));  // frozen
}

TEST(Clustering, SeparatedBlobsAreRecovered) {
  torch::Tensor x, y;
  blobs(50, 5, 8, 4, x, y);
  eval::ClusteringOptions o;
  o.seed = 1;
  const auto r = eval::evaluate_clustering(x, y, o);
  EXPECT_EQ(r.k, 5);
  EXPECT_NEAR(r.agreement.ami, 1.0, 1e-9);
  EXPECT_NEAR(r.agreement.ari, 1.0, 1e-9);
  EXPECT_DOUBLE_EQ(r.agreement.purity, 1.0);
  EXPECT_EQ(r.assignments.size(0), 250);
  o.k = 10;  // more clusters than classes: purity stays 1, AMI drops
  const auto over = eval::evaluate_clustering(x, y, o);
  EXPECT_DOUBLE_EQ(over.agreement.purity, 1.0);
  EXPECT_LT(over.agreement.ami, 1.0);
  EXPECT_THROW(eval::evaluate_clustering(x, torch::full_like(y, -1), eval::ClusteringOptions{}), Error);
}

TEST(Finetune, TinyRunTrainsTheWholeNetwork) {
  auto train = std::make_shared<test_support::MemoryDataset>(24, 20, 3);
  auto test = std::make_shared<test_support::MemoryDataset>(9, 20, 3);
  torch::manual_seed(0);
  model::ResNet net(model::ResNetOptions("resnet18").num_classes(0).cifar_stem(true));
  const auto before = net->conv1->weight.clone();
  eval::FinetuneOptions o;
  o.epochs = 2;
  o.batch_size = 8;
  o.image_size = 16;
  o.workers = 1;
  o.milestones = {1};
  const auto r = eval::finetune(net, train, test, o);
  EXPECT_EQ(r.train_samples, 24);
  EXPECT_EQ(r.test_samples, 9);
  EXPECT_TRUE(std::isfinite(r.final_loss));
  EXPECT_GE(r.top5, r.top1);
  EXPECT_FALSE(torch::equal(before, net->conv1->weight));  // the backbone learned too
  EXPECT_EQ(net->forward(torch::randn({2, 3, 16, 16})).size(1), 3);
}
