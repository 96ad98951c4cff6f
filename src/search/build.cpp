#include "protoclr/search/build.h"

#include <filesystem>

#include "protoclr/core/error.h"

namespace protoclr::search {

std::string collection_path(const std::string& path) {
  std::error_code error;
  const auto absolute = std::filesystem::absolute(path, error);
  return (error ? std::filesystem::path(path) : absolute).lexically_normal().string();
}

IndexBuild build_index(model::ResNet& encoder, const features::ExtractOptions& options,
                       const std::shared_ptr<const data::Dataset>& dataset, nlohmann::json recipe,
                       const IndexOptions& index_options, const CollectionIndex* previous) {
  const size_t n = dataset->size();
  std::vector<CollectionFile> current(n);
  for (size_t i = 0; i < n; ++i) {
    current[i] = stat_file(dataset->name(i));
    current[i].path = collection_path(current[i].path);
  }
  UpdatePlan plan;
  if (previous) plan = plan_update(previous->files(), current);
  else plan.indexed_row.assign(n, -1);
  std::vector<size_t> to_embed;
  for (size_t i = 0; i < n; ++i)
    if (plan.indexed_row[i] < 0) to_embed.push_back(i);

  IndexBuild out{CollectionIndex({}, torch::zeros({0, 1}), nullptr), 0, 0, 0, {}, 0};
  out.kept = static_cast<int64_t>(n - to_embed.size());
  out.removed = plan.removed;
  torch::Tensor fresh;       // [E', D]: the embedded images that could be read
  std::vector<uint8_t> readable(n, 1);
  std::vector<int64_t> fresh_row(n, -1);
  if (!to_embed.empty()) {
    const auto features = features::extract_features(encoder, data::rows_of(dataset, to_embed), options);
    fresh = features.features;
    out.embedded = static_cast<int64_t>(to_embed.size());
    out.seconds = features.seconds;
    for (size_t e : to_embed) readable[e] = 0;
    const int64_t* rows = features.rows.data_ptr<int64_t>();
    for (int64_t r = 0; r < features.rows.numel(); ++r) {
      const size_t i = to_embed[static_cast<size_t>(rows[r])];
      readable[i] = 1;
      fresh_row[i] = r;
    }
  }
  for (const auto& name : dataset->skipped()) out.unreadable.push_back(collection_path(name));  // at open
  // Rows in dataset order: kept ones from the previous index, the rest from `fresh`.
  std::vector<CollectionFile> files;
  std::vector<int64_t> kept_at, kept_from, fresh_at, fresh_from;  // index rows and where each comes from
  for (size_t i = 0; i < n; ++i) {
    if (!readable[i]) {
      out.unreadable.push_back(current[i].path);
      continue;
    }
    const auto at = static_cast<int64_t>(files.size());
    files.push_back(current[i]);
    if (plan.indexed_row[i] >= 0) {
      kept_at.push_back(at);
      kept_from.push_back(plan.indexed_row[i]);
    } else {
      fresh_at.push_back(at);
      fresh_from.push_back(fresh_row[i]);
    }
  }
  const int64_t dim = fresh.defined() && fresh.size(0) > 0 ? fresh.size(1) : (previous ? previous->dim() : 1);
  PROTOCLR_CHECK(!previous || !fresh.defined() || fresh.size(0) == 0 || fresh.size(1) == previous->dim(),
                 "index update: the network gives ", dim, "-d embeddings, the index holds ", previous->dim(),
                 "-d ones (rebuild it without --update)");
  torch::Tensor embeddings = torch::empty({static_cast<int64_t>(files.size()), dim});
  auto place = [&](const std::vector<int64_t>& at, const std::vector<int64_t>& from, const torch::Tensor& rows) {
    if (at.empty()) return;
    embeddings.index_copy_(0, torch::tensor(at, torch::kLong), rows.index_select(0, torch::tensor(from, torch::kLong)));
  };
  if (previous) place(kept_at, kept_from, previous->embeddings());
  if (fresh.defined()) place(fresh_at, fresh_from, fresh);
  out.index = CollectionIndex(std::move(files), embeddings, std::move(recipe), index_options);
  return out;
}

}  // namespace protoclr::search
