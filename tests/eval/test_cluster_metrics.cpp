#include <gtest/gtest.h>

#include "protoclr/core/error.h"
#include "protoclr/eval/cluster_metrics.h"

using protoclr::eval::cluster_agreement;

// Expected values from scikit-learn 1.2 (Debian 12 python3-sklearn), computed offline:
//   from sklearn.metrics import adjusted_mutual_info_score, normalized_mutual_info_score,
//                               adjusted_rand_score
// with the default average_method='arithmetic'.

TEST(ClusterMetrics, LabelPermutationIsPerfect) {
  const auto r = cluster_agreement({0, 0, 1, 1, 2, 2}, {1, 1, 2, 2, 0, 0});
  EXPECT_NEAR(r.ami, 1.0, 1e-12);
  EXPECT_NEAR(r.nmi, 1.0, 1e-12);
  EXPECT_NEAR(r.ari, 1.0, 1e-12);
  EXPECT_NEAR(r.purity, 1.0, 1e-12);
}

TEST(ClusterMetrics, UnequalClusterCountsMatchScikitLearn) {
  const auto r = cluster_agreement({0, 0, 0, 1, 1, 1, 2, 2, 2, 2}, {0, 0, 1, 1, 2, 2, 3, 3, 3, 0});
  EXPECT_NEAR(r.ami, 0.405778188634623, 1e-9);
  EXPECT_NEAR(r.nmi, 0.6185727866539659, 1e-9);
  EXPECT_NEAR(r.ari, 0.3644067796610169, 1e-9);
}

TEST(ClusterMetrics, FewerClustersThanClassesMatchScikitLearn) {
  const auto r = cluster_agreement({0, 0, 1, 1, 2, 2, 3, 3}, {5, 5, 5, 5, 7, 7, 7, 7});
  EXPECT_NEAR(r.ami, 0.5333333333333341, 1e-9);
  EXPECT_NEAR(r.nmi, 0.666666666666667, 1e-9);
  EXPECT_NEAR(r.ari, 0.36363636363636365, 1e-9);
  EXPECT_NEAR(r.purity, 0.5, 1e-12);
}

TEST(ClusterMetrics, WorseThanChanceIsNegativeAsInScikitLearn) {
  const auto r = cluster_agreement({0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 0, 1}, {0, 0, 0, 1, 1, 1, 2, 2, 2, 0, 1, 2});
  EXPECT_NEAR(r.ami, -0.22838997739710296, 1e-9);
  EXPECT_NEAR(r.nmi, 0.034772632923120765, 1e-9);
  EXPECT_NEAR(r.ari, -0.16382252559726962, 1e-9);
}

TEST(ClusterMetrics, UnlabelledSamplesAreLeftOut) {
  const auto r = cluster_agreement({0, 0, -1, 1, 1}, {3, 3, 9, 4, 4});
  EXPECT_NEAR(r.ami, 1.0, 1e-12);
  EXPECT_THROW(cluster_agreement({0, 1}, {0}), protoclr::Error);
}
