#pragma once
/// A photo collection made searchable (`protoclr index`, `search`, `dedupe`): the
/// L2-normalised embeddings of every readable image, the files they came from (with size and
/// modification time, so an update embeds only what changed), the network and preprocessing
/// that made them (a query is embedded the same way), and a faiss index for cosine search.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace protoclr::search {

/// One image of a collection, as an update compares it.
struct CollectionFile {
  std::string path;       ///< as the dataset names it
  int64_t bytes = -1;     ///< size on disk; -1 when it is not a file of its own (an IDX record)
  int64_t mtime_ns = -1;  ///< last modification, ns since the epoch; -1 likewise
  bool operator==(const CollectionFile& other) const {
    return path == other.path && bytes == other.bytes && mtime_ns == other.mtime_ns;
  }
};

/// `path`'s size and modification time now (-1 for both when it is not a regular file).
CollectionFile stat_file(const std::string& path);

/// How neighbours are found.
enum class SearchStructure {
  kExact,  ///< faiss IndexFlatIP: every query against every image
  kHnsw,   ///< faiss IndexHNSWFlat (inner product): a graph walk, approximate
};

struct IndexOptions {
  /// Up to this many images, search is exact: a query costs N x D multiply-adds and is never
  /// wrong (bench/bench_search, 2 cores: 8 ms at N = 50,000, D = 128; a dedupe pass 22 s).
  /// Above it, HNSW: a query costs about log N graph steps (3.2 ms at 50,000), where an
  /// exact one grows with N (about 160 ms at a million) and a dedupe pass with N squared.
  /// HNSW is approximate: recall@10 0.855 on random directions, its hard case.
  int64_t exact_up_to = 200'000;
  int hnsw_links = 32;            ///< HNSW's M: links per node
  int hnsw_ef_construction = 80;  ///< candidates kept while building
  int hnsw_ef_search = 128;       ///< candidates kept while searching
};

/// One neighbour of a query.
struct Neighbour {
  int64_t row = -1;  ///< the index row (files()[row])
  float score = 0;   ///< cosine similarity, in [-1, 1]
};

class CollectionIndex {
 public:
  /// `embeddings` [N, D] (normalised to unit length here; rows of zeros refused), one row per
  /// entry of `files`. `recipe` is kept as given: the network and preprocessing (JSON), for
  /// whoever embeds queries.
  CollectionIndex(std::vector<CollectionFile> files, torch::Tensor embeddings, nlohmann::json recipe,
                  const IndexOptions& options = {});
  ~CollectionIndex();
  CollectionIndex(CollectionIndex&&) noexcept;
  CollectionIndex& operator=(CollectionIndex&&) noexcept;

  /// Reads an index folder that save() wrote. Throws Error naming the folder and what to do
  /// when it is missing, of another format, or inconsistent.
  static CollectionIndex load(const std::filesystem::path& dir);
  /// Writes index.json, files.jsonl, embeddings.npy and (HNSW) index.faiss into `dir`.
  /// Crash-safe: the data files carry a new generation in their names and index.json, which
  /// names them, is renamed into place last; a kill leaves the previous index whole.
  void save(const std::filesystem::path& dir) const;

  int64_t size() const;
  int64_t dim() const;
  const std::vector<CollectionFile>& files() const;
  const torch::Tensor& embeddings() const;  ///< [N, D] float32, unit rows
  const nlohmann::json& recipe() const;
  SearchStructure structure() const;
  /// One sentence: which structure and why (saved in index.json, printed by `index`).
  std::string structure_reason() const;
  /// The row of the file named `path` (as files() names it), if indexed.
  std::optional<int64_t> row_of(const std::string& path) const;

  /// The k nearest rows of each query [Q, D] (normalised here) by cosine, best first. Where
  /// exclude[q] >= 0, that row is left out of query q's list (a query from the collection
  /// does not find itself). Fewer than k when the index holds fewer.
  std::vector<std::vector<Neighbour>> search(const torch::Tensor& queries, int64_t k,
                                             const std::vector<int64_t>& exclude = {}) const;

 private:
  struct Impl;
  explicit CollectionIndex(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// What an update does with a collection that changed since `indexed` was built: for each
/// file of `current`, the row of `indexed` whose embedding still holds (same path, size and
/// time), or -1 when it must be embedded (new or changed).
struct UpdatePlan {
  std::vector<int64_t> indexed_row;  ///< per current file
  int64_t kept = 0;
  int64_t to_embed = 0;
  int64_t removed = 0;  ///< indexed files no longer in the collection
};
UpdatePlan plan_update(const std::vector<CollectionFile>& indexed, const std::vector<CollectionFile>& current);

}  // namespace protoclr::search
