#pragma once
/// A run folder's metrics.jsonl: one JSON object per finished epoch, flushed line by line
/// so a killed run keeps every finished record.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace protoclr::run {

/// RUN/metrics.jsonl.
std::string metrics_path(const std::string& run_dir);

/// Every line of RUN/metrics.jsonl, in order; throws Error naming the file and line when one
/// is not JSON.
std::vector<nlohmann::json> read_metrics(const std::string& run_dir);

/// Keeps the records of epochs <= `epochs_done` and drops the rest, and a last line cut short
/// by a kill: a resumed run rewrites what follows its checkpoint. Rewrites the file
/// atomically; nothing to do when it does not exist.
void truncate_metrics(const std::string& run_dir, int64_t epochs_done);

}  // namespace protoclr::run
