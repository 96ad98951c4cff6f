#include "protoclr/run/metrics.h"

#include <filesystem>
#include <fstream>

#include "protoclr/core/error.h"
#include "protoclr/core/fs.h"

namespace protoclr::run {
namespace fs = std::filesystem;

std::string metrics_path(const std::string& run_dir) { return (fs::path(run_dir) / "metrics.jsonl").string(); }

std::vector<nlohmann::json> read_metrics(const std::string& run_dir) {
  const std::string path = metrics_path(run_dir);
  std::ifstream in(path);
  PROTOCLR_CHECK(in, "no metrics in '", run_dir, "' (", path, " is missing: is it a run folder?)");
  std::vector<nlohmann::json> out;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    try {
      out.push_back(nlohmann::json::parse(line));
    } catch (const std::exception&) {
      throw Error(path + ":" + std::to_string(n) + " is not a JSON line");
    }
  }
  return out;
}

void truncate_metrics(const std::string& run_dir, int64_t epochs_done) {
  const std::string path = metrics_path(run_dir);
  if (!fs::exists(path)) return;
  std::ifstream in(path);
  std::string line, kept;
  while (std::getline(in, line)) {
    try {
      if (nlohmann::json::parse(line).value("epoch", int64_t{0}) <= epochs_done) kept += line + "\n";
    } catch (const std::exception&) {
      // A line cut short by a kill: drop it.
    }
  }
  write_file_atomic(path, kept);
}

}  // namespace protoclr::run
