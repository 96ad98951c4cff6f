// t-SNE after scikit-learn's sklearn/manifold/_t_sne.py, _utils.pyx (binary search),
// _barnes_hut_tsne.pyx and _quad_tree.pyx; the quadtree and the exact gradient are written
// anew. Per-point work runs under at::parallel_for; every reduction over points is summed
// serially in point order, so the result does not depend on the thread count.
#include "protoclr/eval/tsne.h"

#include <faiss/IndexFlat.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <string>

#include "protoclr/core/error.h"
#include "protoclr/core/log.h"
#include "protoclr/core/progress.h"
#include "protoclr/core/rng.h"

namespace protoclr::eval {
namespace {

using Clock = std::chrono::steady_clock;
constexpr double kMachineEpsilon = std::numeric_limits<double>::epsilon();
constexpr double kFloat32Tiny = 1.17549435e-38;  // np.finfo(np.float32).tiny, as scikit-learn
constexpr double kPerplexityTolerance = 1e-5;
constexpr int kBinarySearchSteps = 100;

/// Top-k principal directions of the centred rows xc [N, D] (float64): [D, k], columns
/// by decreasing variance, each signed so that its largest-magnitude entry is positive.
torch::Tensor principal_directions(const torch::Tensor& xc, int64_t k) {
  const int64_t n = xc.size(0), d = xc.size(1);
  torch::Tensor dirs;
  if (d <= n) {
    auto [values, vectors] = torch::linalg_eigh(xc.t().mm(xc));  // ascending
    dirs = vectors.flip({1}).slice(1, 0, k);
  } else {  // Gram trick: eigenvectors of X X^T map to those of X^T X
    auto [values, vectors] = torch::linalg_eigh(xc.mm(xc.t()));
    const auto top = vectors.flip({1}).slice(1, 0, k);
    dirs = xc.t().mm(top);
    dirs = dirs / dirs.norm(2, /*dim=*/{0}, /*keepdim=*/true).clamp_min(1e-300);
  }
  const auto pivot = dirs.abs().argmax(/*dim=*/0);
  const auto signs = dirs.gather(0, pivot.unsqueeze(0)).sign();
  return dirs * torch::where(signs == 0, torch::ones_like(signs), signs);
}

/// Rows of x projected on their first k principal components: [N, k].
torch::Tensor pca_project(const torch::Tensor& x, int64_t k) {
  const auto xc = x - x.mean(/*dim=*/{0}, /*keepdim=*/true);
  return xc.mm(principal_directions(xc, k));
}

/// Squared Euclidean distances to the k nearest other rows (faiss exact search):
/// distances [N, k] float64 and indices [N, k] int64.
std::pair<torch::Tensor, torch::Tensor> nearest_neighbours(const torch::Tensor& x, int64_t k) {
  const int64_t n = x.size(0), d = x.size(1);
  const auto xf = x.to(torch::kFloat).contiguous();
  static_assert(sizeof(faiss::Index::idx_t) == sizeof(int64_t), "faiss::Index::idx_t must be 64-bit");
  auto index = std::make_unique<faiss::IndexFlatL2>(d);
  index->add(n, xf.data_ptr<float>());
  const int64_t k1 = std::min(k + 1, n);
  auto dist = torch::empty({n, k1}, torch::kFloat);
  auto idx = torch::empty({n, k1}, torch::kLong);
  index->search(n, xf.data_ptr<float>(), k1, dist.data_ptr<float>(),
                reinterpret_cast<faiss::Index::idx_t*>(idx.data_ptr<int64_t>()));
  // Drop the query itself (not always first when there are duplicates; the last otherwise).
  auto out_d = torch::empty({n, k}, torch::kDouble);
  auto out_i = torch::empty({n, k}, torch::kLong);
  const auto dacc = dist.accessor<float, 2>();
  const auto iacc = idx.accessor<int64_t, 2>();
  auto od = out_d.accessor<double, 2>();
  auto oi = out_i.accessor<int64_t, 2>();
  for (int64_t i = 0; i < n; ++i) {
    int64_t skip = k1 - 1;
    for (int64_t c = 0; c < k1; ++c)
      if (iacc[i][c] == i) {
        skip = c;
        break;
      }
    int64_t o = 0;
    for (int64_t c = 0; c < k1 && o < k; ++c) {
      if (c == skip) continue;
      TORCH_INTERNAL_ASSERT(iacc[i][c] >= 0, "faiss returned too few neighbours");
      od[i][o] = std::max<double>(dacc[i][c], 0.0);
      oi[i][o] = iacc[i][c];
      ++o;
    }
  }
  return {out_d, out_i};
}

/// Symmetric P in compressed sparse rows (float64), summing to 1.
struct SparseP {
  std::vector<int64_t> row_begin;  // N + 1
  std::vector<int64_t> cols;
  std::vector<double> vals;
};

SparseP symmetrise(const torch::Tensor& cond, const torch::Tensor& neighbours) {
  const int64_t n = cond.size(0), k = cond.size(1);
  const auto p = cond.accessor<double, 2>();
  const auto nb = neighbours.accessor<int64_t, 2>();
  // P + P^T: every (i, j, p_j|i) also lands at (j, i); duplicates are merged by the sort.
  std::vector<int64_t> count(n + 1, 0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < k; ++c) {
      ++count[i + 1];
      ++count[nb[i][c] + 1];
    }
  for (int64_t i = 0; i < n; ++i) count[i + 1] += count[i];
  std::vector<int64_t> fill(count.begin(), count.end() - 1);
  std::vector<std::pair<int64_t, double>> entries(count[n]);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < k; ++c) {
      const int64_t j = nb[i][c];
      entries[fill[i]++] = {j, p[i][c]};
      entries[fill[j]++] = {i, p[i][c]};
    }
  SparseP out;
  out.row_begin.assign(n + 1, 0);
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    auto begin = entries.begin() + count[i], end = entries.begin() + count[i + 1];
    std::sort(begin, end, [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto it = begin; it != end; ++it) {
      if (!out.cols.empty() && static_cast<int64_t>(out.cols.size()) > out.row_begin[i] &&
          out.cols.back() == it->first) {
        out.vals.back() += it->second;
      } else {
        out.cols.push_back(it->first);
        out.vals.push_back(it->second);
      }
      total += it->second;
    }
    out.row_begin[i + 1] = static_cast<int64_t>(out.cols.size());
  }
  total = std::max(total, kMachineEpsilon);
  for (auto& v : out.vals) v /= total;
  return out;
}

// ---------------------------------------------------------------------------------------
// Barnes-Hut: a point-region quadtree over the embedding, rebuilt every iteration.

class QuadTree {
 public:
  struct Node {
    double cx = 0, cy = 0;  // cell centre
    double width = 0;       // side length
    double sx = 0, sy = 0;  // sum of the positions inside (barycentre once finalised)
    int64_t count = 0;
    std::array<int32_t, 4> child{-1, -1, -1, -1};
    bool leaf = true;
  };

  void build(const double* y, int64_t n) {
    nodes_.clear();
    double x0 = y[0], x1 = y[0], y0 = y[1], y1 = y[1];
    for (int64_t i = 1; i < n; ++i) {
      x0 = std::min(x0, y[2 * i]);
      x1 = std::max(x1, y[2 * i]);
      y0 = std::min(y0, y[2 * i + 1]);
      y1 = std::max(y1, y[2 * i + 1]);
    }
    Node root;
    root.cx = 0.5 * (x0 + x1);
    root.cy = 0.5 * (y0 + y1);
    root.width = std::max(x1 - x0, y1 - y0) * (1 + 1e-3) + 1e-300;
    duplicate_eps_ = root.width * 1e-12;
    nodes_.push_back(root);
    for (int64_t i = 0; i < n; ++i) insert(y[2 * i], y[2 * i + 1]);
    for (auto& nd : nodes_)
      if (nd.count > 0) {
        nd.sx /= nd.count;
        nd.sy /= nd.count;
      }
  }

  /// Repulsion on the point (x, y): adds sum_cells size * q^2 * (y - y_cell) to (fx, fy) and
  /// returns sum_cells size * q with q = 1 / (1 + |y - y_cell|^2), the point itself excluded.
  double repulsion(double x, double y, double theta2, double* fx, double* fy, std::vector<int32_t>* stack) const {
    double sum_q = 0, ax = 0, ay = 0;
    stack->clear();
    stack->push_back(0);
    while (!stack->empty()) {
      const Node& nd = nodes_[stack->back()];
      stack->pop_back();
      if (nd.count == 0) continue;
      const double dx = x - nd.sx, dy = y - nd.sy;
      const double d2 = dx * dx + dy * dy;
      if (nd.leaf) {
        if (std::abs(dx) <= duplicate_eps_ && std::abs(dy) <= duplicate_eps_) continue;  // self
      } else if (nd.width * nd.width >= theta2 * d2) {
        for (int32_t c : nd.child)
          if (c >= 0) stack->push_back(c);
        continue;
      }
      const double q = 1.0 / (1.0 + d2);
      sum_q += nd.count * q;
      const double m = nd.count * q * q;
      ax += m * dx;
      ay += m * dy;
    }
    *fx = ax;
    *fy = ay;
    return sum_q;
  }

  size_t size() const { return nodes_.size(); }

 private:
  static constexpr int kMaxDepth = 50;

  void insert(double x, double y) {
    int32_t n = 0;
    for (int depth = 0;; ++depth) {
      if (nodes_[n].leaf) {
        Node& nd = nodes_[n];
        if (nd.count == 0) {
          nd.count = 1;
          nd.sx = x;
          nd.sy = y;
          return;
        }
        const double qx = nd.sx / nd.count, qy = nd.sy / nd.count;
        if ((std::abs(qx - x) <= duplicate_eps_ && std::abs(qy - y) <= duplicate_eps_) || depth >= kMaxDepth) {
          ++nd.count;
          nd.sx += x;
          nd.sy += y;
          return;
        }
        // Split: the points already here (all at (qx, qy)) move to one new child.
        const int32_t first = static_cast<int32_t>(nodes_.size());
        for (int c = 0; c < 4; ++c) {
          Node ch;
          ch.width = nodes_[n].width * 0.5;
          ch.cx = nodes_[n].cx + ((c & 1) ? 0.25 : -0.25) * nodes_[n].width;
          ch.cy = nodes_[n].cy + ((c & 2) ? 0.25 : -0.25) * nodes_[n].width;
          nodes_.push_back(ch);
          nodes_[n].child[c] = first + c;
        }
        Node& split = nodes_[n];
        split.leaf = false;
        Node& moved = nodes_[split.child[quadrant(split, qx, qy)]];
        moved.count = split.count;
        moved.sx = split.sx;
        moved.sy = split.sy;
      }
      Node& nd = nodes_[n];
      ++nd.count;
      nd.sx += x;
      nd.sy += y;
      n = nd.child[quadrant(nd, x, y)];
    }
  }

  static int quadrant(const Node& nd, double x, double y) { return (x > nd.cx ? 1 : 0) + (y > nd.cy ? 2 : 0); }

  std::vector<Node> nodes_;
  double duplicate_eps_ = 0;
};

/// Barnes-Hut objective: gradient [2N] into `grad`; returns the KL divergence when asked.
class BarnesHutObjective {
 public:
  BarnesHutObjective(const SparseP& p, int64_t n, double theta) : p_(p), n_(n), theta2_(theta * theta) {
    sum_q_.resize(n);
    neg_.resize(2 * n);
    pos_.resize(2 * n);
    kl_terms_.resize(n);
  }

  /// One parallel pass: the repulsion (tree) and the attraction (sparse P) of each point;
  /// KL = sum p log(p / w) + log Z (P sums to the exaggeration).
  double operator()(const double* y, double exaggeration, bool compute_error, double* grad) {
    tree_.build(y, n_);
    at::parallel_for(0, n_, 32, [&](int64_t begin, int64_t end) {
      std::vector<int32_t> stack;
      stack.reserve(256);
      for (int64_t i = begin; i < end; ++i) {
        sum_q_[i] = tree_.repulsion(y[2 * i], y[2 * i + 1], theta2_, &neg_[2 * i], &neg_[2 * i + 1], &stack);
        double ax = 0, ay = 0, kl = 0;
        for (int64_t e = p_.row_begin[i]; e < p_.row_begin[i + 1]; ++e) {
          const int64_t j = p_.cols[e];
          const double dx = y[2 * i] - y[2 * j], dy = y[2 * i + 1] - y[2 * j + 1];
          const double w = 1.0 / (1.0 + dx * dx + dy * dy);
          const double pij = p_.vals[e] * exaggeration;
          ax += pij * w * dx;
          ay += pij * w * dy;
          if (compute_error) kl += pij * std::log(std::max(pij, kFloat32Tiny) / w);
        }
        pos_[2 * i] = ax;
        pos_[2 * i + 1] = ay;
        kl_terms_[i] = kl;
      }
    });
    double z = 0;
    for (int64_t i = 0; i < n_; ++i) z += sum_q_[i];
    z = std::max(z, kMachineEpsilon);
    for (int64_t e = 0; e < 2 * n_; ++e) grad[e] = 4.0 * (pos_[e] - neg_[e] / z);
    if (!compute_error) return 0.0;
    double kl = 0, p_sum = 0;
    for (int64_t i = 0; i < n_; ++i) kl += kl_terms_[i];
    for (double v : p_.vals) p_sum += v * exaggeration;
    return kl + p_sum * std::log(z);
  }

 private:
  const SparseP& p_;
  int64_t n_;
  double theta2_;
  QuadTree tree_;
  std::vector<double> sum_q_, neg_, pos_, kl_terms_;
};

/// Exact objective on a dense symmetric P [N, N] (float64, zero diagonal, sums to 1), in two
/// passes over the pairs (Z first, then the gradient) so nothing of size N^2 but P is stored.
class ExactObjective {
 public:
  ExactObjective(torch::Tensor p, int64_t n)
      : p_(std::move(p)), n_(n), grain_(std::max<int64_t>(1, (1 << 16) / n)), row_z_(n), kl_terms_(n) {}

  double operator()(const double* y, double exaggeration, bool compute_error, double* grad) {
    const double* p = p_.data_ptr<double>();
    at::parallel_for(0, n_, grain_, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        double z = 0;
        for (int64_t j = 0; j < n_; ++j) {
          const double dx = y[2 * i] - y[2 * j], dy = y[2 * i + 1] - y[2 * j + 1];
          z += j == i ? 0.0 : 1.0 / (1.0 + dx * dx + dy * dy);
        }
        row_z_[i] = z;
      }
    });
    double z = 0;
    for (int64_t i = 0; i < n_; ++i) z += row_z_[i];
    z = std::max(z, kMachineEpsilon);
    at::parallel_for(0, n_, grain_, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        double ax = 0, ay = 0, kl = 0;
        const double* pi = p + i * n_;
        for (int64_t j = 0; j < n_; ++j) {
          if (j == i) continue;
          const double dx = y[2 * i] - y[2 * j], dy = y[2 * i + 1] - y[2 * j + 1];
          const double w = 1.0 / (1.0 + dx * dx + dy * dy);
          const double q = std::max(w / z, kMachineEpsilon);
          const double pij = pi[j] * exaggeration;
          const double f = (pij - q) * w;
          ax += f * dx;
          ay += f * dy;
          if (compute_error) kl += pij * std::log(std::max(pij, kMachineEpsilon) / q);
        }
        grad[2 * i] = 4.0 * ax;
        grad[2 * i + 1] = 4.0 * ay;
        kl_terms_[i] = kl;
      }
    });
    double kl = 0;
    if (compute_error)
      for (int64_t i = 0; i < n_; ++i) kl += kl_terms_[i];
    return kl;
  }

 private:
  torch::Tensor p_;
  int64_t n_;
  int64_t grain_;  // rows per task: about 2^16 pairs, so small problems stay on one thread
  std::vector<double> row_z_, kl_terms_;
};

/// N(0, std^2) from the counter-based generator (Box-Muller), independent of libstdc++.
std::vector<double> random_init(int64_t n, uint64_t seed, double std_dev) {
  Rng rng(stream_seed(seed, 0x75e));
  std::vector<double> y(2 * n);
  for (int64_t i = 0; i < 2 * n; i += 2) {
    const double u1 = std::max(uniform(rng), 1e-300), u2 = uniform(rng);
    const double r = std::sqrt(-2.0 * std::log(u1)) * std_dev;
    y[i] = r * std::cos(2 * M_PI * u2);
    y[i + 1] = r * std::sin(2 * M_PI * u2);
  }
  return y;
}

}  // namespace

torch::Tensor tsne_conditional_probabilities(const torch::Tensor& sq_distances, double perplexity) {
  PROTOCLR_CHECK(sq_distances.dim() == 2, "t-SNE: squared distances must be [N, K]");
  PROTOCLR_CHECK(perplexity > 0, "t-SNE: --perplexity must be positive, got ", perplexity);
  const auto d = sq_distances.to(torch::kDouble).contiguous();
  const int64_t n = d.size(0), k = d.size(1);
  auto p = torch::empty_like(d);
  const double* dp = d.data_ptr<double>();
  double* pp = p.data_ptr<double>();
  const double desired_entropy = std::log(perplexity);
  at::parallel_for(0, n, 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const double* di = dp + i * k;
      double* pi = pp + i * k;
      double beta = 1.0, beta_min = -INFINITY, beta_max = INFINITY;
      for (int step = 0; step < kBinarySearchSteps; ++step) {
        double sum_p = 0;
        for (int64_t j = 0; j < k; ++j) {
          pi[j] = std::exp(-di[j] * beta);
          sum_p += pi[j];
        }
        if (sum_p == 0.0) sum_p = 1e-8;
        double sum_dp = 0;
        for (int64_t j = 0; j < k; ++j) {
          pi[j] /= sum_p;
          sum_dp += di[j] * pi[j];
        }
        const double entropy = std::log(sum_p) + beta * sum_dp;
        const double diff = entropy - desired_entropy;
        if (std::abs(diff) <= kPerplexityTolerance) break;
        if (diff > 0) {
          beta_min = beta;
          beta = beta_max == INFINITY ? beta * 2.0 : 0.5 * (beta + beta_max);
        } else {
          beta_max = beta;
          beta = beta_min == -INFINITY ? beta / 2.0 : 0.5 * (beta + beta_min);
        }
      }
    }
  });
  return p;
}

TsneResult tsne(const torch::Tensor& x_in, const TsneOptions& options) {
  const auto t0 = Clock::now();
  PROTOCLR_CHECK(x_in.dim() == 2 && x_in.size(0) > 0 && x_in.size(1) > 0,
                 "t-SNE: embeddings must be a non-empty [N, D] tensor");
  PROTOCLR_CHECK(x_in.is_floating_point(), "t-SNE: embeddings must be floating point");
  PROTOCLR_CHECK(options.perplexity > 0, "t-SNE: --perplexity must be positive, got ", options.perplexity);
  PROTOCLR_CHECK(options.iterations >= 1, "t-SNE: --iterations must be at least 1, got ", options.iterations);
  PROTOCLR_CHECK(options.early_exaggeration > 0, "t-SNE: early exaggeration must be positive");
  PROTOCLR_CHECK(options.theta >= 0, "t-SNE: --theta must be >= 0, got ", options.theta);
  PROTOCLR_CHECK(options.learning_rate >= 0, "t-SNE: --learning-rate must be >= 0 (0 = auto)");
  torch::NoGradGuard no_grad;
  torch::Tensor x = x_in.detach().to(torch::kCPU, torch::kDouble).contiguous();
  PROTOCLR_CHECK(torch::isfinite(x).all().item<bool>(), "t-SNE: embeddings contain NaN or Inf");
  const int64_t n = x.size(0);

  TsneResult result;
  result.perplexity = options.perplexity;
  if (n == 1) {
    result.embedding = torch::zeros({1, 2}, torch::kFloat);
    result.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    return result;
  }
  // A point has N - 1 neighbours; 3 * perplexity of them are used (scikit-learn refuses
  // perplexity >= N; clamping keeps `eval tsne` usable on tiny sets).
  const double max_perplexity = std::max(1.0, (n - 1) / 3.0);
  if (options.perplexity > max_perplexity) {
    log::warn("t-SNE: --perplexity ", options.perplexity, " is too large for ", n, " points; using ",
              max_perplexity);
    result.perplexity = max_perplexity;
  }
  if (options.pca_dims > 0 && x.size(1) > options.pca_dims) x = pca_project(x, options.pca_dims);

  const bool barnes_hut = options.method == TsneMethod::kBarnesHut ||
                          (options.method == TsneMethod::kAuto && n > options.exact_max_points);
  result.barnes_hut = barnes_hut;
  result.learning_rate = options.learning_rate > 0
                             ? options.learning_rate
                             : std::max(n / options.early_exaggeration / 4.0, 50.0);

  // Affinities P (JMLR 2008 eq. 1 and the symmetrisation of section 3.1).
  SparseP sparse_p;
  torch::Tensor dense_p;
  if (barnes_hut) {
    const int64_t k = std::min<int64_t>(n - 1, static_cast<int64_t>(3.0 * result.perplexity + 1.0));
    auto [dist, idx] = nearest_neighbours(x, k);
    sparse_p = symmetrise(tsne_conditional_probabilities(dist, result.perplexity), idx);
  } else {
    const auto sq = x.pow(2).sum(1);
    auto dist = (sq.unsqueeze(1) + sq.unsqueeze(0) - 2.0 * x.mm(x.t())).clamp_min(0.0);
    // All other points are neighbours: drop the diagonal, [N, N - 1].
    const auto off = ~torch::eye(n, torch::kBool);
    const auto others = dist.masked_select(off).view({n, n - 1});
    const auto cond = tsne_conditional_probabilities(others, result.perplexity);
    auto p = torch::zeros({n, n}, torch::kDouble);
    p.masked_scatter_(off, cond);
    p = p + p.t();
    p = (p / p.sum().clamp_min(kMachineEpsilon)).clamp_min(kMachineEpsilon);
    p.fill_diagonal_(0.0);
    dense_p = p;
  }

  // Initial embedding.
  std::vector<double> y;
  if (options.init == TsneInit::kPca) {
    const auto pcs = pca_project(x, 2);
    const double sd = pcs.select(1, 0).std(/*unbiased=*/false).item<double>();
    const auto scaled = (pcs / (sd > 0 ? sd : 1.0) * 1e-4).contiguous();
    y.assign(scaled.data_ptr<double>(), scaled.data_ptr<double>() + 2 * n);
  } else {
    y = random_init(n, options.seed, 1e-4);
  }

  std::unique_ptr<BarnesHutObjective> bh;
  std::unique_ptr<ExactObjective> exact;
  if (barnes_hut) bh = std::make_unique<BarnesHutObjective>(sparse_p, n, options.theta);
  else exact = std::make_unique<ExactObjective>(dense_p.contiguous(), n);
  auto objective = [&](double exaggeration, bool compute_error, double* grad) {
    return barnes_hut ? (*bh)(y.data(), exaggeration, compute_error, grad)
                      : (*exact)(y.data(), exaggeration, compute_error, grad);
  };

  // Gradient descent with momentum and gains (scikit-learn's _gradient_descent), in two
  // phases that each start with zero update and unit gains.
  const int64_t total = options.iterations;
  const int64_t explore = std::min(options.exaggeration_iterations, total);
  const int64_t check_every = std::max<int64_t>(options.check_every, 1);
  std::vector<double> grad(2 * n), update(2 * n), gains(2 * n);
  Throughput speed(total);
  int64_t it = 0;
  double last_kl = 0;
  for (int phase = 0; phase < 2; ++phase) {
    const bool exaggerated = phase == 0;
    const int64_t end = exaggerated ? explore : total;
    const double momentum = exaggerated ? 0.5 : 0.8;
    const double exaggeration = exaggerated ? options.early_exaggeration : 1.0;
    const int64_t patience = exaggerated ? options.exaggeration_iterations : options.iterations_without_progress;
    std::fill(update.begin(), update.end(), 0.0);
    std::fill(gains.begin(), gains.end(), 1.0);
    double best_error = std::numeric_limits<double>::max();
    int64_t best_iter = it;
    for (; it < end; ++it) {
      const bool check = (it + 1) % check_every == 0;
      const bool compute_error = check || it == total - 1 || it == end - 1;
      const double error = objective(exaggeration, compute_error, grad.data());
      double grad_norm2 = 0;
      for (int64_t e = 0; e < 2 * n; ++e) {
        const bool increase = update[e] * grad[e] < 0.0;
        gains[e] = std::max(increase ? gains[e] + 0.2 : gains[e] * 0.8, 0.01);
        grad[e] *= gains[e];
        update[e] = momentum * update[e] - result.learning_rate * grad[e];
        y[e] += update[e];
        grad_norm2 += grad[e] * grad[e];
      }
      speed.add(1);
      if (compute_error) last_kl = error;
      if (check) {
        const double grad_norm = std::sqrt(grad_norm2);
        result.history.push_back({it + 1, error, grad_norm, exaggerated});
        if (options.show_progress)
          log::progress(detail::concat("t-SNE: iteration ", it + 1, "/", total, ", KL ", error,
                                       exaggerated ? " (exaggerated)" : "", ", ", format_duration(speed.seconds()),
                                       ", ETA ", format_duration(speed.eta_seconds())));
        bool stop = false;
        if (error < best_error) {
          best_error = error;
          best_iter = it;
        } else if (it - best_iter > patience) {
          stop = true;
        }
        if (grad_norm <= options.min_grad_norm) stop = true;
        if (stop) {  // the next phase (if any) starts after this step, as in scikit-learn
          ++it;
          break;
        }
      }
    }
  }
  if (options.show_progress) log::progress_done();
  result.iterations = it;
  result.kl = last_kl;
  if (total <= explore) {  // no second phase: report the KL of the true P
    result.kl = objective(1.0, /*compute_error=*/true, grad.data());
  }
  result.embedding = torch::from_blob(y.data(), {n, 2}, torch::kDouble).to(torch::kFloat);
  result.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  log::info("t-SNE: ", n, " points, ", barnes_hut ? "Barnes-Hut" : "exact", ", perplexity ", result.perplexity,
            ", ", result.iterations, " iterations, KL ", result.kl, ", ", format_duration(result.seconds));
  return result;
}

}  // namespace protoclr::eval
