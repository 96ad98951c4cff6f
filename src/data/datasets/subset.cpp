// Subsets: a class-balanced random selection (balanced_subset) or a range of rows (row_range) that forwards everything to
// its parent dataset; not a file format (declared in include/protoclr/data/dataset.h).
#include <algorithm>
#include <numeric>

#include "protoclr/core/error.h"
#include "protoclr/core/rng.h"
#include "protoclr/data/dataset.h"

namespace protoclr::data {
namespace {

class SubsetDataset final : public Dataset {
 public:
  SubsetDataset(std::shared_ptr<const Dataset> parent, std::vector<size_t> indices)
      : parent_(std::move(parent)), indices_(std::move(indices)) {}
  size_t size() const override { return indices_.size(); }
  const std::vector<std::string>& classes() const override { return parent_->classes(); }
  int64_t label(size_t i) const override { return parent_->label(indices_.at(i)); }
  bool multi_label() const override { return parent_->multi_label(); }
  std::vector<int8_t> label_set(size_t i) const override { return parent_->label_set(indices_.at(i)); }
  DecodedImage load(size_t i, const ScalePlan& plan) const override { return parent_->load(indices_.at(i), plan); }
  std::string name(size_t i) const override { return parent_->name(indices_.at(i)); }
  std::string format() const override { return parent_->format(); }
  const std::vector<std::string>& skipped() const override { return parent_->skipped(); }

 private:
  std::shared_ptr<const Dataset> parent_;
  std::vector<size_t> indices_;
};

}  // namespace

std::shared_ptr<Dataset> balanced_subset(std::shared_ptr<const Dataset> parent, int64_t n, uint64_t seed) {
  PROTOCLR_CHECK(parent, "balanced_subset: no dataset");
  PROTOCLR_CHECK(n > 0, "--limit must be positive, got ", n);
  const size_t total = parent->size();
  if (static_cast<uint64_t>(n) >= total) return std::const_pointer_cast<Dataset>(parent);
  // Multi-label data has no single class to balance: one group, a uniformly random subset.
  const size_t num_classes = parent->multi_label() ? 0 : parent->classes().size();
  std::vector<std::vector<size_t>> groups(std::max<size_t>(num_classes, 1));
  for (size_t i = 0; i < total; ++i) {
    const int64_t l = num_classes ? parent->label(i) : 0;
    if (l >= 0 && static_cast<size_t>(l) < groups.size()) groups[static_cast<size_t>(l)].push_back(i);
  }
  // Quotas: equal shares; a class with too few images gives all it has and the rest is
  // shared among the others; a remainder goes to the lowest labels.
  std::vector<size_t> quota(groups.size(), 0);
  size_t available = 0;
  for (const auto& g : groups) available += g.size();
  size_t remaining = std::min(static_cast<size_t>(n), available);
  for (;;) {
    std::vector<size_t> active;
    for (size_t c = 0; c < groups.size(); ++c)
      if (quota[c] < groups[c].size()) active.push_back(c);
    if (remaining == 0 || active.empty()) break;
    const size_t share = remaining / active.size();
    if (share == 0) {
      for (size_t k = 0; k < remaining; ++k) ++quota[active[k]];
      break;
    }
    for (size_t c : active) {
      const size_t give = std::min(share, groups[c].size() - quota[c]);
      quota[c] += give;
      remaining -= give;
    }
  }
  std::vector<size_t> chosen;
  chosen.reserve(static_cast<size_t>(n));
  for (size_t c = 0; c < groups.size(); ++c) {
    auto& g = groups[c];
    Rng rng(stream_seed(seed, 0x5b5e7ULL, c));
    for (size_t k = 0; k < quota[c]; ++k) {  // partial Fisher-Yates
      const size_t j = k + static_cast<size_t>(uniform_index(rng, g.size() - k));
      std::swap(g[k], g[j]);
      chosen.push_back(g[k]);
    }
  }
  std::sort(chosen.begin(), chosen.end());
  return std::make_shared<SubsetDataset>(std::move(parent), std::move(chosen));
}

std::shared_ptr<const Dataset> rows_of(std::shared_ptr<const Dataset> parent, std::vector<size_t> indices) {
  PROTOCLR_CHECK(parent, "rows_of: no dataset");
  for (size_t i : indices) PROTOCLR_CHECK(i < parent->size(), "rows_of: row ", i, " of a dataset of ", parent->size());
  return std::make_shared<SubsetDataset>(std::move(parent), std::move(indices));
}

std::shared_ptr<const Dataset> row_range(std::shared_ptr<const Dataset> parent, int64_t begin, int64_t end) {
  PROTOCLR_CHECK(parent, "row_range: no dataset");
  const auto n = static_cast<int64_t>(parent->size());
  PROTOCLR_CHECK(0 <= begin && begin <= end && end <= n, "row_range: rows [", begin, ", ", end,
                 ") are outside the dataset's ", n);
  if (begin == 0 && end == n) return parent;
  std::vector<size_t> rows(static_cast<size_t>(end - begin));
  std::iota(rows.begin(), rows.end(), static_cast<size_t>(begin));
  return std::make_shared<SubsetDataset>(std::move(parent), std::move(rows));
}

}  // namespace protoclr::data
