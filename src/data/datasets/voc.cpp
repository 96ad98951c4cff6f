// PASCAL VOC devkit ("voc", VOC2007 classification): multi-label, difficult-aware. Layout
// and the ImageSets/Main/<class>_<split>.txt lines are specified in the VOC2007 development
// kit documentation (http://host.robots.ox.ac.uk/pascal/VOC/voc2007/, devkit_doc.pdf).
#include <cstddef>
#include <map>
#include <sstream>

#include "formats.h"
#include "protoclr/core/error.h"

namespace protoclr::data::detail {
namespace fs = std::filesystem;
namespace {

const std::vector<std::string> kVocClasses = {
    "aeroplane", "bicycle", "bird",  "boat",      "bottle", "bus",         "car",   "cat",  "chair", "cow",
    "diningtable", "dog",   "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor"};

class VocDataset final : public Dataset {
 public:
  VocDataset(std::vector<std::string> paths, std::vector<int8_t> sets, std::vector<std::string> skipped)
      : paths_(std::move(paths)), sets_(std::move(sets)), skipped_(std::move(skipped)) {}
  size_t size() const override { return paths_.size(); }
  const std::vector<std::string>& classes() const override { return kVocClasses; }
  int64_t label(size_t) const override { return -1; }
  bool multi_label() const override { return true; }
  std::vector<int8_t> label_set(size_t i) const override {
    PROTOCLR_CHECK(i < paths_.size(), "image index ", i, " out of range (", paths_.size(), " images)");
    const auto first = sets_.begin() + static_cast<std::ptrdiff_t>(i * kVocClasses.size());
    return std::vector<int8_t>(first, first + static_cast<std::ptrdiff_t>(kVocClasses.size()));
  }
  DecodedImage load(size_t i, const ScalePlan& plan) const override {
    thread_local std::vector<uint8_t> buf;
    const std::string& path = paths_.at(i);
    const size_t n = read_into(path, buf, 0, nullptr);
    return decode_image(buf.data(), n, path, plan);
  }
  std::string name(size_t i) const override { return paths_.at(i); }
  std::string format() const override { return "voc"; }
  const std::vector<std::string>& skipped() const override { return skipped_; }

 private:
  std::vector<std::string> paths_;
  std::vector<int8_t> sets_;  // [N, 20]
  std::vector<std::string> skipped_;
};

}  // namespace

fs::path find_voc_root(const std::string& dir) {
  for (const fs::path& base : {fs::path(dir), fs::path(dir) / "VOC2007", fs::path(dir) / "VOCdevkit" / "VOC2007"})
    if (is_dir(base / "JPEGImages") && is_dir(base / "ImageSets" / "Main")) return base;
  return {};
}

std::shared_ptr<Dataset> open_voc(const fs::path& root, const DatasetOptions& options) {
  const std::string& split = options.split;
  PROTOCLR_CHECK(split == "train" || split == "val" || split == "trainval" || split == "test",
                 "--split for the VOC devkit '", root.string(), "' must be train, val, trainval or test, got '", split,
                 "'");
  const fs::path main = root / "ImageSets" / "Main";
  const size_t num_classes = kVocClasses.size();
  std::vector<std::string> ids;
  std::map<std::string, size_t> row_of;
  auto add_id = [&](const std::string& id, const fs::path& file, size_t line_no) {
    PROTOCLR_CHECK(row_of.emplace(id, ids.size()).second, "'", file.string(), "' line ", line_no, ": image '", id,
                   "' is listed twice (re-download the devkit)");
    ids.push_back(id);
  };
  const fs::path list = main / (split + ".txt");
  if (is_file(list)) {
    for (const auto& [line_no, line] : text_lines(list)) {
      PROTOCLR_CHECK(line.find_first_of(" \t") == std::string::npos, "'", list.string(), "' line ", line_no,
                     ": expected one image id, got '", line, "'");
      add_id(line, list, line_no);
    }
  }
  std::vector<int8_t> sets;
  for (size_t c = 0; c < num_classes; ++c) {
    const fs::path file = main / (kVocClasses[c] + "_" + split + ".txt");
    PROTOCLR_CHECK(is_file(file), "VOC devkit '", root.string(), "' lacks '", file.string(), "' (the ", split,
                   " labels of class ", kVocClasses[c], "); re-download the devkit or pick another --split");
    const auto lines = text_lines(file);
    if (c == 0 && ids.empty())
      for (const auto& [line_no, line] : lines) add_id(line.substr(0, line.find_first_of(" \t")), file, line_no);
    if (c == 0) sets.assign(ids.size() * num_classes, 2);  // 2 = not yet seen
    for (const auto& [line_no, line] : lines) {
      std::istringstream in(line);
      std::string id, value, extra;
      in >> id >> value;
      const bool ok = !id.empty() && (value == "1" || value == "0" || value == "-1") && !(in >> extra);
      PROTOCLR_CHECK(ok, "'", file.string(), "' line ", line_no, ": expected '<image id> <1|0|-1>', got '", line, "'");
      const auto it = row_of.find(id);
      PROTOCLR_CHECK(it != row_of.end(), "'", file.string(), "' line ", line_no, ": image '", id, "' is not in the ",
                     split, " split (", is_file(list) ? list.string() : "the first class file", ")");
      int8_t& slot = sets[it->second * num_classes + c];
      PROTOCLR_CHECK(slot == 2, "'", file.string(), "' line ", line_no, ": image '", id, "' is listed twice");
      slot = static_cast<int8_t>(std::stoi(value));
    }
    for (size_t r = 0; r < ids.size(); ++r)
      PROTOCLR_CHECK(sets[r * num_classes + c] != 2, "'", file.string(), "' has no label for image '", ids[r],
                     "' of the ", split, " split (re-download the devkit)");
  }
  PROTOCLR_CHECK(!ids.empty(), "VOC devkit '", root.string(), "': the ", split, " split lists no images");
  std::vector<std::string> paths;
  std::vector<int64_t> rows;
  for (size_t r = 0; r < ids.size(); ++r) {
    paths.push_back((root / "JPEGImages" / (ids[r] + ".jpg")).string());
    rows.push_back(static_cast<int64_t>(r));
  }
  std::vector<std::string> skipped;
  if (options.verify_headers) {
    skipped = verify_files(paths, rows);
    PROTOCLR_CHECK(!paths.empty(), "no readable images in '", (root / "JPEGImages").string(), "': all ",
                   skipped.size(), " image(s) failed to decode (first: ", skipped.front(), "); re-download the devkit");
    std::vector<int8_t> kept;
    kept.reserve(rows.size() * num_classes);
    for (int64_t r : rows)
      kept.insert(kept.end(), sets.begin() + static_cast<std::ptrdiff_t>(r * num_classes),
                  sets.begin() + static_cast<std::ptrdiff_t>((r + 1) * num_classes));
    sets = std::move(kept);
  }
  return std::make_shared<VocDataset>(std::move(paths), std::move(sets), std::move(skipped));
}

}  // namespace protoclr::data::detail
