#include "protoclr/cluster/concentration.h"

#include <algorithm>
#include <cmath>

#include "protoclr/core/error.h"
#include "protoclr/core/log.h"

namespace protoclr::cluster {
namespace {

/// numpy's linear percentile of already sorted values (numpy's _lerp, including its
/// t >= 0.5 form, so results agree to the last bit where numpy's do).
double percentile_sorted(const std::vector<double>& sorted, double q) {
  TORCH_INTERNAL_ASSERT(!sorted.empty());
  const double rank = (static_cast<double>(sorted.size()) - 1.0) * q / 100.0;
  const auto below = static_cast<size_t>(std::floor(rank));
  const size_t above = std::min(below + 1, sorted.size() - 1);
  const double t = rank - static_cast<double>(below);
  const double a = sorted[below];
  const double b = sorted[above];
  const double diff = b - a;
  return t >= 0.5 ? b - diff * (1.0 - t) : a + diff * t;
}

}  // namespace

double percentile(std::vector<double> values, double q) {
  PROTOCLR_CHECK(!values.empty(), "percentile of an empty array");
  PROTOCLR_CHECK(q >= 0 && q <= 100, "percentile q=", q, " must be in [0, 100]");
  std::sort(values.begin(), values.end());
  return percentile_sorted(values, q);
}

torch::Tensor concentration(const torch::Tensor& sq_distances, const torch::Tensor& assignments,
                            int64_t k, const ConcentrationOptions& options) {
  PROTOCLR_CHECK(k >= 1, "concentration: K=", k, " must be at least 1");
  PROTOCLR_CHECK(sq_distances.defined() && assignments.defined() && sq_distances.dim() == 1 &&
                     assignments.dim() == 1 && sq_distances.size(0) == assignments.size(0),
                 "concentration: sq_distances and assignments must both be [N]");
  PROTOCLR_CHECK(options.alpha > 0, "concentration: alpha=", options.alpha, " must be > 0");
  PROTOCLR_CHECK(options.temperature > 0, "concentration: temperature=", options.temperature,
                 " must be > 0");
  PROTOCLR_CHECK(options.clamp_low_percentile >= 0 &&
                     options.clamp_low_percentile <= options.clamp_high_percentile &&
                     options.clamp_high_percentile <= 100,
                 "concentration: clamp percentiles [", options.clamp_low_percentile, ", ",
                 options.clamp_high_percentile, "] must satisfy 0 <= low <= high <= 100");
  const torch::Tensor dist = sq_distances.detach().to(torch::kCPU, torch::kFloat).contiguous();
  const torch::Tensor assign = assignments.detach().to(torch::kCPU, torch::kLong).contiguous();
  const int64_t n = dist.size(0);
  const float* d = dist.data_ptr<float>();
  const int64_t* a = assign.data_ptr<int64_t>();

  // One pass over the points: members and sum of L2 distances per cluster.
  std::vector<double> sum(k, 0.0);
  std::vector<int64_t> count(k, 0);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = a[i];
    PROTOCLR_CHECK(c >= 0 && c < k, "concentration: assignment ", c, " of point ", i,
                   " is outside [0, ", k, ")");
    sum[c] += std::sqrt(std::max(static_cast<double>(d[i]), 0.0));
    ++count[c];
  }

  // eq. (12); clusters with fewer than 2 members take the largest phi.
  std::vector<double> phi(k, 0.0);
  double top = 0.0;
  for (int64_t c = 0; c < k; ++c) {
    if (count[c] > 1) {
      phi[c] = sum[c] / static_cast<double>(count[c]) / std::log(static_cast<double>(count[c]) + options.alpha);
      top = std::max(top, phi[c]);
    }
  }
  if (top <= 0.0) top = 1.0;  // no cluster with spread: all equal, avoid 0/0 below
  for (int64_t c = 0; c < k; ++c) {
    if (count[c] < 2) phi[c] = top;
  }

  // Clamp extreme values for stability, then scale the mean to the temperature.
  std::vector<double> sorted = phi;
  std::sort(sorted.begin(), sorted.end());
  const double low = percentile_sorted(sorted, options.clamp_low_percentile);
  const double high = percentile_sorted(sorted, options.clamp_high_percentile);
  double total = 0.0;
  for (double& p : phi) {
    p = std::clamp(p, low, high);
    total += p;
  }
  if (low <= 0.0) {
    // Only when over clamp_low_percentile% of the clusters have zero spread (identical points).
    double smallest_positive = 0.0;
    for (double p : sorted) {
      if (p > 0.0) {
        smallest_positive = std::min(p, high);
        break;
      }
    }
    if (smallest_positive <= 0.0) smallest_positive = 1.0;
    int64_t raised = 0;
    total = 0.0;
    for (double& p : phi) {
      if (p <= 0.0) {
        p = smallest_positive;
        ++raised;
      }
      total += p;
    }
    if (raised > 0) {
      log::warn("concentration: ", raised, " of ", k,
                " clusters have zero spread; their phi is raised to the smallest positive value");
    }
  }
  const double scale = options.temperature * static_cast<double>(k) / total;
  torch::Tensor out = torch::empty({k}, torch::kFloat);
  float* o = out.data_ptr<float>();
  for (int64_t c = 0; c < k; ++c) o[c] = static_cast<float>(phi[c] * scale);
  return out;
}

}  // namespace protoclr::cluster
