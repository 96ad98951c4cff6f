// List files ("list-file"): a text file of `relative/path label` lines (paths relative to the
// file or absolute; '#' starts a comment line), protoclr's own format, specified with
// open_dataset in include/protoclr/data/dataset.h.
#include <algorithm>
#include <cctype>

#include "formats.h"
#include "protoclr/core/error.h"
#include "protoclr/core/fs.h"

namespace protoclr::data::detail {
namespace fs = std::filesystem;

std::shared_ptr<Dataset> open_list_file(const std::string& path, const DatasetOptions& options) {
  const std::vector<uint8_t> bytes = read_file(path);
  PROTOCLR_CHECK(std::find(bytes.begin(), bytes.end(), 0) == bytes.end(), "'", path,
                 "' is neither a folder nor a text list file of 'relative/path label' lines (pass a dataset folder)");
  const std::string text(bytes.begin(), bytes.end());
  const fs::path base = fs::path(path).parent_path();
  std::vector<std::string> files;
  std::vector<int64_t> labels;
  int64_t max_label = -1;
  for (const auto& [line_no, line] : text_lines(text)) {
    if (line[0] == '#') continue;
    const size_t sp = line.find_last_of(" \t");
    PROTOCLR_CHECK(sp != std::string::npos, "'", path, "' line ", line_no, ": expected 'relative/path label', got '",
                   line, "'");
    const std::string token = line.substr(sp + 1);
    const std::string rel = trim(line.substr(0, sp));
    const bool digits = !token.empty() && token.size() <= 12 &&
                        std::all_of(token.begin(), token.end(), [](unsigned char c) { return std::isdigit(c); });
    PROTOCLR_CHECK(digits, "'", path, "' line ", line_no, ": label '", token,
                   "' is not a non-negative integer (expected 'relative/path label')");
    const int64_t label = std::stoll(token);
    const fs::path p(rel);
    files.push_back(p.is_absolute() ? p.string() : (base / p).string());
    labels.push_back(label);
    max_label = std::max(max_label, label);
  }
  PROTOCLR_CHECK(!files.empty(), "no images listed in '", path, "': expected lines of 'relative/path label'");
  std::vector<std::string> classes;
  for (int64_t c = 0; c <= max_label; ++c) classes.push_back(std::to_string(c));
  std::vector<std::string> skipped;
  if (options.verify_headers) {
    skipped = verify_files(files, labels);
    PROTOCLR_CHECK(!files.empty(), "no readable images in '", path, "': all ", skipped.size(),
                   " listed image(s) failed to decode (first: ", skipped.front(), "); check the paths");
  }
  return make_file_dataset("list-file", std::move(files), std::move(labels), std::move(classes),
                           std::move(skipped));
}

}  // namespace protoclr::data::detail
