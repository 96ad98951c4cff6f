#include "protoclr/search/dedupe.h"

#include <algorithm>
#include <numeric>
#include <tuple>

#include "protoclr/core/error.h"

namespace protoclr::search {

std::vector<std::pair<int64_t, int64_t>> near_duplicate_pairs(const CollectionIndex& index, const DedupeOptions& options,
                                                              std::vector<float>* scores) {
  PROTOCLR_CHECK(options.threshold > -1 && options.threshold <= 1, "--threshold must be a cosine in (-1, 1], got ",
                 options.threshold);
  PROTOCLR_CHECK(options.neighbours > 0, "--neighbours must be positive, got ", options.neighbours);
  const int64_t n = index.size();
  std::vector<int64_t> self(static_cast<size_t>(n));
  std::iota(self.begin(), self.end(), 0);
  std::vector<std::tuple<float, int64_t, int64_t>> found;
  // In blocks, so the neighbour lists of a large collection never sit in memory at once.
  constexpr int64_t kBlock = 4096;
  for (int64_t begin = 0; begin < n; begin += kBlock) {
    const int64_t end = std::min(n, begin + kBlock);
    const std::vector<int64_t> exclude(self.begin() + begin, self.begin() + end);
    const auto lists = index.search(index.embeddings().slice(0, begin, end), options.neighbours, exclude);
    for (int64_t i = begin; i < end; ++i)
      for (const auto& nb : lists[static_cast<size_t>(i - begin)])
        if (nb.score >= options.threshold) found.emplace_back(nb.score, std::min(i, nb.row), std::max(i, nb.row));
  }
  // A pair found from both sides is listed once.
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
    return std::tie(std::get<1>(a), std::get<2>(a)) < std::tie(std::get<1>(b), std::get<2>(b));
  });
  found.erase(std::unique(found.begin(), found.end(),
                          [](const auto& a, const auto& b) {
                            return std::get<1>(a) == std::get<1>(b) && std::get<2>(a) == std::get<2>(b);
                          }),
              found.end());
  std::stable_sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return std::get<0>(a) > std::get<0>(b); });
  std::vector<std::pair<int64_t, int64_t>> pairs;
  if (scores) scores->clear();
  for (const auto& [score, a, b] : found) {
    pairs.emplace_back(a, b);
    if (scores) scores->push_back(score);
  }
  return pairs;
}

std::vector<DuplicateGroup> near_duplicates(const CollectionIndex& index, const DedupeOptions& options) {
  std::vector<float> scores;
  const auto pairs = near_duplicate_pairs(index, options, &scores);
  std::vector<int64_t> parent(static_cast<size_t>(index.size()));
  std::iota(parent.begin(), parent.end(), 0);
  auto root = [&](int64_t x) {
    while (parent[static_cast<size_t>(x)] != x) x = parent[static_cast<size_t>(x)] = parent[static_cast<size_t>(parent[static_cast<size_t>(x)])];
    return x;
  };
  std::vector<float> lowest(parent.size(), 1.0f);
  for (size_t p = 0; p < pairs.size(); ++p) {
    const int64_t a = root(pairs[p].first), b = root(pairs[p].second);
    const float low = std::min({lowest[static_cast<size_t>(a)], lowest[static_cast<size_t>(b)], scores[p]});
    if (a != b) parent[static_cast<size_t>(std::max(a, b))] = std::min(a, b);
    lowest[static_cast<size_t>(std::min(a, b))] = low;
  }
  std::vector<std::vector<int64_t>> members(parent.size());
  for (int64_t i = 0; i < index.size(); ++i) members[static_cast<size_t>(root(i))].push_back(i);
  std::vector<DuplicateGroup> groups;
  for (size_t r = 0; r < members.size(); ++r)
    if (members[r].size() >= 2) groups.push_back({std::move(members[r]), lowest[r]});
  std::stable_sort(groups.begin(), groups.end(),
                   [](const DuplicateGroup& a, const DuplicateGroup& b) { return a.rows.size() > b.rows.size(); });
  return groups;
}

}  // namespace protoclr::search
