// One-vs-rest LIBLINEAR SVMs swept over costs, with cross-validated or test-max cost selection.
#include "protoclr/eval/svm.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <exception>
#include <limits>
#include <numeric>
#include <sstream>

#include "protoclr/core/error.h"
#include "protoclr/core/log.h"
#include "protoclr/core/parallel.h"
#include "protoclr/core/rng.h"
#include "svm_internal.h"

namespace protoclr::eval {

CostSelection parse_cost_selection(const std::string& name) {
  if (name == "cv") return CostSelection::kCrossValidation;
  if (name == "test-max") return CostSelection::kTestMax;
  throw Error("--cost-select must be 'cv' (k-fold cross-validation on the training split) or 'test-max' (the "
              "reference's best test figure), got '" + name + "'");
}

std::string cost_selection_name(CostSelection selection) {
  return selection == CostSelection::kTestMax ? "test-max" : "cv";
}

std::vector<double> default_svm_costs() {
  std::vector<double> costs = {1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0};
  for (int k = 4; k < 20; ++k) costs.push_back(std::ldexp(1.0, -k));
  std::sort(costs.begin(), costs.end());
  return costs;
}

namespace detail {
namespace {

void quiet_liblinear(const char*) {}

/// One trained SVM: w [D] and the bias term, oriented so that positive means "class".
struct Hyperplane {
  std::vector<double> w;
  double b = 0;
};

Hyperplane train_one(std::vector<feature_node*>& x, std::vector<double>& y, int64_t dim, double cost,
                     const SvmOptions& options) {
  Hyperplane h;
  h.w.assign(static_cast<size_t>(dim), 0.0);
  size_t positives = 0;
  for (double v : y) positives += v > 0;
  if (positives == 0 || positives == y.size()) {  // one class only: a constant decision
    h.b = positives ? 1.0 : -1.0;
    return h;
  }
  problem prob{};
  prob.l = static_cast<int>(y.size());
  prob.n = static_cast<int>(dim + 1);
  prob.y = y.data();
  prob.x = x.data();
  prob.bias = 1.0;  // sklearn's intercept_scaling = 1
  int weight_label[2] = {1, -1};
  double weight[2] = {options.positive_weight, 1.0};
  parameter param{};
  param.solver_type = L2R_L2LOSS_SVC_DUAL;
  param.eps = options.tolerance;
  param.C = cost;
  param.nr_weight = 2;
  param.weight_label = weight_label;
  param.weight = weight;
  param.p = 0.1;
  param.init_sol = nullptr;
  const char* bad = check_parameter(&prob, &param);
  TORCH_INTERNAL_ASSERT(bad == nullptr, "liblinear: ", bad ? bad : "");
  model* m = train(&prob, &param);
  TORCH_INTERNAL_ASSERT(m != nullptr && m->nr_class == 2, "liblinear returned no binary model");
  const int positive = m->label[0] == 1 ? 0 : 1;
  for (int64_t j = 0; j < dim; ++j) h.w[static_cast<size_t>(j)] = get_decfun_coef(m, static_cast<int>(j + 1), positive);
  h.b = get_decfun_bias(m, positive);
  free_and_destroy_model(&m);
  return h;
}

double dot(const feature_node* row, const Hyperplane& h) {
  double s = h.b;
  const int64_t dim = static_cast<int64_t>(h.w.size());
  for (; row->index != -1; ++row)
    if (row->index <= dim) s += row->value * h.w[static_cast<size_t>(row->index - 1)];
  return s;
}

/// Seeded stratified fold per item: within each group, a shuffled round-robin continuing
/// where the previous group stopped, so folds differ in size by at most one.
std::vector<int> stratified_folds(const std::vector<int64_t>& groups, int folds, uint64_t seed) {
  std::vector<int64_t> keys = groups;
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  std::vector<int> fold(groups.size(), 0);
  int next = 0;
  for (size_t g = 0; g < keys.size(); ++g) {
    std::vector<size_t> members;
    for (size_t i = 0; i < groups.size(); ++i)
      if (groups[i] == keys[g]) members.push_back(i);
    Rng rng(stream_seed(seed, 0xf01d5ULL, static_cast<uint64_t>(keys[g])));
    for (size_t k = members.size(); k > 1; --k) std::swap(members[k - 1], members[uniform_index(rng, k)]);
    for (size_t i : members) {
      fold[i] = next;
      next = (next + 1) % folds;
    }
  }
  return fold;
}

double mean_ignoring_nan(const std::vector<double>& v) {
  double s = 0;
  int64_t n = 0;
  for (double x : v)
    if (!std::isnan(x)) {
      s += x;
      ++n;
    }
  return n ? s / static_cast<double>(n) : std::numeric_limits<double>::quiet_NaN();
}

}  // namespace

torch::Tensor normalize_rows(const torch::Tensor& features) {
  const auto x = features.to(torch::kDouble).contiguous();
  PROTOCLR_CHECK(torch::isfinite(x).all().item<bool>(), "SVM: features contain NaN or Inf (re-extract them)");
  return x / (x.norm(2, /*dim=*/1, /*keepdim=*/true) + 1e-5);
}

ResolvedTargets resolve_targets(const SvmTargets& t, int64_t rows, int64_t classes, const char* split) {
  ResolvedTargets out;
  out.multi = t.is_multi_label();
  if (out.multi) {
    PROTOCLR_CHECK(t.multi.dim() == 2 && t.multi.size(0) == rows, "SVM: ", split, " multi-label targets must be [",
                   rows, ", C], got ", t.multi.sizes());
    const auto m = t.multi.to(torch::kChar).contiguous();
    out.classes = m.size(1);
    PROTOCLR_CHECK(classes <= 0 || out.classes == classes, "SVM: ", split, " targets have ", out.classes,
                   " classes, the training targets ", classes);
    const int8_t* p = m.data_ptr<int8_t>();
    out.targets.assign(p, p + m.numel());
    for (int8_t v : out.targets)
      PROTOCLR_CHECK(v >= -1 && v <= 1, "SVM: ", split, " multi-label target ", int(v),
                     " is not 1 (present), 0 (difficult) or -1 (absent)");
    return out;
  }
  PROTOCLR_CHECK(t.labels.defined() && t.labels.dim() == 1 && t.labels.size(0) == rows, "SVM: ", split,
                 " needs labels [", rows, "] or multi-label targets [", rows, ", C]");
  const auto l = t.labels.to(torch::kLong).contiguous();
  out.labels.assign(l.data_ptr<int64_t>(), l.data_ptr<int64_t>() + rows);
  out.classes = classes > 0 ? classes : t.num_classes;
  if (out.classes <= 0) {
    int64_t top = -1;
    for (int64_t v : out.labels) top = std::max(top, v);
    out.classes = top + 1;
  }
  PROTOCLR_CHECK(out.classes >= 2, "SVM: ", split, " labels name ", out.classes,
                 " class(es); one-vs-rest SVMs need at least 2");
  out.targets.assign(static_cast<size_t>(rows * out.classes), -1);
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t c = out.labels[static_cast<size_t>(i)];
    PROTOCLR_CHECK(c < out.classes, "SVM: ", split, " label ", c, " at row ", i, " is not below the ", out.classes,
                   " training classes");
    if (c >= 0) out.targets[static_cast<size_t>(i * out.classes + c)] = 1;
  }
  return out;
}

SvmRows::SvmRows(const torch::Tensor& normalized, const std::vector<int64_t>& rows) {
  TORCH_INTERNAL_ASSERT(normalized.scalar_type() == torch::kDouble && normalized.is_contiguous());
  const int64_t n = normalized.size(0);
  dim_ = normalized.size(1);
  offset_.assign(static_cast<size_t>(n), -1);
  std::vector<int64_t> todo = rows;
  if (todo.empty()) {
    todo.resize(static_cast<size_t>(n));
    std::iota(todo.begin(), todo.end(), 0);
  }
  const double* x = normalized.data_ptr<double>();
  for (int64_t i : todo) {
    TORCH_INTERNAL_ASSERT(i >= 0 && i < n);
    if (offset_[static_cast<size_t>(i)] >= 0) continue;
    offset_[static_cast<size_t>(i)] = static_cast<int64_t>(nodes_.size());
    const double* r = x + i * dim_;
    for (int64_t j = 0; j < dim_; ++j)
      if (r[j] != 0.0) nodes_.push_back({static_cast<int>(j + 1), r[j]});  // exact zeros are implicit
    nodes_.push_back({static_cast<int>(dim_ + 1), 1.0});  // the bias feature
    nodes_.push_back({-1, 0.0});
  }
}

feature_node* SvmRows::row(int64_t i) const {
  const int64_t at = offset_.at(static_cast<size_t>(i));
  TORCH_INTERNAL_ASSERT(at >= 0, "SVM row ", i, " was not built");
  return const_cast<feature_node*>(nodes_.data() + at);  // liblinear takes non-const rows, never writes them
}

std::vector<double> checked_costs(const SvmOptions& options) {
  std::vector<double> costs = options.costs;
  PROTOCLR_CHECK(!costs.empty(), "--cost is empty: give at least one positive cost (e.g. 0.5)");
  for (double c : costs)
    PROTOCLR_CHECK(std::isfinite(c) && c > 0, "--cost values must be positive, got ", c);
  std::sort(costs.begin(), costs.end());
  costs.erase(std::unique(costs.begin(), costs.end()), costs.end());
  PROTOCLR_CHECK(options.folds >= 2, "--folds must be at least 2, got ", options.folds);
  PROTOCLR_CHECK(options.positive_weight > 0, "--positive-weight must be positive, got ", options.positive_weight);
  PROTOCLR_CHECK(options.tolerance > 0, "SVM tolerance must be positive, got ", options.tolerance);
  return costs;
}

size_t best_index(const std::vector<double>& values) {
  size_t best = 0;
  for (size_t i = 1; i < values.size(); ++i)
    if (!std::isnan(values[i]) && (std::isnan(values[best]) || values[i] > values[best])) best = i;
  return best;
}

CostGrid svm_cost_grid(const SvmRows& rows, const ResolvedTargets& train, const std::vector<int64_t>& train_rows,
                       const torch::Tensor& test_normalized, const ResolvedTargets& test, bool cross_validate,
                       const SvmOptions& options) {
  static std::once_flag quiet;
  std::call_once(quiet, [] { set_print_string_function(&quiet_liblinear); });
  const std::vector<double> costs = checked_costs(options);
  const size_t num_costs = costs.size();
  const int64_t classes = train.classes;
  const int64_t dim = rows.dim();
  const size_t n = train_rows.size();
  const int folds = cross_validate ? options.folds : 0;
  const bool ignore = train.multi && options.difficult == DifficultPolicy::kIgnore;
  auto usable = [&](size_t p, int64_t c) { return !(ignore && train.at(train_rows[p], c) == 0); };

  // Folds: per distinct training row (repeats share a fold), stratified by class for
  // single-label data (one assignment for all classes) and by the class's own target for
  // multi-label data (one assignment per class, as sklearn's StratifiedKFold per binary SVM).
  std::vector<std::vector<int>> fold_of;  // [1 or classes][position]
  if (cross_validate) {
    std::vector<int64_t> distinct = train_rows;
    std::sort(distinct.begin(), distinct.end());
    distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
    std::vector<size_t> slot(n);
    for (size_t p = 0; p < n; ++p)
      slot[p] = static_cast<size_t>(std::lower_bound(distinct.begin(), distinct.end(), train_rows[p]) - distinct.begin());
    const int64_t assignments = train.multi ? classes : 1;
    for (int64_t c = 0; c < assignments; ++c) {
      std::vector<int64_t> groups(distinct.size());
      for (size_t d = 0; d < distinct.size(); ++d)
        groups[d] = train.multi ? train.at(distinct[d], c) : train.labels[static_cast<size_t>(distinct[d])];
      const std::vector<int> f = stratified_folds(groups, folds, stream_seed(options.seed, c));
      std::vector<int> per_position(n);
      for (size_t p = 0; p < n; ++p) per_position[p] = f[slot[p]];
      fold_of.push_back(std::move(per_position));
    }
  }
  auto fold = [&](size_t p, int64_t c) { return fold_of[train.multi ? static_cast<size_t>(c) : 0][p]; };

  // Tasks: (cost, class, fold); fold == folds is the full training set. Largest costs first:
  // they take the most iterations.
  struct Task {
    size_t cost;
    int64_t cls;
    int fold;
  };
  std::vector<Task> tasks;
  for (size_t k = num_costs; k-- > 0;)
    for (int64_t c = 0; c < classes; ++c)
      for (int f = 0; f <= folds; ++f) tasks.push_back({k, c, f});

  std::vector<Hyperplane> full(num_costs * static_cast<size_t>(classes));
  std::vector<std::vector<double>> held_out(cross_validate ? num_costs : 0,
                                            std::vector<double>(n * static_cast<size_t>(classes), 0.0));
  std::srand(static_cast<unsigned>(options.seed));  // liblinear's coordinate order comes from rand()
  parallel_for(tasks.size(), options.threads, [&](size_t t) {
    const Task& task = tasks[t];
    std::vector<feature_node*> x;
    std::vector<double> y;
    x.reserve(n);
    y.reserve(n);
    for (size_t p = 0; p < n; ++p) {
      if (!usable(p, task.cls) || (task.fold < folds && fold(p, task.cls) == task.fold)) continue;
      x.push_back(rows.row(train_rows[p]));
      y.push_back(train.at(train_rows[p], task.cls) == 1 ? 1.0 : -1.0);
    }
    Hyperplane h = train_one(x, y, dim, costs[task.cost], options);
    if (task.fold == folds) {
      full[task.cost * static_cast<size_t>(classes) + static_cast<size_t>(task.cls)] = std::move(h);
      return;
    }
    std::vector<double>& out = held_out[task.cost];
    for (size_t p = 0; p < n; ++p)
      if (usable(p, task.cls) && fold(p, task.cls) == task.fold)
        out[p * static_cast<size_t>(classes) + static_cast<size_t>(task.cls)] = dot(rows.row(train_rows[p]), h);
  });

  CostGrid grid;
  grid.test.assign(num_costs, 0.0);
  grid.cv.assign(num_costs, std::numeric_limits<double>::quiet_NaN());
  const int64_t m = test_normalized.size(0);
  for (size_t k = 0; k < num_costs; ++k) {
    auto w = torch::empty({classes, dim}, torch::kDouble);
    auto b = torch::empty({classes}, torch::kDouble);
    for (int64_t c = 0; c < classes; ++c) {
      const Hyperplane& h = full[k * static_cast<size_t>(classes) + static_cast<size_t>(c)];
      std::copy(h.w.begin(), h.w.end(), w[c].data_ptr<double>());
      b[c] = h.b;
    }
    const auto scores = torch::addmm(b.unsqueeze(0), test_normalized, w.t());  // [M, classes]
    if (test.multi) {
      auto ap = average_precision_per_class(scores, torch::from_blob(const_cast<int8_t*>(test.targets.data()),
                                                                     {m, classes}, torch::kChar),
                                            options.difficult);
      for (double& a : ap) a *= 100.0;
      grid.test[k] = mean_ignoring_nan(ap);
      grid.test_class_ap.push_back(std::move(ap));
    } else {
      const auto pred = scores.argmax(1);
      const int64_t* pp = pred.data_ptr<int64_t>();
      int64_t correct = 0, counted = 0;
      for (int64_t i = 0; i < m; ++i) {
        const int64_t l = test.labels[static_cast<size_t>(i)];
        if (l < 0) continue;
        ++counted;
        correct += pp[i] == l;
      }
      grid.test[k] = counted ? 100.0 * static_cast<double>(correct) / static_cast<double>(counted)
                             : std::numeric_limits<double>::quiet_NaN();
    }
    if (!cross_validate) continue;
    const std::vector<double>& s = held_out[k];
    if (train.multi) {
      std::vector<double> class_ap(static_cast<size_t>(classes));
      for (int64_t c = 0; c < classes; ++c) {
        std::vector<double> fold_ap;
        for (int f = 0; f < folds; ++f) {
          std::vector<double> sc;
          std::vector<int8_t> tg;
          for (size_t p = 0; p < n; ++p)
            if (usable(p, c) && fold(p, c) == f) {
              sc.push_back(s[p * static_cast<size_t>(classes) + static_cast<size_t>(c)]);
              tg.push_back(train.at(train_rows[p], c));
            }
          fold_ap.push_back(average_precision(sc, tg, options.difficult));
        }
        class_ap[static_cast<size_t>(c)] = 100.0 * mean_ignoring_nan(fold_ap);
      }
      grid.cv[k] = mean_ignoring_nan(class_ap);
    } else {
      int64_t correct = 0;
      for (size_t p = 0; p < n; ++p) {
        const double* row = s.data() + p * static_cast<size_t>(classes);
        correct += (std::max_element(row, row + classes) - row) == train.labels[static_cast<size_t>(train_rows[p])];
      }
      grid.cv[k] = n ? 100.0 * static_cast<double>(correct) / static_cast<double>(n)
                     : std::numeric_limits<double>::quiet_NaN();
    }
  }
  return grid;
}

}  // namespace detail

SvmReport svm_evaluate(const torch::Tensor& train_features, const SvmTargets& train,
                       const torch::Tensor& test_features, const SvmTargets& test, const SvmOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  PROTOCLR_CHECK(train_features.dim() == 2 && test_features.dim() == 2 &&
                     train_features.size(1) == test_features.size(1) && train_features.size(1) > 0,
                 "SVM: train and test features must be [N, D] and [M, D] with the same D, got ",
                 train_features.sizes(), " and ", test_features.sizes());
  PROTOCLR_CHECK(train.is_multi_label() == test.is_multi_label(),
                 "SVM: train and test targets must both be single-label or both multi-label");
  const std::vector<double> costs = detail::checked_costs(options);
  const detail::ResolvedTargets tr = detail::resolve_targets(train, train_features.size(0), 0, "training");
  const detail::ResolvedTargets te = detail::resolve_targets(test, test_features.size(0), tr.classes, "test");
  std::vector<int64_t> rows;
  for (int64_t i = 0; i < train_features.size(0); ++i)
    if (tr.multi || tr.labels[static_cast<size_t>(i)] >= 0) rows.push_back(i);
  const bool cv = options.selection == CostSelection::kCrossValidation;
  for (int64_t c = 0; c < tr.classes; ++c) {
    int64_t positives = 0;
    for (int64_t r : rows) positives += tr.at(r, c) == 1;
    PROTOCLR_CHECK(positives > 0, "SVM: class ", c, " has no positive training image (check the training split)");
    PROTOCLR_CHECK(!cv || positives >= options.folds, "SVM: class ", c, " has ", positives,
                   " positive training image(s), fewer than --folds ", options.folds,
                   " (use fewer folds or --cost-select test-max)");
  }
  const detail::SvmRows svm_rows(detail::normalize_rows(train_features), rows);
  const detail::CostGrid grid =
      detail::svm_cost_grid(svm_rows, tr, rows, detail::normalize_rows(test_features), te, cv, options);

  SvmReport report;
  report.metric = tr.multi ? "mAP" : "top1";
  report.selection = options.selection;
  report.classes = tr.classes;
  report.train_samples = static_cast<int64_t>(rows.size());
  for (int64_t i = 0; i < test_features.size(0); ++i) report.test_samples += tr.multi || te.labels[i] >= 0;
  for (size_t k = 0; k < costs.size(); ++k) report.per_cost.push_back({costs[k], grid.test[k], grid.cv[k]});
  const size_t best = detail::best_index(cv ? grid.cv : grid.test);
  report.selected_cost = costs[best];
  report.value = grid.test[best];
  if (tr.multi) report.per_class_ap = grid.test_class_ap[best];
  std::ostringstream text;
  if (cv)
    text << "cost " << costs[best] << " chosen by " << options.folds << "-fold cross-validation on the training split ("
         << report.metric << " " << grid.cv[best] << " held out) among " << costs.size() << " costs";
  else
    text << "cost " << costs[best] << " has the best test " << report.metric << " among " << costs.size()
         << " costs (test-max, as the PCL reference reports; optimistic)";
  report.selection_text = text.str();
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  log::debug("svm: ", report.selection_text, "; test ", report.metric, " ", report.value, " in ", report.seconds, " s");
  return report;
}

SvmTargets svm_targets(const data::Dataset& dataset, const torch::Tensor& labels, const torch::Tensor& rows) {
  SvmTargets t;
  t.num_classes = static_cast<int64_t>(dataset.classes().size());
  if (!dataset.multi_label()) {
    t.labels = labels;
    return t;
  }
  auto sets = dataset.label_sets();
  t.multi = torch::from_blob(sets.data(), {static_cast<int64_t>(dataset.size()), t.num_classes}, torch::kChar).clone();
  if (rows.defined()) t.multi = t.multi.index_select(0, rows);
  return t;
}

}  // namespace protoclr::eval
