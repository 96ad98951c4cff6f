// Average precision against rankings worked out by hand (the PCL reference's definition).
#include <gtest/gtest.h>

#include <cmath>

#include <torch/torch.h>

#include "protoclr/core/error.h"
#include "protoclr/eval/average_precision.h"

namespace protoclr::eval {
namespace {

TEST(AveragePrecision, HandComputedRanking) {
  // Ranked: + - + - + ; precision 1, 1/2, 2/3, 2/4, 3/5; made monotone from the right the
  // positives see 1, 2/3, 3/5: AP = (1 + 2/3 + 3/5) / 3 = 34/45.
  const std::vector<double> scores = {0.9, 0.8, 0.7, 0.6, 0.5};
  const std::vector<int8_t> targets = {1, -1, 1, -1, 1};
  EXPECT_NEAR(average_precision(scores, targets), 34.0 / 45.0, 1e-12);
  // The order of the rows does not matter, only the scores.
  EXPECT_NEAR(average_precision({0.5, 0.7, 0.9, 0.6, 0.8}, {1, 1, 1, -1, -1}), 34.0 / 45.0, 1e-12);
}

TEST(AveragePrecision, InterpolationUsesTheBestLaterPrecision) {
  // Ranked: - + - + + ; precision 0, 1/2, 1/3, 2/4, 3/5. The first positive (rank 2) sees
  // max(1/2, 1/3, 1/2, 3/5) = 3/5, the later ones 3/5 too: AP = 3/5.
  EXPECT_NEAR(average_precision({5, 4, 3, 2, 1}, {-1, 1, -1, 1, 1}), 0.6, 1e-12);
}

TEST(AveragePrecision, PerfectAndWorstRankings) {
  EXPECT_DOUBLE_EQ(average_precision({3, 2, 1}, {1, 1, -1}), 1.0);
  // Positives last: precision 1/3 at rank 3 for the one positive.
  EXPECT_NEAR(average_precision({3, 2, 1}, {-1, -1, 1}), 1.0 / 3.0, 1e-12);
}

TEST(AveragePrecision, TiesRankTheHigherIndexFirst) {
  // 0.9 (negative) first; rows 0 and 1 tie at 0.5 and row 1 ranks before row 0.
  // Row 0 positive: - - +, AP = 1/3.  Row 1 positive: - + -, AP = 1/2.
  EXPECT_NEAR(average_precision({0.5, 0.5, 0.9}, {1, -1, -1}), 1.0 / 3.0, 1e-12);
  EXPECT_NEAR(average_precision({0.5, 0.5, 0.9}, {-1, 1, -1}), 0.5, 1e-12);
  // All tied: reverse index order, + last of four: precision 2/4 at the rank-4 positive,
  // ranked order is rows 3,2,1,0 = - + - + -> positives at ranks 2 and 4: (1/2 + 1/2) / 2.
  EXPECT_NEAR(average_precision({1, 1, 1, 1}, {1, -1, 1, -1}), 0.5, 1e-12);
}

TEST(AveragePrecision, DifficultCountsAsNegativeOrIsIgnored) {
  // Ranked: + d + - ; as negative: precision 1, 1/2, 2/3, 2/4 -> (1 + 2/3) / 2 = 5/6.
  const std::vector<double> scores = {0.9, 0.8, 0.7, 0.6};
  const std::vector<int8_t> targets = {1, 0, 1, -1};
  EXPECT_NEAR(average_precision(scores, targets, DifficultPolicy::kNegative), 5.0 / 6.0, 1e-12);
  // Ignored (VOC devkit): + + - -> 1.
  EXPECT_DOUBLE_EQ(average_precision(scores, targets, DifficultPolicy::kIgnore), 1.0);
  // A difficult row is never a positive, even when it ranks first.
  EXPECT_NEAR(average_precision({0.9, 0.1}, {0, 1}, DifficultPolicy::kNegative), 0.5, 1e-12);
  EXPECT_DOUBLE_EQ(average_precision({0.9, 0.1}, {0, 1}, DifficultPolicy::kIgnore), 1.0);
}

TEST(AveragePrecision, NoPositivesIsNaNAndBadInputThrows) {
  EXPECT_TRUE(std::isnan(average_precision({1, 2}, {-1, -1})));
  EXPECT_TRUE(std::isnan(average_precision({1, 2}, {0, -1}, DifficultPolicy::kIgnore)));
  EXPECT_THROW(average_precision({1, 2}, {1}), Error);
  EXPECT_THROW(average_precision({1, 2}, {1, 2}), Error);
  EXPECT_THROW(average_precision({1, NAN}, {1, -1}), Error);
  EXPECT_EQ(parse_difficult_policy("ignore"), DifficultPolicy::kIgnore);
  EXPECT_EQ(parse_difficult_policy("negative"), DifficultPolicy::kNegative);
  EXPECT_THROW(parse_difficult_policy("drop"), Error);
}

TEST(AveragePrecision, MeanOverClassesSkipsClassesWithoutPositives) {
  // Columns: class 0 = the 34/45 ranking, class 1 perfect, class 2 no positive.
  auto scores = torch::tensor({{0.9, 0.1, 0.3}, {0.8, 0.2, 0.2}, {0.7, 0.3, 0.1}, {0.6, 0.4, 0.0}, {0.5, 0.5, 0.4}},
                              torch::kDouble);
  auto targets = torch::tensor({{1, -1, -1}, {-1, -1, -1}, {1, -1, -1}, {-1, 1, -1}, {1, 1, 0}}, torch::kChar);
  const auto per_class = average_precision_per_class(scores, targets);
  ASSERT_EQ(per_class.size(), 3u);
  EXPECT_NEAR(per_class[0], 34.0 / 45.0, 1e-12);
  EXPECT_DOUBLE_EQ(per_class[1], 1.0);
  EXPECT_TRUE(std::isnan(per_class[2]));
  EXPECT_NEAR(mean_average_precision(scores, targets), (34.0 / 45.0 + 1.0) / 2.0, 1e-12);
  EXPECT_THROW(mean_average_precision(scores, targets.slice(1, 0, 2)), Error);
}

}  // namespace
}  // namespace protoclr::eval
