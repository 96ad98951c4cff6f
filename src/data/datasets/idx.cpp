// IDX files (MNIST, Fashion-MNIST; raw or gzip): `*-images-idx3-ubyte` with its
// `*-labels-idx1-ubyte` beside it. The format is specified at the end of
// http://yann.lecun.com/exdb/mnist/ (big-endian magic 0x803 / 0x801, then the dimensions).
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "../byte_order.h"
#include "formats.h"
#include "protoclr/core/error.h"
#include "protoclr/core/log.h"

namespace protoclr::data::detail {
namespace fs = std::filesystem;
namespace {

std::vector<uint8_t> read_maybe_gz(const std::string& path) {
  gzFile gz = gzopen(path.c_str(), "rb");
  PROTOCLR_CHECK(gz, "cannot open '", path, "': ", std::strerror(errno), " (check the path and permissions)");
  gzbuffer(gz, 1 << 17);
  std::vector<uint8_t> out;
  constexpr size_t kChunk = 1 << 20;
  for (;;) {
    const size_t at = out.size();
    out.resize(at + kChunk);
    const int r = gzread(gz, out.data() + at, static_cast<unsigned>(kChunk));
    if (r < 0) {
      int code = 0;
      const std::string msg = gzerror(gz, &code);
      gzclose(gz);
      throw Error("cannot read '" + path + "': " + msg + " (re-download the file)");
    }
    out.resize(at + static_cast<size_t>(r));
    if (r == 0) break;
  }
  int code = 0;
  const char* msg = gzerror(gz, &code);
  const std::string err = code != Z_OK && code != Z_BUF_ERROR ? msg : "";
  const bool truncated = code == Z_BUF_ERROR;
  gzclose(gz);
  PROTOCLR_CHECK(err.empty() && !truncated, "cannot read '", path, "': ", truncated ? "truncated gzip data" : err,
                 " (re-download the file)");
  return out;
}

const std::vector<std::string> kFashionNames = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

class IdxDataset final : public Dataset {
 public:
  IdxDataset(std::string images_path, std::vector<uint8_t> images, size_t offset, int rows, int cols,
             std::vector<int64_t> labels, std::vector<std::string> classes)
      : path_(std::move(images_path)), data_(std::move(images)), offset_(offset), rows_(rows), cols_(cols),
        labels_(std::move(labels)), classes_(std::move(classes)) {}
  size_t size() const override { return labels_.size(); }
  const std::vector<std::string>& classes() const override { return classes_; }
  int64_t label(size_t i) const override { return labels_.at(i); }
  DecodedImage load(size_t i, const ScalePlan&) const override {
    PROTOCLR_CHECK(i < labels_.size(), "image index ", i, " out of range for '", path_, "' (", labels_.size(),
                   " images)");
    DecodedImage out;
    out.full = {cols_, rows_};
    out.rgb.create(rows_, cols_, CV_8UC3);
    const uint8_t* s = data_.data() + offset_ + i * static_cast<size_t>(rows_) * cols_;
    for (int y = 0; y < rows_; ++y) {
      uint8_t* d = out.rgb.ptr<uint8_t>(y);
      for (int x = 0; x < cols_; ++x, ++s, d += 3) d[0] = d[1] = d[2] = *s;
    }
    return out;
  }
  std::string name(size_t i) const override { return path_ + "#" + std::to_string(i); }
  std::string format() const override { return "idx"; }

 private:
  std::string path_;
  std::vector<uint8_t> data_;
  size_t offset_;
  int rows_, cols_;
  std::vector<int64_t> labels_;
  std::vector<std::string> classes_;
};

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "0x%08x", v);
  return buf;
}

}  // namespace

std::shared_ptr<Dataset> open_idx_file(const std::string& images_path) {
  std::vector<uint8_t> img = read_maybe_gz(images_path);
  PROTOCLR_CHECK(img.size() >= 16, "'", images_path, "' is too short for an IDX images file (", img.size(),
                 " bytes; re-download it)");
  const uint32_t magic = be32(img.data());
  PROTOCLR_CHECK(magic == 0x00000803, "'", images_path, "' is not an IDX images file: magic ", hex32(magic),
                 ", expected 0x00000803 (re-download it)");
  const uint64_t n = be32(img.data() + 4), rows = be32(img.data() + 8), cols = be32(img.data() + 12);
  PROTOCLR_CHECK(rows > 0 && cols > 0 && rows <= (1u << 15) && cols <= (1u << 15), "'", images_path,
                 "': invalid IDX image size ", rows, "x", cols, " (re-download it)");
  PROTOCLR_CHECK(n > 0 && (img.size() - 16) / (rows * cols) >= n && img.size() - 16 == n * rows * cols, "'",
                 images_path, "' holds ", img.size() - 16, " bytes of pixels, expected ", n, " x ", rows, " x ",
                 cols, " (truncated? re-download it)");

  // Labels: the same name with images-idx3 -> labels-idx1.
  const fs::path ip(images_path);
  std::string lname = ip.filename().string();
  for (const auto& [from, to] : {std::pair<std::string, std::string>{"images-idx3", "labels-idx1"},
                                 {"images.idx3", "labels.idx1"}}) {
    const size_t at = lname.find(from);
    if (at != std::string::npos) {
      lname.replace(at, from.size(), to);
      break;
    }
  }
  fs::path lp = ip.parent_path() / lname;
  std::error_code ec;
  if (!fs::exists(lp, ec)) {  // try with / without .gz
    const std::string s = lp.string();
    const fs::path alt = s.size() > 3 && s.compare(s.size() - 3, 3, ".gz") == 0 ? fs::path(s.substr(0, s.size() - 3))
                                                                                : fs::path(s + ".gz");
    if (fs::exists(alt, ec)) lp = alt;
  }
  std::vector<int64_t> labels(n, -1);
  std::vector<std::string> classes;
  if (lname != ip.filename().string() && fs::exists(lp, ec)) {
    const std::string lpath = lp.string();
    const std::vector<uint8_t> lab = read_maybe_gz(lpath);
    PROTOCLR_CHECK(lab.size() >= 8, "'", lpath, "' is too short for an IDX labels file (re-download it)");
    const uint32_t lmagic = be32(lab.data());
    PROTOCLR_CHECK(lmagic == 0x00000801, "'", lpath, "' is not an IDX labels file: magic ", hex32(lmagic),
                   ", expected 0x00000801 (re-download it)");
    const uint64_t ln = be32(lab.data() + 4);
    PROTOCLR_CHECK(ln == n && lab.size() - 8 == n, "'", lpath, "' holds ", lab.size() - 8, " labels for ", n,
                   " images in '", images_path, "' (re-download both files)");
    int64_t max_label = 0;
    for (size_t i = 0; i < n; ++i) {
      labels[i] = lab[8 + i];
      max_label = std::max(max_label, labels[i]);
    }
    const bool fashion = contains(images_path, "fashion") || contains(images_path, "Fashion");
    if (fashion && max_label < 10) {
      classes = kFashionNames;
    } else {
      for (int64_t c = 0; c <= std::max<int64_t>(max_label, 9); ++c) classes.push_back(std::to_string(c));
    }
  } else {
    log::warn("no labels file '", lp.string(), "' beside '", images_path, "': the images are unlabeled");
  }
  return std::make_shared<IdxDataset>(images_path, std::move(img), 16, static_cast<int>(rows),
                                      static_cast<int>(cols), std::move(labels), std::move(classes));
}

std::string find_idx_images(const std::string& dir, const DatasetOptions& options, bool* any_idx) {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (contains(name, "idx3-ubyte")) names.push_back(name);
  }
  *any_idx = !names.empty();
  if (names.empty()) return "";
  check_split(options);
  std::sort(names.begin(), names.end());  // the raw file sorts before its .gz: prefer it
  const std::vector<std::string> prefixes =
      options.split == "train" ? std::vector<std::string>{"train"} : std::vector<std::string>{"t10k", "test"};
  for (const auto& pre : prefixes)
    for (const auto& n : names)
      if (n.compare(0, pre.size(), pre) == 0) return dir + "/" + n;
  throw Error("no " + options.split + " split in '" + dir + "': expected " + prefixes[0] +
              "-images-idx3-ubyte[.gz] (pass --split train or test)");
}

}  // namespace protoclr::data::detail
