#pragma once
/// Concentration (per-prototype temperature) phi of the PCL E-step, eq. (12).
#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace protoclr::cluster {

/// How phi is estimated and normalised (the reference's constants).
struct ConcentrationOptions {
  double alpha = 10.0;                 ///< smoothing alpha in log(Z + alpha), eq. (12)
  double temperature = 0.2;            ///< mean(phi) after scaling (the instance tau)
  double clamp_low_percentile = 10;    ///< phi is clipped below at this percentile
  double clamp_high_percentile = 90;   ///< and above at this one
};

/// phi per cluster, the paper's eq. (12) as the reference computes it:
/// phi_c = mean_z ||v_z - c||_2 / log(Z_c + alpha); clusters with < 2 members take the max
/// phi (1 when that max is 0); clamp to the [10th, 90th] percentile (numpy's linear
/// interpolation); scale so mean(phi) = temperature.
/// sq_distances: [N] squared L2 distance of each point to its centroid (negative rounding
/// noise is read as 0); assignments: [N] int64 in [0, k), moved to sq_distances' device.
/// Returns [K] float32 on the device of sq_distances (CPU or CUDA): tensor operations,
/// O(N + K log K), accumulated in float64, with a handful of scalar reads. Degenerate case
/// not in the reference: if phi would still contain zeros after clamping (more than 10% of
/// the clusters with zero spread), those are raised to the smallest positive phi instead of
/// giving infinite logits.
torch::Tensor concentration(const torch::Tensor& sq_distances, const torch::Tensor& assignments,
                            int64_t k, const ConcentrationOptions& options);

/// The statistics eq. (12) needs per cluster, which add over shards of the points: the sum
/// of L2 distances ||v_z - c||_2 and the member count Z, both [K] float64.
struct ClusterSpread {
  torch::Tensor distance_sum;
  torch::Tensor count;
};

/// ClusterSpread of points with `sq_distances` [N] to their centroids `assignments` [N]
/// (int64 in [0, k)), on sq_distances' device; checks as concentration() does.
ClusterSpread cluster_spread(const torch::Tensor& sq_distances, const torch::Tensor& assignments, int64_t k);

/// phi from the (possibly all-reduced) spread: the rest of concentration() above.
torch::Tensor concentration(const ClusterSpread& spread, const ConcentrationOptions& options);

/// numpy.percentile(values, q) with the default linear interpolation: the sorted values at
/// fractional rank (n - 1) * q / 100. values: n >= 1 entries in any order; q in [0, 100].
double percentile(std::vector<double> values, double q);

}  // namespace protoclr::cluster
