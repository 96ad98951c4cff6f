// Initialisation against PyTorch, for every architecture protoclr offers: a fresh encoder
// draws every tensor from the distribution the published code draws it from
// (tests/model/make_init_reference.py: torchvision's ResNet, the CIFAR stem put in after
// construction as MoCo's CIFAR demo does, MoCo v2's MLP head). Mean and standard deviation
// per tensor, and the shape of the distribution per layer kind (kurtosis and a
// Kolmogorov-Smirnov distance against PyTorch's pooled draws): an encoder that starts at
// another scale learns at another effective rate, and one drawn uniform where PyTorch draws
// normal (or truncated, or per channel) starts elsewhere with the same mean and std
// (issue 25, docs/BENCHMARKS.md "Fidelity").
#include <algorithm>
#include <cmath>
#include <iterator>
#include <map>
#include <sstream>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "protoclr/model/head.h"
#include "support/python.h"

namespace protoclr::model {
namespace {

/// A kind pools the first this many values of each tensor (make_init_reference.py's TENSOR_CAP).
constexpr int64_t kTensorCap = int64_t{1} << 14;

/// Every floating-point parameter and buffer of `encoder` by its torchvision key.
std::map<std::string, torch::Tensor> state_of(const ResNet& encoder) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& item : encoder->named_parameters()) out[item.key()] = item.value().detach();
  for (const auto& item : encoder->named_buffers())
    if (item.value().is_floating_point()) out[item.key()] = item.value();
  return out;
}

/// The values of `t` less their mean, over their standard deviation; undefined for a constant.
torch::Tensor standardised(const torch::Tensor& t) {
  const auto v = t.detach().to(torch::kDouble).flatten();
  const double sd = v.std().item<double>();
  return sd > 0 ? (v - v.mean()) / sd : torch::Tensor();
}

double excess_kurtosis(const torch::Tensor& z) {
  const auto c = z - z.mean();
  const double var = c.pow(2).mean().item<double>();
  return c.pow(4).mean().item<double>() / (var * var) - 3.0;
}

/// Largest distance between the empirical CDF of `z` and the reference's, known by its
/// quantiles at levels 0.005, 0.010, ..., 0.995 (linear between them, flat beyond).
double ks_distance(torch::Tensor z, const std::vector<double>& quantiles) {
  z = std::get<0>(z.sort());
  const auto* v = z.data_ptr<double>();
  const int64_t n = z.numel();
  const auto reference_cdf = [&](double x) {
    const size_t m = quantiles.size();
    if (x <= quantiles.front()) return 0.005;
    if (x >= quantiles.back()) return 0.995;
    const size_t hi = std::upper_bound(quantiles.begin(), quantiles.end(), x) - quantiles.begin();
    const double lo_x = quantiles[hi - 1], hi_x = quantiles[hi];
    const double frac = hi_x > lo_x ? (x - lo_x) / (hi_x - lo_x) : 0.0;
    return (static_cast<double>(hi) + frac) / static_cast<double>(m + 1);
  };
  double d = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double f = reference_cdf(v[i]);
    d = std::max({d, std::abs(static_cast<double>(i + 1) / n - f), std::abs(static_cast<double>(i) / n - f)});
  }
  return d;
}

TEST(InitEquivalence, EveryTensorIsDrawnFromTorchvisionsDistribution) {
  REQUIRE_TORCH();
  std::string out;
  ASSERT_EQ(test_support::run_python(test_support::source_path("tests/model/make_init_reference.py"), "", &out), 0)
      << out;
  std::istringstream lines(out);
  std::string line;
  int cases = 0;
  while (std::getline(lines, line)) {
    const auto ref = nlohmann::json::parse(line);
    const EncoderOptions options{ref["arch"], ref["cifar_stem"], 128, ref["mlp"]};
    const std::string which = ref["arch"].get<std::string>() + (ref["cifar_stem"].get<bool>() ? ", CIFAR stem" : "") +
                              (ref["mlp"].get<bool>() ? ", MLP head" : "");
    const auto& kind_of = ref["kind_of"];

    // Mean and std of every tensor of one draw.
    torch::manual_seed(1);
    auto encoder = make_encoder(options);
    auto mine = state_of(encoder);
    const auto& params = ref["params"];
    ASSERT_EQ(mine.size(), params.size()) << which;
    for (const auto& [key, stats] : params.items()) {
      ASSERT_TRUE(mine.count(key)) << key;
      const auto w = mine[key].to(torch::kDouble);
      ASSERT_EQ(w.numel(), stats[2].get<int64_t>()) << key;
      const double mean = stats[0], std = stats[1];
      // The standard error of a sample std over n values is about std / sqrt(2n); 5 of them.
      const double slack = 5.0 / std::sqrt(2.0 * static_cast<double>(w.numel()));
      const double my_std = w.numel() > 1 ? w.std().item<double>() : 0.0;
      EXPECT_NEAR(my_std, std, std * slack + 1e-7) << key << " (" << which << ")";
      EXPECT_NEAR(w.mean().item<double>(), mean, std * slack * 2 + 1e-7) << key << " (" << which << ")";
    }

    // The shape of each kind's distribution, pooled over as many draws as the reference's.
    std::map<std::string, std::vector<torch::Tensor>> pooled;
    const int draws = ref["draws"];
    for (int draw = 0; draw < draws; ++draw) {
      torch::manual_seed(100 + draw);
      for (const auto& [key, value] : state_of(make_encoder(options))) {
        if (!kind_of.contains(key)) continue;  // buffers: constants, checked above
        const auto z = standardised(value);
        auto& parts = pooled[kind_of[key].get<std::string>()];
        if (z.defined()) parts.push_back(z.slice(0, 0, kTensorCap));
      }
    }
    for (auto it = pooled.begin(); it != pooled.end();)  // kinds of constants only (BN) pool nothing
      it = it->second.empty() ? pooled.erase(it) : std::next(it);
    ASSERT_EQ(pooled.size(), ref["kinds"].size()) << which;
    for (const auto& [kind, parts] : pooled) {
      ASSERT_TRUE(ref["kinds"].contains(kind)) << kind << " (" << which << ")";
      const auto& r = ref["kinds"][kind];
      const auto z = torch::cat(parts);
      const double n = static_cast<double>(z.numel()), n_ref = r["n"];
      // Sample excess kurtosis has a standard error of about sqrt(24 / n) for a normal
      // distribution (less for a uniform one): 4 of them apart, or the shape differs. A
      // uniform draw is -1.2, a normal one 0.
      EXPECT_NEAR(excess_kurtosis(z), r["kurtosis"].get<double>(), 4 * std::sqrt(24 / n + 24 / n_ref) + 0.02)
          << kind << " (" << which << ")";
      // Two-sample KS at alpha 0.001 (c = 1.95), plus the quantile grid's resolution.
      const double critical = 1.95 * std::sqrt(1 / n + 1 / n_ref) + 0.006;
      EXPECT_LT(ks_distance(z, r["quantiles"].get<std::vector<double>>()), critical) << kind << " (" << which << ")";
    }
    ++cases;
  }
  EXPECT_EQ(cases, 5);
}

}  // namespace
}  // namespace protoclr::model
