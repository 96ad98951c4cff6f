#include "protoclr/cluster/concentration.h"

#include <algorithm>
#include <cmath>
#include <tuple>

#include "protoclr/core/error.h"
#include "protoclr/core/log.h"

namespace protoclr::cluster {
namespace {

/// numpy's linear percentile of already sorted values [n] (float64, any device): numpy's
/// _lerp, including its t >= 0.5 form, so results agree to the last bit where numpy's do.
double percentile_sorted(const torch::Tensor& sorted, double q) {
  const int64_t n = sorted.size(0);
  TORCH_INTERNAL_ASSERT(n > 0 && sorted.scalar_type() == torch::kDouble);
  const double rank = (static_cast<double>(n) - 1.0) * q / 100.0;
  const auto below = static_cast<int64_t>(std::floor(rank));
  const int64_t above = std::min(below + 1, n - 1);
  const double t = rank - static_cast<double>(below);
  const double a = sorted[below].item<double>();
  const double b = sorted[above].item<double>();
  const double diff = b - a;
  return t >= 0.5 ? b - diff * (1.0 - t) : a + diff * t;
}

}  // namespace

double percentile(std::vector<double> values, double q) {
  PROTOCLR_CHECK(!values.empty(), "percentile of an empty array");
  PROTOCLR_CHECK(q >= 0 && q <= 100, "percentile q=", q, " must be in [0, 100]");
  return percentile_sorted(std::get<0>(torch::tensor(values, torch::kDouble).sort()), q);
}

ClusterSpread cluster_spread(const torch::Tensor& sq_distances, const torch::Tensor& assignments, int64_t k) {
  PROTOCLR_CHECK(k >= 1, "concentration: K=", k, " must be at least 1");
  PROTOCLR_CHECK(sq_distances.defined() && assignments.defined() && sq_distances.dim() == 1 &&
                     assignments.dim() == 1 && sq_distances.size(0) == assignments.size(0),
                 "concentration: sq_distances and assignments must both be [N]");
  torch::NoGradGuard no_grad;
  // A float64 copy, so the in-place ops never touch the caller's tensor.
  const torch::Tensor dist = sq_distances.detach().to(torch::kDouble, /*non_blocking=*/false, /*copy=*/true).clamp_min_(0).sqrt_();
  const torch::Tensor assign = assignments.detach().to(dist.device(), torch::kLong);
  if (assign.numel() > 0) {
    const auto [lowest, highest] = torch::aminmax(assign);
    if (lowest.item<int64_t>() < 0 || highest.item<int64_t>() >= k) {
      const int64_t i = ((assign < 0) | (assign >= k)).nonzero()[0][0].item<int64_t>();
      throw Error(detail::concat("concentration: assignment ", assign[i].item<int64_t>(), " of point ", i,
                                 " is outside [0, ", k, ")"));
    }
  }
  ClusterSpread spread;
  spread.distance_sum = torch::zeros({k}, dist.options()).index_add_(0, assign, dist);
  spread.count = torch::bincount(assign, /*weights=*/{}, /*minlength=*/k).to(torch::kDouble);
  return spread;
}

torch::Tensor concentration(const torch::Tensor& sq_distances, const torch::Tensor& assignments,
                            int64_t k, const ConcentrationOptions& options) {
  return concentration(cluster_spread(sq_distances, assignments, k), options);
}

torch::Tensor concentration(const ClusterSpread& spread, const ConcentrationOptions& options) {
  PROTOCLR_CHECK(spread.distance_sum.defined() && spread.count.defined() && spread.distance_sum.dim() == 1 &&
                     spread.distance_sum.sizes() == spread.count.sizes() && spread.count.size(0) >= 1,
                 "concentration: distance sums and counts must both be [K], K >= 1");
  PROTOCLR_CHECK(options.alpha > 0, "concentration: alpha=", options.alpha, " must be > 0");
  PROTOCLR_CHECK(options.temperature > 0, "concentration: temperature=", options.temperature,
                 " must be > 0");
  PROTOCLR_CHECK(options.clamp_low_percentile >= 0 &&
                     options.clamp_low_percentile <= options.clamp_high_percentile &&
                     options.clamp_high_percentile <= 100,
                 "concentration: clamp percentiles [", options.clamp_low_percentile, ", ",
                 options.clamp_high_percentile, "] must satisfy 0 <= low <= high <= 100");
  torch::NoGradGuard no_grad;
  const int64_t k = spread.count.size(0);
  const torch::Tensor sum = spread.distance_sum.to(torch::kDouble);
  const torch::Tensor count = spread.count.to(torch::kDouble);

  // eq. (12); clusters with fewer than 2 members take the largest phi.
  const torch::Tensor has_spread = count > 1;
  torch::Tensor phi = torch::where(has_spread, sum / count / (count + options.alpha).log(), torch::zeros_like(sum));
  double top = phi.max().item<double>();
  if (top <= 0.0) top = 1.0;  // no cluster with spread: all equal, avoid 0/0 below
  phi.masked_fill_(has_spread.logical_not(), top);

  // Clamp extreme values for stability, then scale the mean to the temperature.
  const torch::Tensor sorted = std::get<0>(phi.sort());
  const double low = percentile_sorted(sorted, options.clamp_low_percentile);
  const double high = percentile_sorted(sorted, options.clamp_high_percentile);
  phi = phi.clamp(low, high);
  if (low <= 0.0) {
    // Only when over clamp_low_percentile% of the clusters have zero spread (identical points).
    const torch::Tensor positive = sorted.masked_select(sorted > 0);  // ascending
    double smallest_positive = positive.numel() > 0 ? std::min(positive[0].item<double>(), high) : 0.0;
    if (smallest_positive <= 0.0) smallest_positive = 1.0;
    const torch::Tensor zero = phi <= 0;
    const int64_t raised = zero.sum().item<int64_t>();
    phi.masked_fill_(zero, smallest_positive);
    if (raised > 0) {
      log::warn("concentration: ", raised, " of ", k,
                " clusters have zero spread; their phi is raised to the smallest positive value");
    }
  }
  const double scale = options.temperature * static_cast<double>(k) / phi.sum().item<double>();
  return (phi * scale).to(torch::kFloat);
}

}  // namespace protoclr::cluster
