#pragma once
/// Making and refreshing a collection's index (`protoclr index [--update]`): every readable
/// image embedded once; on an update only the new and changed files.
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "protoclr/data/dataset.h"
#include "protoclr/features/extract.h"
#include "protoclr/model/resnet.h"
#include "protoclr/search/index.h"

namespace protoclr::search {

/// An index built, and what it took.
struct IndexBuild {
  CollectionIndex index;
  int64_t embedded = 0;  ///< images run through the network
  int64_t kept = 0;      ///< rows carried over from the previous index
  int64_t removed = 0;   ///< files of the previous index no longer in the collection
  std::vector<std::string> unreadable;  ///< files left out (named once each, data/unreadable.h)
  double seconds = 0;    ///< embedding time
};

/// The absolute, lexically normal form of `path`: how an index names files, so a query
/// typed from another folder still finds its row.
std::string collection_path(const std::string& path);

/// Embeds `dataset` through `encoder` with `options` (unit rows, as features::extract_features
/// gives them) into an index carrying `recipe`. With `previous`, a file whose path, size and
/// modification time are unchanged keeps its embedding; the others are embedded. The index's
/// rows follow the dataset's order, the unreadable images left out.
IndexBuild build_index(model::ResNet& encoder, const features::ExtractOptions& options,
                       const std::shared_ptr<const data::Dataset>& dataset, nlohmann::json recipe,
                       const IndexOptions& index_options = {}, const CollectionIndex* previous = nullptr);

}  // namespace protoclr::search
