#pragma once
/// Agreement between a clustering and the labels: adjusted mutual information (the paper's
/// clustering metric, Vinh et al. 2010), NMI, ARI and purity, with scikit-learn's
/// conventions (arithmetic mean of the entropies, natural log).
#include <cstdint>
#include <vector>

namespace protoclr::eval {

struct ClusterAgreement {
  double ami = 0;     ///< adjusted mutual information
  double nmi = 0;     ///< normalised mutual information
  double ari = 0;     ///< adjusted Rand index
  double purity = 0;  ///< fraction of samples in their cluster's majority class
};

/// labels and clusters: one non-negative id per sample (any values, need not be dense);
/// samples whose label is negative are left out.
ClusterAgreement cluster_agreement(const std::vector<int64_t>& labels, const std::vector<int64_t>& clusters);

}  // namespace protoclr::eval
