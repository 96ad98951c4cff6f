#include <gtest/gtest.h>

#include <torch/torch.h>

#include "protoclr/eval/knn.h"

using protoclr::eval::knn_classify;
using protoclr::eval::KnnOptions;

TEST(Knn, SeparatedClassesAreFound) {
  // Two classes along two axes; test points near each axis.
  auto train = torch::tensor({{1.0f, 0.1f}, {1.0f, -0.1f}, {0.9f, 0.0f}, {0.1f, 1.0f}, {-0.1f, 1.0f}, {0.0f, 0.9f}});
  auto train_labels = torch::tensor({0, 0, 0, 1, 1, 1}, torch::kLong);
  auto test = torch::tensor({{1.0f, 0.05f}, {0.02f, 1.0f}});
  auto test_labels = torch::tensor({0, 1}, torch::kLong);
  KnnOptions o;
  o.k = 3;
  const auto r = knn_classify(train, train_labels, test, test_labels, o);
  EXPECT_DOUBLE_EQ(r.top1, 100.0);
  EXPECT_DOUBLE_EQ(r.top5, 100.0);
  EXPECT_EQ(r.samples, 2);
}

TEST(Knn, VotesAreWeightedBySimilarity) {
  // k = 3: two far neighbours of class 1 lose to one very close neighbour of class 0 when
  // tau is small (exp(s / tau) weights), and win when tau is large (near-uniform votes).
  auto train = torch::tensor({{1.0f, 0.0f}, {0.6f, 0.8f}, {0.6f, -0.8f}});
  auto train_labels = torch::tensor({0, 1, 1}, torch::kLong);
  auto test = torch::tensor({{1.0f, 0.0f}});
  auto test_labels = torch::tensor({0}, torch::kLong);
  KnnOptions o;
  o.k = 3;
  o.temperature = 0.07;
  EXPECT_DOUBLE_EQ(knn_classify(train, train_labels, test, test_labels, o).top1, 100.0);
  o.temperature = 100.0;
  EXPECT_DOUBLE_EQ(knn_classify(train, train_labels, test, test_labels, o).top1, 0.0);
}
