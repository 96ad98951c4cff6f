#pragma once
/// t-SNE (van der Maaten & Hinton, JMLR 2008) with the Barnes-Hut gradient (van der Maaten,
/// JMLR 2014), following scikit-learn's TSNE step for step: perplexity-calibrated
/// conditional probabilities on the 3 * perplexity nearest neighbours (binary search per
/// row), symmetrised P = (P_j|i + P_i|j) / sum, early exaggeration 12 for 250 iterations
/// with momentum 0.5, then momentum 0.8; delta-bar-delta gains (+0.2 / x0.8, at least
/// 0.01); learning rate "auto" = max(N / early_exaggeration / 4, 50); Student-t kernel
/// (one degree of freedom); PCA initialisation scaled to standard deviation 1e-4.
/// `eval tsne` draws the result with eval/plot.h.
#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace protoclr::eval {

enum class TsneMethod {
  kAuto,       ///< exact for N <= TsneOptions::exact_max_points, else Barnes-Hut
  kExact,      ///< O(N^2) per iteration, dense P on all pairs (torch, float64)
  kBarnesHut,  ///< O(N log N) per iteration, sparse P on the 3 * perplexity nearest neighbours
};

enum class TsneInit {
  kPca,     ///< first two principal components, scaled to std 1e-4 (scikit-learn's default)
  kRandom,  ///< N(0, 1e-4^2) from `seed` (van der Maaten's reference code)
};

struct TsneOptions {
  double perplexity = 30.0;           ///< effective number of neighbours; clamped to (N - 1) / 3 with a warning
  double early_exaggeration = 12.0;   ///< P is multiplied by this during the first phase
  int64_t exaggeration_iterations = 250;  ///< length of the first phase (momentum 0.5)
  int64_t iterations = 1000;          ///< total gradient steps, both phases
  double learning_rate = 0.0;         ///< 0 = "auto": max(N / early_exaggeration / 4, 50)
  double theta = 0.5;                 ///< Barnes-Hut angle: a cell of width w at distance r is summarised when w / r < theta
  TsneMethod method = TsneMethod::kAuto;  ///< exact or Barnes-Hut gradient
  int64_t exact_max_points = 500;     ///< kAuto uses the exact gradient up to this many points (Barnes-Hut is faster beyond ~300)
  TsneInit init = TsneInit::kPca;     ///< initial embedding
  int64_t pca_dims = 50;              ///< reduce the input to this many principal components first when D is larger (0 = never), as van der Maaten's bhtsne does
  int64_t check_every = 50;           ///< KL divergence and stopping tests every this many iterations
  int64_t iterations_without_progress = 300;  ///< stop (second phase) when the KL has not improved for this long
  double min_grad_norm = 1e-7;        ///< stop when the gradient norm falls below this
  uint64_t seed = 0;                  ///< random initialisation (kRandom); everything else is deterministic
  bool show_progress = true;          ///< log::progress line every `check_every` iterations
};

/// One convergence check of the optimisation.
struct TsneCheck {
  int64_t iteration = 0;     ///< 1-based iteration count at the check
  double kl = 0;             ///< KL(P || Q); with the exaggerated P during the first phase
  double grad_norm = 0;      ///< norm of the gain-scaled gradient
  bool exaggerated = false;  ///< true during early exaggeration
};

struct TsneResult {
  torch::Tensor embedding;      ///< [N, 2] float32
  double kl = 0;                ///< final KL(P || Q) (un-exaggerated), as scikit-learn's kl_divergence_
  double seconds = 0;           ///< wall time, affinities included
  int64_t iterations = 0;       ///< gradient steps taken (fewer than requested when it converged)
  double perplexity = 0;        ///< perplexity used (after clamping)
  double learning_rate = 0;     ///< learning rate used (after "auto")
  bool barnes_hut = false;      ///< which gradient was used
  std::vector<TsneCheck> history;  ///< every check, in order
};

/// x: [N, D] float (any floating dtype; NaN/Inf refused) -> 2-D embedding minimising
/// KL(P || Q) = sum_ij p_ij log(p_ij / q_ij), q_ij = (1 + |y_i - y_j|^2)^-1 / Z
/// (JMLR 2008 eq. 4); gradient dC/dy_i = 4 sum_j (p_ij - q_ij)(y_i - y_j)(1 + |y_i - y_j|^2)^-1
/// (eq. 5). N = 1 gives [[0, 0]]. Uses torch's intra-op threads (torch::set_num_threads);
/// the result does not depend on the thread count.
TsneResult tsne(const torch::Tensor& x, const TsneOptions& options = {});

/// Perplexity-calibrated conditional probabilities (JMLR 2008 eq. 1): for each row of
/// `sq_distances` [N, K] (squared distances to K neighbours, float64), finds beta_i by
/// binary search so that the entropy of p_j|i = exp(-beta_i d_ij) / sum equals
/// log(perplexity) (natural log, tolerance 1e-5, at most 100 steps). Returns [N, K] float64,
/// rows summing to 1. Exposed for tests; scikit-learn's _binary_search_perplexity.
torch::Tensor tsne_conditional_probabilities(const torch::Tensor& sq_distances, double perplexity);

}  // namespace protoclr::eval
