// t-SNE: separation of well-separated blobs, KL decrease, determinism (seed and thread
// count), tiny inputs, Barnes-Hut against exact, and the perplexity search against
// scikit-learn (tests/eval/make_tsne_reference.py -> tsne_reference.h).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "eval/tsne_reference.h"
#include "protoclr/core/error.h"
#include "protoclr/core/rng.h"
#include "protoclr/eval/tsne.h"
#include "protoclr/plot/plot.h"

namespace {

using protoclr::eval::TsneMethod;
using protoclr::eval::TsneOptions;
using protoclr::eval::tsne;

/// Uniform in [-0.5, 0.5) from (seed, index): the same numbers as make_tsne_reference.py.
double noise(uint64_t seed, uint64_t index) {
  return static_cast<double>(protoclr::stream_seed(seed, index) >> 11) * 0x1.0p-53 - 0.5;
}

/// `clusters` blobs of `per` points in `dim` dimensions: centres spread `spread` apart,
/// points uniform within +-0.5 * `width` of their centre. Labels [N] int64.
std::pair<torch::Tensor, torch::Tensor> blobs(int64_t clusters, int64_t per, int64_t dim, double spread,
                                              double width) {
  const int64_t n = clusters * per;
  auto x = torch::empty({n, dim}, torch::kFloat);
  auto labels = torch::empty({n}, torch::kLong);
  auto xa = x.accessor<float, 2>();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = i % clusters;
    labels[i] = c;
    for (int64_t d = 0; d < dim; ++d)
      xa[i][d] = static_cast<float>(spread * noise(1, c * dim + d) * 2.0 + width * noise(2, i * dim + d));
  }
  return {x, labels};
}

/// Leave-one-out 1-nearest-neighbour accuracy of the 2-D embedding.
double one_nn_accuracy(const torch::Tensor& y, const torch::Tensor& labels) {
  auto d = torch::cdist(y, y);
  d.fill_diagonal_(INFINITY);
  const auto nearest = d.argmin(1);
  return labels.index({nearest}).eq(labels).to(torch::kDouble).mean().item<double>();
}

TsneOptions quiet(TsneMethod method) {
  TsneOptions o;
  o.method = method;
  o.show_progress = false;
  return o;
}

}  // namespace

TEST(Tsne, SeparatesBlobsAndKlDecreasesExact) {
  auto [x, labels] = blobs(5, 60, 50, 10.0, 4.0);
  const auto r = tsne(x, quiet(TsneMethod::kAuto));
  EXPECT_FALSE(r.barnes_hut);  // 300 points: exact by default
  ASSERT_EQ(r.embedding.sizes(), (std::vector<int64_t>{300, 2}));
  EXPECT_EQ(r.embedding.dtype(), torch::kFloat);
  EXPECT_TRUE(torch::isfinite(r.embedding).all().item<bool>());
  EXPECT_GE(one_nn_accuracy(r.embedding, labels), 0.99);
  EXPECT_EQ(r.iterations, 1000);
  EXPECT_DOUBLE_EQ(r.learning_rate, 50.0);
  ASSERT_EQ(r.history.size(), 20u);
  EXPECT_TRUE(r.history[4].exaggerated);
  EXPECT_FALSE(r.history[5].exaggerated);
  EXPECT_LT(r.kl, r.history[5].kl);
  EXPECT_GT(r.kl, 0.0);
  EXPECT_LT(r.kl, 2.0);
}

TEST(Tsne, SeparatesBlobsBarnesHutAndAgreesWithExact) {
  auto [x, labels] = blobs(5, 60, 50, 10.0, 4.0);
  const auto bh = tsne(x, quiet(TsneMethod::kBarnesHut));
  const auto ex = tsne(x, quiet(TsneMethod::kExact));
  EXPECT_TRUE(bh.barnes_hut);
  EXPECT_GE(one_nn_accuracy(bh.embedding, labels), 0.99);
  EXPECT_LT(bh.kl, bh.history[5].kl);
  // Different P (3 * perplexity neighbours vs all pairs) and an approximate gradient
  // (measured: 0.446 vs 0.443).
  EXPECT_NEAR(bh.kl, ex.kl, 0.05 * ex.kl) << "Barnes-Hut " << bh.kl << " exact " << ex.kl;
}

TEST(Tsne, KlMatchesScikitLearn) {
  // Same data as make_tsne_reference.py; different PCA signs and float precision, so only
  // the optimum's KL is compared (measured: exact 0.1448 vs 0.1446, Barnes-Hut 0.1481 vs 0.1472).
  auto [x, labels] = blobs(4, 40, 10, 10.0, 4.0);
  const auto ex = tsne(x, quiet(TsneMethod::kExact));
  const auto bh = tsne(x, quiet(TsneMethod::kBarnesHut));
  EXPECT_NEAR(ex.kl, tsne_reference::kKlExact, 0.02 * tsne_reference::kKlExact);
  EXPECT_NEAR(bh.kl, tsne_reference::kKlBarnesHut, 0.02 * tsne_reference::kKlBarnesHut);
}

TEST(Tsne, ReproducibleAcrossRunsAndThreadCounts) {
  auto [x, labels] = blobs(3, 30, 20, 10.0, 4.0);
  for (auto init : {protoclr::eval::TsneInit::kPca, protoclr::eval::TsneInit::kRandom}) {
    auto o = quiet(TsneMethod::kBarnesHut);
    o.init = init;
    o.seed = 7;
    o.iterations = 120;
    o.exaggeration_iterations = 60;  // both phases
    const int threads = torch::get_num_threads();
    torch::set_num_threads(1);
    const auto a = tsne(x, o);
    torch::set_num_threads(2);
    const auto b = tsne(x, o);
    torch::set_num_threads(threads);
    EXPECT_TRUE(torch::equal(a.embedding, b.embedding));
    EXPECT_EQ(a.kl, b.kl);
  }
  auto o = quiet(TsneMethod::kExact);
  o.init = protoclr::eval::TsneInit::kRandom;
  o.iterations = 100;
  o.seed = 1;
  const auto s1 = tsne(x, o);
  EXPECT_TRUE(torch::equal(s1.embedding, tsne(x, o).embedding));
  o.seed = 2;
  EXPECT_FALSE(torch::equal(s1.embedding, tsne(x, o).embedding));
}

TEST(Tsne, TinyInputs) {
  const auto one = tsne(torch::ones({1, 8}), quiet(TsneMethod::kAuto));
  EXPECT_TRUE(torch::equal(one.embedding, torch::zeros({1, 2})));
  for (auto method : {TsneMethod::kExact, TsneMethod::kBarnesHut}) {
    for (int64_t n : {2, 5, 40}) {  // all below 3 * perplexity + 1 = 91
      const auto r = tsne(torch::randn({n, 6}, torch::TensorOptions().dtype(torch::kFloat)), quiet(method));
      EXPECT_EQ(r.embedding.sizes(), (std::vector<int64_t>{n, 2}));
      EXPECT_TRUE(torch::isfinite(r.embedding).all().item<bool>());
      EXPECT_LE(r.perplexity, std::max(1.0, (n - 1) / 3.0));
    }
  }
  // Identical points do not break the tree or the search.
  const auto same = tsne(torch::ones({30, 4}), quiet(TsneMethod::kBarnesHut));
  EXPECT_TRUE(torch::isfinite(same.embedding).all().item<bool>());
}

TEST(Tsne, BadInputThrows) {
  EXPECT_THROW(tsne(torch::empty({0, 3}), {}), protoclr::Error);
  EXPECT_THROW(tsne(torch::ones({4}), {}), protoclr::Error);
  EXPECT_THROW(tsne(torch::ones({4, 3}, torch::kLong), {}), protoclr::Error);
  auto nan = torch::ones({4, 3});
  nan[1][1] = NAN;
  EXPECT_THROW(tsne(nan, {}), protoclr::Error);
  TsneOptions o;
  o.perplexity = 0;
  EXPECT_THROW(tsne(torch::randn({10, 3}), o), protoclr::Error);
}

TEST(Tsne, ConditionalProbabilitiesMatchScikitLearn) {
  const int64_t n = tsne_reference::kRows, k = tsne_reference::kCols;
  auto d = torch::empty({n, k}, torch::kDouble);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < k; ++j) d[i][j] = tsne_reference::kSqDistances[i * k + j];
  const auto p = protoclr::eval::tsne_conditional_probabilities(d, tsne_reference::kPerplexity);
  const auto pa = p.accessor<double, 2>();
  for (int64_t i = 0; i < n; ++i) {
    double entropy = 0;
    for (int64_t j = 0; j < k; ++j) {
      EXPECT_NEAR(pa[i][j], tsne_reference::kConditionalP[i * k + j], 2e-5) << i << "," << j;
      if (pa[i][j] > 0) entropy -= pa[i][j] * std::log(pa[i][j]);
    }
    EXPECT_NEAR(std::exp(entropy), tsne_reference::kPerplexity, 1e-3);
  }
}

TEST(Tsne, BlobsPictureShowsEveryCluster) {
  const int64_t clusters = 6, per = 80, dim = 50;
  torch::manual_seed(3);
  const auto centres = torch::randn({clusters, dim}) * 3.0;
  const auto labels = torch::arange(clusters * per, torch::kLong) % clusters;
  const auto x = centres.index({labels}) + torch::randn({clusters * per, dim});
  protoclr::eval::TsneOptions t;
  t.show_progress = false;
  const auto r = protoclr::eval::tsne(x, t);
  protoclr::plot::ScatterOptions o;
  o.title = "t-SNE of 6 Gaussian blobs (480 points, KL " + std::to_string(r.kl).substr(0, 5) + ")";
  const cv::Mat img = protoclr::plot::scatter_plot(
      r.embedding, labels, {"airplane", "automobile", "bird", "cat", "a rather long class name for a legend"}, o);
  // Every cluster's colour is on the picture (the plot test checks the pixels in detail).
  for (int c = 0; c < clusters; ++c) {
    const cv::Vec3b colour = protoclr::plot::category_color(c);
    int pixels = 0;
    for (int y = 0; y < img.rows; ++y)
      for (int x = 0; x < img.cols; ++x) pixels += img.at<cv::Vec3b>(y, x) == colour;
    EXPECT_GT(pixels, 100) << c;
  }
}
