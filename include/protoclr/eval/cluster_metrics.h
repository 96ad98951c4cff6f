#pragma once
/// Agreement between a clustering and the labels: adjusted mutual information (the paper's
/// clustering metric, Vinh et al. 2010), NMI, ARI and purity, with scikit-learn's
/// conventions (arithmetic mean of the entropies, natural log).
#include <cstdint>
#include <vector>

#include <torch/torch.h>

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

/// The paper's clustering protocol (`eval cluster`, the quickstart's AMI).
struct ClusteringOptions {
  int64_t k = 0;      ///< clusters; 0 = the number of classes in the labels
  int redo = 3;       ///< k-means restarts (best objective kept)
  int iterations = 20;
  uint64_t seed = 0;
};

struct ClusteringEvaluation {
  int64_t k = 0;
  ClusterAgreement agreement;
  double objective = 0;      ///< final k-means objective (sum of squared distances)
  torch::Tensor assignments; ///< [N] int64
  double seconds = 0;
};

/// faiss k-means on features [N, D] (the L2-normalised embeddings, as the E-step clusters
/// them), then agreement of the clusters with labels [N] (negative = unlabeled, left out).
ClusteringEvaluation evaluate_clustering(const torch::Tensor& features, const torch::Tensor& labels,
                                         const ClusteringOptions& options);

}  // namespace protoclr::eval
