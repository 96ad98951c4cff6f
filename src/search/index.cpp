#include "protoclr/search/index.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/index_io.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <random>
#include <sstream>
#include <unordered_map>

#include "protoclr/core/error.h"
#include "protoclr/core/fs.h"
#include "protoclr/eval/npy.h"

namespace protoclr::search {
namespace fs = std::filesystem;
namespace {

constexpr const char* kFormat = "protoclr-index";
constexpr int kVersion = 1;

/// A name no earlier save used: the data files of one save carry it.
std::string new_generation() {
  std::random_device device;
  const auto now = std::chrono::system_clock::now().time_since_epoch().count();
  std::ostringstream out;
  out << std::hex << (static_cast<uint64_t>(now) ^ (static_cast<uint64_t>(device()) << 32));
  return out.str();
}

std::unique_ptr<faiss::Index> make_search_structure(SearchStructure structure, const IndexOptions& options,
                                                    int64_t dim) {
  if (structure == SearchStructure::kExact) return std::make_unique<faiss::IndexFlatIP>(dim);
  auto hnsw = std::make_unique<faiss::IndexHNSWFlat>(static_cast<int>(dim), options.hnsw_links,
                                                     faiss::METRIC_INNER_PRODUCT);
  hnsw->hnsw.efConstruction = options.hnsw_ef_construction;
  hnsw->hnsw.efSearch = options.hnsw_ef_search;
  return hnsw;
}

const char* structure_name(SearchStructure s) { return s == SearchStructure::kExact ? "exact" : "hnsw"; }

}  // namespace

CollectionFile stat_file(const std::string& path) {
  CollectionFile file;
  file.path = path;
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
    file.bytes = static_cast<int64_t>(st.st_size);
    file.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  }
  return file;
}

struct CollectionIndex::Impl {
  std::vector<CollectionFile> files;
  torch::Tensor embeddings;
  nlohmann::json recipe;
  IndexOptions options;
  SearchStructure structure = SearchStructure::kExact;
  std::unique_ptr<faiss::Index> index;
  std::unordered_map<std::string, int64_t> rows;

  void finish() {
    rows.clear();
    for (size_t i = 0; i < files.size(); ++i) rows.emplace(files[i].path, static_cast<int64_t>(i));
  }
};

CollectionIndex::CollectionIndex(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CollectionIndex::~CollectionIndex() = default;
CollectionIndex::CollectionIndex(CollectionIndex&&) noexcept = default;
CollectionIndex& CollectionIndex::operator=(CollectionIndex&&) noexcept = default;

CollectionIndex::CollectionIndex(std::vector<CollectionFile> files, torch::Tensor embeddings, nlohmann::json recipe,
                                 const IndexOptions& options)
    : impl_(std::make_unique<Impl>()) {
  PROTOCLR_CHECK(embeddings.dim() == 2 && embeddings.size(0) == static_cast<int64_t>(files.size()),
                 "index: ", files.size(), " files but embeddings of shape ", embeddings.sizes());
  PROTOCLR_CHECK(embeddings.size(1) > 0, "index: embeddings of dimension 0");
  embeddings = embeddings.to(torch::kCPU, torch::kFloat).contiguous();
  const torch::Tensor norms = embeddings.norm(2, 1);
  PROTOCLR_CHECK(embeddings.size(0) == 0 || (norms.min().item<float>() > 0 && torch::isfinite(norms).all().item<bool>()),
                 "index: an embedding is zero or not finite (a broken network?)");
  impl_->files = std::move(files);
  impl_->embeddings = (embeddings / norms.unsqueeze(1)).contiguous();
  impl_->recipe = std::move(recipe);
  impl_->options = options;
  impl_->structure = size() <= options.exact_up_to ? SearchStructure::kExact : SearchStructure::kHnsw;
  impl_->index = make_search_structure(impl_->structure, options, dim());
  impl_->index->add(size(), impl_->embeddings.data_ptr<float>());
  impl_->finish();
}

int64_t CollectionIndex::size() const { return static_cast<int64_t>(impl_->files.size()); }
int64_t CollectionIndex::dim() const { return impl_->embeddings.size(1); }
const std::vector<CollectionFile>& CollectionIndex::files() const { return impl_->files; }
const torch::Tensor& CollectionIndex::embeddings() const { return impl_->embeddings; }
const nlohmann::json& CollectionIndex::recipe() const { return impl_->recipe; }
SearchStructure CollectionIndex::structure() const { return impl_->structure; }

std::string CollectionIndex::structure_reason() const {
  if (impl_->structure == SearchStructure::kExact)
    return detail::concat("exact (faiss IndexFlatIP): ", size(), " images are at most ", impl_->options.exact_up_to,
                          ", where comparing a query with every image is fast and never misses");
  return detail::concat("HNSW (faiss IndexHNSWFlat, M ", impl_->options.hnsw_links, ", efSearch ",
                        impl_->options.hnsw_ef_search, "): ", size(), " images are more than ",
                        impl_->options.exact_up_to, ", where an exact query would compare with every one of them");
}

std::optional<int64_t> CollectionIndex::row_of(const std::string& path) const {
  const auto it = impl_->rows.find(path);
  if (it == impl_->rows.end()) return std::nullopt;
  return it->second;
}

std::vector<std::vector<Neighbour>> CollectionIndex::search(const torch::Tensor& queries, int64_t k,
                                                            const std::vector<int64_t>& exclude) const {
  PROTOCLR_CHECK(k > 0, "search: the number of neighbours must be positive, got ", k);
  PROTOCLR_CHECK(queries.dim() == 2 && queries.size(1) == dim(), "search: queries of shape ", queries.sizes(),
                 " against an index of dimension ", dim());
  PROTOCLR_CHECK(exclude.empty() || exclude.size() == static_cast<size_t>(queries.size(0)),
                 "search: one excluded row per query");
  const int64_t q = queries.size(0);
  std::vector<std::vector<Neighbour>> out(static_cast<size_t>(q));
  if (q == 0 || size() == 0) return out;
  torch::Tensor x = queries.to(torch::kCPU, torch::kFloat);
  x = (x / x.norm(2, 1, true).clamp_min(1e-12)).contiguous();
  const int64_t want = std::min<int64_t>(k + (exclude.empty() ? 0 : 1), size());
  std::vector<float> scores(static_cast<size_t>(q * want));
  std::vector<int64_t> rows(static_cast<size_t>(q * want));
  impl_->index->search(q, x.data_ptr<float>(), want, scores.data(), rows.data());
  for (int64_t i = 0; i < q; ++i) {
    auto& list = out[static_cast<size_t>(i)];
    for (int64_t j = 0; j < want && static_cast<int64_t>(list.size()) < k; ++j) {
      const auto row = static_cast<int64_t>(rows[static_cast<size_t>(i * want + j)]);
      if (row < 0 || (!exclude.empty() && row == exclude[static_cast<size_t>(i)])) continue;
      list.push_back({row, scores[static_cast<size_t>(i * want + j)]});
    }
  }
  return out;
}

void CollectionIndex::save(const fs::path& dir) const {
  std::error_code error;
  fs::create_directories(dir, error);
  PROTOCLR_CHECK(!error, "cannot create the index folder '", dir.string(), "': ", error.message(),
                 " (choose another --out)");
  const std::string generation = new_generation();
  const std::string embeddings_name = "embeddings-" + generation + ".npy";
  const std::string files_name = "files-" + generation + ".jsonl";
  const std::string graph_name = "hnsw-" + generation + ".faiss";
  eval::write_npy((dir / embeddings_name).string(), impl_->embeddings);
  std::string lines;
  for (const auto& f : impl_->files) lines += nlohmann::json::array({f.path, f.bytes, f.mtime_ns}).dump() + "\n";
  write_file_atomic(dir / files_name, lines);
  if (impl_->structure == SearchStructure::kHnsw)
    write_file_atomic(dir / graph_name, [&](const fs::path& tmp) { faiss::write_index(impl_->index.get(), tmp.c_str()); });

  nlohmann::ordered_json header;
  header["format"] = kFormat;
  header["version"] = kVersion;
  header["images"] = size();
  header["dim"] = dim();
  header["recipe"] = impl_->recipe;
  header["search"] = {{"structure", structure_name(impl_->structure)},
                      {"why", structure_reason()},
                      {"exact_up_to", impl_->options.exact_up_to},
                      {"hnsw_links", impl_->options.hnsw_links},
                      {"hnsw_ef_construction", impl_->options.hnsw_ef_construction},
                      {"hnsw_ef_search", impl_->options.hnsw_ef_search}};
  header["embeddings"] = embeddings_name;
  header["files"] = files_name;
  if (impl_->structure == SearchStructure::kHnsw) header["graph"] = graph_name;
  write_file_atomic(dir / "index.json", header.dump(2) + "\n");
  // The previous generations' files: index.json no longer names them.
  for (const auto& entry : fs::directory_iterator(dir, error)) {
    const std::string name = entry.path().filename().string();
    const bool data_file = name.rfind("embeddings-", 0) == 0 || name.rfind("files-", 0) == 0 || name.rfind("hnsw-", 0) == 0;
    if (data_file && name != embeddings_name && name != files_name && name != graph_name) fs::remove(entry.path(), error);
  }
}

CollectionIndex CollectionIndex::load(const fs::path& dir) {
  const fs::path header_path = dir / "index.json";
  PROTOCLR_CHECK(fs::is_regular_file(header_path), "'", dir.string(),
                 "' is not a protoclr index (no index.json): make one with `protoclr index`");
  nlohmann::json header;
  try {
    std::ifstream in(header_path);
    header = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    throw Error(detail::concat("'", header_path.string(), "' is not valid JSON (", e.what(),
                               "): rebuild the index with `protoclr index`"));
  }
  PROTOCLR_CHECK(header.value("format", "") == kFormat, "'", header_path.string(), "' is not a protoclr index");
  PROTOCLR_CHECK(header.value("version", 0) == kVersion, "'", header_path.string(), "' is index version ",
                 header.value("version", 0), "; this protoclr reads version ", kVersion, ": rebuild it");
  auto impl = std::make_unique<Impl>();
  try {
    impl->recipe = header.at("recipe");
    const auto& s = header.at("search");
    impl->options.exact_up_to = s.at("exact_up_to").get<int64_t>();
    impl->options.hnsw_links = s.at("hnsw_links").get<int>();
    impl->options.hnsw_ef_construction = s.at("hnsw_ef_construction").get<int>();
    impl->options.hnsw_ef_search = s.at("hnsw_ef_search").get<int>();
    impl->structure = s.at("structure").get<std::string>() == "hnsw" ? SearchStructure::kHnsw : SearchStructure::kExact;
    impl->embeddings = eval::read_npy((dir / header.at("embeddings").get<std::string>()).string());
    std::ifstream files(dir / header.at("files").get<std::string>());
    PROTOCLR_CHECK(files.good(), "'", dir.string(), "': the file list ", header.at("files").get<std::string>(),
                   " is missing: rebuild the index");
    std::string line;
    while (std::getline(files, line)) {
      if (line.empty()) continue;
      const auto row = nlohmann::json::parse(line);
      impl->files.push_back({row.at(0).get<std::string>(), row.at(1).get<int64_t>(), row.at(2).get<int64_t>()});
    }
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(detail::concat("'", dir.string(), "' is a damaged index (", e.what(), "): rebuild it with `protoclr index`"));
  }
  const int64_t n = header.value("images", int64_t{-1});
  PROTOCLR_CHECK(impl->embeddings.dim() == 2 && impl->embeddings.scalar_type() == torch::kFloat &&
                     impl->embeddings.size(0) == n && static_cast<int64_t>(impl->files.size()) == n,
                 "'", dir.string(), "' is inconsistent (", n, " images, ", impl->files.size(), " files, embeddings ",
                 impl->embeddings.sizes(), "): rebuild it with `protoclr index`");
  const int64_t d = impl->embeddings.size(1);
  if (impl->structure == SearchStructure::kHnsw) {
    const fs::path graph = dir / header.value("graph", std::string());
    PROTOCLR_CHECK(fs::is_regular_file(graph), "'", dir.string(), "': the HNSW graph ", graph.filename().string(),
                   " is missing: rebuild the index");
    impl->index.reset(faiss::read_index(graph.c_str()));
    PROTOCLR_CHECK(impl->index->ntotal == n && impl->index->d == d, "'", graph.string(),
                   "' does not match the embeddings: rebuild the index");
    if (auto* hnsw = dynamic_cast<faiss::IndexHNSW*>(impl->index.get())) hnsw->hnsw.efSearch = impl->options.hnsw_ef_search;
  } else {
    impl->index = make_search_structure(SearchStructure::kExact, impl->options, d);
    impl->index->add(n, impl->embeddings.data_ptr<float>());
  }
  impl->finish();
  return CollectionIndex(std::move(impl));
}

UpdatePlan plan_update(const std::vector<CollectionFile>& indexed, const std::vector<CollectionFile>& current) {
  std::unordered_map<std::string, int64_t> rows;
  for (size_t i = 0; i < indexed.size(); ++i) rows.emplace(indexed[i].path, static_cast<int64_t>(i));
  UpdatePlan plan;
  plan.indexed_row.assign(current.size(), -1);
  std::vector<uint8_t> still_there(indexed.size(), 0);
  for (size_t i = 0; i < current.size(); ++i) {
    const auto it = rows.find(current[i].path);
    if (it != rows.end()) still_there[static_cast<size_t>(it->second)] = 1;
    // A record without a file of its own (bytes -1) cannot be checked: embedded again.
    if (it != rows.end() && current[i].bytes >= 0 && indexed[static_cast<size_t>(it->second)] == current[i]) {
      plan.indexed_row[i] = it->second;
      ++plan.kept;
    } else {
      ++plan.to_embed;
    }
  }
  plan.removed = static_cast<int64_t>(std::count(still_there.begin(), still_there.end(), 0));
  return plan;
}

}  // namespace protoclr::search
