#include <gtest/gtest.h>

#include <torch/torch.h>

#include "protoclr/features/accuracy.h"
#include "protoclr/features/knn.h"

using protoclr::features::knn_classify;
using protoclr::features::KnnOptions;

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

TEST(TopKAccuracy, CountsTop1Top5AndSkipsUnlabeled) {
  protoclr::features::TopKAccuracy acc;
  // 6 classes; row 0 right at rank 1, row 1 right at rank 3, row 2 right at rank 6, row 3 unlabeled.
  auto scores = torch::tensor({{9.f, 1.f, 2.f, 3.f, 4.f, 5.f},
                               {1.f, 9.f, 8.f, 7.f, 2.f, 3.f},
                               {6.f, 5.f, 4.f, 3.f, 2.f, 1.f},
                               {1.f, 2.f, 3.f, 4.f, 5.f, 6.f}});
  acc.add(scores, torch::tensor({0, 3, 5, -1}, torch::kLong));
  EXPECT_EQ(acc.samples(), 3);
  EXPECT_DOUBLE_EQ(acc.top1(), 100.0 / 3);
  EXPECT_DOUBLE_EQ(acc.top5(), 200.0 / 3);
  // Fewer than five classes: top-5 counts every class.
  protoclr::features::TopKAccuracy two;
  two.add(torch::tensor({{0.f, 1.f}}), torch::tensor({0}, torch::kLong));
  EXPECT_DOUBLE_EQ(two.top1(), 0.0);
  EXPECT_DOUBLE_EQ(two.top5(), 100.0);
}
