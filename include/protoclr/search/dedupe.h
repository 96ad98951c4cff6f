#pragma once
/// Near-duplicates in an indexed collection (`protoclr dedupe`): images whose embeddings are
/// almost the same direction, such as re-encoded, resized or lightly cropped copies.
#include <cstdint>
#include <utility>
#include <vector>

#include "protoclr/search/index.h"

namespace protoclr::search {

struct DedupeOptions {
  /// Two images are near-duplicates when their cosine similarity is at least this. 0.99 had
  /// the best F1 of 0.8..0.995 on CIFAR-10's test set with 200 synthetic copies
  /// (bench/photo_collection.py, docs/BENCHMARKS.md): precision 0.90, recall 0.52, every
  /// re-encoded and resized copy found, crops missed. Below it, groups chain into hundreds.
  float threshold = 0.99f;
  /// Each image's this-many nearest neighbours are examined: a group larger than this is
  /// still found whole, through its members' lists.
  int64_t neighbours = 16;
};

/// A set of images joined by near-duplicate pairs.
struct DuplicateGroup {
  std::vector<int64_t> rows;  ///< index rows, ascending
  float lowest = 1;           ///< the weakest pair's cosine that joined the group
};

/// The near-duplicate pairs (a < b, each once, by cosine, best first).
std::vector<std::pair<int64_t, int64_t>> near_duplicate_pairs(const CollectionIndex& index, const DedupeOptions& options,
                                                              std::vector<float>* scores = nullptr);

/// Groups: the pairs joined transitively (union-find), groups of two or more, largest first
/// (ties by first row).
std::vector<DuplicateGroup> near_duplicates(const CollectionIndex& index, const DedupeOptions& options = {});

}  // namespace protoclr::search
