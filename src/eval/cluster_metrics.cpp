#include "protoclr/eval/cluster_metrics.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "protoclr/cluster/kmeans.h"
#include "protoclr/core/error.h"

namespace protoclr::eval {
namespace {

std::vector<int64_t> to_vector(const torch::Tensor& t) {
  const auto c = t.to(torch::kCPU, torch::kLong).contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

struct Contingency {
  std::vector<std::vector<int64_t>> table;  // [classes][clusters]
  std::vector<int64_t> rows, cols;          // marginals a_i, b_j
  int64_t n = 0;
};

Contingency contingency(const std::vector<int64_t>& labels, const std::vector<int64_t>& clusters) {
  std::map<int64_t, size_t> label_ids, cluster_ids;
  std::vector<std::pair<size_t, size_t>> pairs;
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0) continue;
    const size_t l = label_ids.emplace(labels[i], label_ids.size()).first->second;
    const size_t c = cluster_ids.emplace(clusters[i], cluster_ids.size()).first->second;
    pairs.emplace_back(l, c);
  }
  Contingency t;
  t.table.assign(label_ids.size(), std::vector<int64_t>(cluster_ids.size(), 0));
  t.rows.assign(label_ids.size(), 0);
  t.cols.assign(cluster_ids.size(), 0);
  for (auto [l, c] : pairs) {
    ++t.table[l][c];
    ++t.rows[l];
    ++t.cols[c];
  }
  t.n = static_cast<int64_t>(pairs.size());
  return t;
}

double entropy(const std::vector<int64_t>& counts, int64_t n) {
  double h = 0;
  for (int64_t c : counts)
    if (c > 0) h -= (double(c) / n) * std::log(double(c) / n);
  return h;
}

double mutual_information(const Contingency& t) {
  double mi = 0;
  const double n = double(t.n);
  for (size_t i = 0; i < t.rows.size(); ++i)
    for (size_t j = 0; j < t.cols.size(); ++j) {
      const double nij = double(t.table[i][j]);
      if (nij > 0) mi += (nij / n) * std::log(n * nij / (double(t.rows[i]) * double(t.cols[j])));
    }
  return std::max(mi, 0.0);
}

/// Expected mutual information under the hypergeometric model of random labelings
/// (Vinh, Epps, Bailey 2010, eq. 24a), with log-gamma for the factorials.
double expected_mutual_information(const Contingency& t) {
  const double n = double(t.n);
  const double lg_n1 = std::lgamma(n + 1);
  double emi = 0;
  for (int64_t a : t.rows)
    for (int64_t b : t.cols) {
      const int64_t lo = std::max<int64_t>(1, a + b - t.n);
      const int64_t hi = std::min(a, b);
      const double fixed = std::lgamma(a + 1.0) + std::lgamma(b + 1.0) + std::lgamma(n - a + 1) +
                           std::lgamma(n - b + 1) - lg_n1;
      for (int64_t nij = lo; nij <= hi; ++nij) {
        const double log_p = fixed - std::lgamma(nij + 1.0) - std::lgamma(double(a - nij) + 1) -
                             std::lgamma(double(b - nij) + 1) - std::lgamma(n - a - b + nij + 1);
        emi += (nij / n) * std::log(n * nij / (double(a) * double(b))) * std::exp(log_p);
      }
    }
  return emi;
}

double adjusted_rand_index(const Contingency& t) {
  auto comb2 = [](double x) { return x * (x - 1) / 2; };
  double sum_ij = 0, sum_a = 0, sum_b = 0;
  for (const auto& row : t.table)
    for (int64_t v : row) sum_ij += comb2(double(v));
  for (int64_t a : t.rows) sum_a += comb2(double(a));
  for (int64_t b : t.cols) sum_b += comb2(double(b));
  const double expected = sum_a * sum_b / comb2(double(t.n));
  const double max_index = (sum_a + sum_b) / 2;
  if (max_index == expected) return 1.0;  // both trivial partitions (sklearn's convention)
  return (sum_ij - expected) / (max_index - expected);
}

}  // namespace

ClusterAgreement cluster_agreement(const std::vector<int64_t>& labels, const std::vector<int64_t>& clusters) {
  PROTOCLR_CHECK(labels.size() == clusters.size(), "cluster_agreement: ", labels.size(), " labels but ",
                 clusters.size(), " cluster ids");
  const Contingency t = contingency(labels, clusters);
  PROTOCLR_CHECK(t.n > 0, "cluster_agreement needs labelled samples");
  ClusterAgreement r;
  int64_t majority = 0;
  for (size_t j = 0; j < t.cols.size(); ++j) {
    int64_t best = 0;
    for (size_t i = 0; i < t.rows.size(); ++i) best = std::max(best, t.table[i][j]);
    majority += best;
  }
  r.purity = double(majority) / t.n;
  r.ari = adjusted_rand_index(t);
  // sklearn: identical trivial labelings (one class and one cluster, or none) score 1.
  if (t.rows.size() == t.cols.size() && t.rows.size() <= 1) {
    r.ami = r.nmi = 1.0;
    return r;
  }
  const double mi = mutual_information(t);
  const double h_labels = entropy(t.rows, t.n), h_clusters = entropy(t.cols, t.n);
  const double mean_h = (h_labels + h_clusters) / 2;
  r.nmi = mean_h > 0 ? mi / mean_h : 1.0;
  const double emi = expected_mutual_information(t);
  double denominator = mean_h - emi;
  const double eps = std::numeric_limits<double>::epsilon();
  denominator = denominator < 0 ? std::min(denominator, -eps) : std::max(denominator, eps);
  r.ami = (mi - emi) / denominator;
  return r;
}

ClusteringEvaluation evaluate_clustering(const torch::Tensor& features, const torch::Tensor& labels,
                                         const ClusteringOptions& options) {
  PROTOCLR_CHECK(features.dim() == 2 && labels.dim() == 1 && features.size(0) == labels.size(0),
                 "clustering: features must be [N, D] with one label per row");
  const auto start = std::chrono::steady_clock::now();
  const auto label_vec = to_vector(labels);
  int64_t k = options.k;
  if (k <= 0) {
    std::set<int64_t> classes;
    for (int64_t l : label_vec)
      if (l >= 0) classes.insert(l);
    PROTOCLR_CHECK(!classes.empty(), "clustering: unlabeled data needs --k");
    k = static_cast<int64_t>(classes.size());
  }
  cluster::KMeansOptions kopt;
  kopt.k = k;
  kopt.redo = options.redo;
  kopt.iterations = options.iterations;
  kopt.seed = options.seed;
  const auto km = cluster::kmeans_train(features, kopt);
  ClusteringEvaluation out;
  out.k = k;
  out.assignments = km.assignments;
  out.objective = km.objective.empty() ? 0.0 : km.objective.back();
  out.agreement = cluster_agreement(label_vec, to_vector(km.assignments));
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

}  // namespace protoclr::eval
