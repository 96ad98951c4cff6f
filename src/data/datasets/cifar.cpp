// CIFAR-10 and CIFAR-100 binary batches ("cifar10", "cifar100"): records of 1 (CIFAR-100:
// 2) label bytes and 3072 pixel bytes (R, G, B planes of 32x32), as specified under "Binary
// version" at https://www.cs.toronto.edu/~kriz/cifar.html.
#include <algorithm>

#include "formats.h"
#include "protoclr/core/error.h"
#include "protoclr/core/fs.h"
#include "protoclr/core/log.h"

namespace protoclr::data::detail {
namespace fs = std::filesystem;
namespace {

const std::vector<std::string> kCifar10Names = {"airplane", "automobile", "bird",  "cat",  "deer",
                                                "dog",      "frog",       "horse", "ship", "truck"};

class CifarDataset final : public Dataset {
 public:
  CifarDataset(std::string format, std::vector<std::string> files, std::vector<size_t> starts,
               std::vector<uint8_t> pixels, std::vector<int64_t> labels, std::vector<std::string> classes)
      : format_(std::move(format)), files_(std::move(files)), starts_(std::move(starts)),
        pixels_(std::move(pixels)), labels_(std::move(labels)), classes_(std::move(classes)) {}
  size_t size() const override { return labels_.size(); }
  const std::vector<std::string>& classes() const override { return classes_; }
  int64_t label(size_t i) const override { return labels_.at(i); }
  DecodedImage load(size_t i, const ScalePlan&) const override {
    PROTOCLR_CHECK(i < labels_.size(), "image index ", i, " out of range (", labels_.size(), " images)");
    DecodedImage out;
    out.full = {32, 32};
    out.rgb.create(32, 32, CV_8UC3);
    const uint8_t* r = pixels_.data() + i * 3072;
    const uint8_t* g = r + 1024;
    const uint8_t* b = r + 2048;
    uint8_t* d = out.rgb.data;  // freshly created: continuous
    for (int k = 0; k < 1024; ++k, d += 3) {
      d[0] = r[k];
      d[1] = g[k];
      d[2] = b[k];
    }
    return out;
  }
  std::string name(size_t i) const override {
    const size_t f = static_cast<size_t>(std::upper_bound(starts_.begin(), starts_.end(), i) - starts_.begin()) - 1;
    return files_.at(f) + "#" + std::to_string(i - starts_[f]);
  }
  std::string format() const override { return format_; }

 private:
  std::string format_;
  std::vector<std::string> files_;
  std::vector<size_t> starts_;
  std::vector<uint8_t> pixels_;  // [N, 3, 32, 32]
  std::vector<int64_t> labels_;
  std::vector<std::string> classes_;
};

std::vector<std::string> read_names(const fs::path& file, size_t count) {
  std::error_code ec;
  if (!fs::exists(file, ec)) return {};
  std::vector<std::string> names;
  for (auto& [line_no, line] : text_lines(file)) names.push_back(std::move(line));
  if (names.size() < count) {
    log::warn("'", file.string(), "' names ", names.size(), " classes, expected ", count, ": using numbers");
    return {};
  }
  names.resize(count);
  return names;
}

}  // namespace

std::shared_ptr<Dataset> open_cifar(bool cifar100, const std::vector<std::string>& files, const fs::path& meta_dir) {
  const size_t label_bytes = cifar100 ? 2 : 1;
  const size_t record = label_bytes + 3072;
  const int64_t num_classes = cifar100 ? 100 : 10;
  std::vector<uint8_t> pixels;
  std::vector<int64_t> labels;
  std::vector<size_t> starts;
  for (const auto& file : files) {
    const std::vector<uint8_t> bytes = read_file(file);
    PROTOCLR_CHECK(!bytes.empty() && bytes.size() % record == 0, "'", file, "' has ", bytes.size(),
                   " bytes, not a multiple of the ", record, "-byte ", cifar100 ? "CIFAR-100" : "CIFAR-10",
                   " record (truncated? re-download it)");
    const size_t n = bytes.size() / record;
    starts.push_back(labels.size());
    pixels.reserve(pixels.size() + n * 3072);
    for (size_t r = 0; r < n; ++r) {
      const uint8_t* rec = bytes.data() + r * record;
      const int64_t label = rec[label_bytes - 1];  // CIFAR-100: (coarse, fine); use fine
      PROTOCLR_CHECK(label < num_classes, "'", file, "' record ", r, " has label ", label, ", expected < ",
                     num_classes, " (re-download it)");
      labels.push_back(label);
      pixels.insert(pixels.end(), rec + label_bytes, rec + record);
    }
  }
  std::vector<std::string> classes =
      read_names(meta_dir / (cifar100 ? "fine_label_names.txt" : "batches.meta.txt"), num_classes);
  if (classes.empty()) {
    if (!cifar100) classes = kCifar10Names;
    else
      for (int64_t c = 0; c < num_classes; ++c) classes.push_back(std::to_string(c));
  }
  return std::make_shared<CifarDataset>(cifar100 ? "cifar100" : "cifar10", files, std::move(starts),
                                        std::move(pixels), std::move(labels), std::move(classes));
}

std::shared_ptr<Dataset> try_cifar_folder(const std::string& dir, const DatasetOptions& options) {
  for (const fs::path& base : {fs::path(dir), fs::path(dir) / "cifar-10-batches-bin"}) {
    if (!is_file(base / "data_batch_1.bin") && !is_file(base / "test_batch.bin")) continue;
    check_split(options);
    std::vector<std::string> files;
    if (options.split == "train") {
      for (int k = 1; k <= 5; ++k)
        if (is_file(base / ("data_batch_" + std::to_string(k) + ".bin")))
          files.push_back((base / ("data_batch_" + std::to_string(k) + ".bin")).string());
      if (!files.empty() && files.size() < 5)
        log::warn("'", base.string(), "' holds ", files.size(), " of the 5 CIFAR-10 training batches");
    } else if (is_file(base / "test_batch.bin")) {
      files.push_back((base / "test_batch.bin").string());
    }
    PROTOCLR_CHECK(!files.empty(), "no CIFAR-10 ", options.split, " batches in '", base.string(), "': expected ",
                   options.split == "train" ? "data_batch_1..5.bin" : "test_batch.bin", " (re-download the dataset)");
    return open_cifar(false, files, base);
  }
  for (const fs::path& base : {fs::path(dir), fs::path(dir) / "cifar-100-binary"}) {
    if (!is_file(base / "train.bin") && !is_file(base / "test.bin")) continue;
    check_split(options);
    const fs::path f = base / (options.split + ".bin");
    PROTOCLR_CHECK(is_file(f), "no CIFAR-100 ", options.split, " file in '", base.string(), "': expected ",
                   f.filename().string(), " (re-download the dataset)");
    return open_cifar(true, {f.string()}, base);
  }
  return nullptr;
}

}  // namespace protoclr::data::detail
