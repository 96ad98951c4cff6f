#pragma once
// Reading a run's JSON-lines files (metrics.jsonl, environment.jsonl) in tests, and comparing
// two runs' records without the figures that depend on the clock.
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace protoclr::test_support {

/// Every line of `path`, parsed.
inline std::vector<nlohmann::json> read_json_lines(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::vector<nlohmann::json> out;
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

/// A metrics.jsonl record without the figures that depend on the clock.
inline nlohmann::json without_timing(nlohmann::json record) {
  for (const char* key : {"img_per_s", "settled_img_per_s", "train_seconds", "estep_seconds",
                          "estep_feature_seconds", "kmeans_seconds"})
    record.erase(key);
  return record;
}

}  // namespace protoclr::test_support
