// Datasets: image folders (torchvision ImageFolder order), flat folders, list files, IDX
// (MNIST / Fashion-MNIST) and CIFAR-10/100 binary batches, plus class-balanced subsets.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <map>
#include <numeric>
#include <set>
#include <sstream>
#include <utility>

#include "protoclr/core/error.h"
#include "protoclr/core/fs.h"
#include "protoclr/core/log.h"
#include "protoclr/core/parallel.h"
#include "protoclr/core/rng.h"
#include "protoclr/data/dataset.h"

namespace protoclr::data {
namespace fs = std::filesystem;

Sample Dataset::get(size_t i) const {
  Sample s;
  s.image = load(i).rgb;
  s.label = label(i);
  s.index = static_cast<int64_t>(i);
  return s;
}

std::vector<int8_t> Dataset::label_set(size_t i) const {
  std::vector<int8_t> out(classes().size(), -1);
  const int64_t l = label(i);
  if (l >= 0 && static_cast<size_t>(l) < out.size()) out[static_cast<size_t>(l)] = 1;
  return out;
}

std::vector<int64_t> Dataset::labels() const {
  std::vector<int64_t> out(size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = label(i);
  return out;
}

std::vector<int8_t> Dataset::label_sets() const {
  const size_t c = classes().size();
  std::vector<int8_t> out;
  out.reserve(size() * c);
  for (size_t i = 0; i < size(); ++i) {
    const std::vector<int8_t> set = label_set(i);
    PROTOCLR_CHECK(set.size() == c, name(i), ": label set of ", set.size(), " classes, the dataset has ", c);
    out.insert(out.end(), set.begin(), set.end());
  }
  return out;
}

namespace {

constexpr size_t kHeaderBytes = 64 * 1024;

/// Reads up to `limit` bytes of `path` (all when limit == 0) into `buf` (reused, grown only);
/// returns the byte count and the file's total size in *total.
size_t read_into(const std::string& path, std::vector<uint8_t>& buf, size_t limit, size_t* total) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  PROTOCLR_CHECK(fd >= 0, "cannot open '", path, "': ", std::strerror(errno), " (check the path and permissions)");
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error("cannot read '" + path + "': not a regular file");
  }
  const size_t size = static_cast<size_t>(st.st_size);
  if (total) *total = size;
  const size_t want = limit > 0 ? std::min(limit, size) : size;
  if (buf.size() < want) buf.resize(want);
  size_t got = 0;
  while (got < want) {
    const ssize_t r = ::pread(fd, buf.data() + got, want - got, static_cast<off_t>(got));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += static_cast<size_t>(r);
  }
  const int err = errno;
  ::close(fd);
  PROTOCLR_CHECK(got == want, "cannot read '", path, "': ", got < want && err ? std::strerror(err) : "short read",
                 " (", want, " bytes expected)");
  return got;
}

bool hidden(const std::string& name) { return !name.empty() && name[0] == '.'; }

std::string join_first(const std::vector<std::string>& names, size_t k) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < k; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > k) out += ", ...";
  return out;
}

std::string no_images_message(const std::string& path) {
  return "no images found in '" + path + "': expected " + path + "/<class>/<image> or " + path +
         "/<image> with endings jpg, jpeg, png, bmp, webp, tif, tiff";
}

// ---------------------------------------------------------------------------------------
// Image files (image-folder, flat-folder, list-file)

class FileDataset final : public Dataset {
 public:
  FileDataset(std::string format, std::vector<std::string> paths, std::vector<int64_t> labels,
              std::vector<std::string> classes, std::vector<std::string> skipped)
      : format_(std::move(format)), paths_(std::move(paths)), labels_(std::move(labels)),
        classes_(std::move(classes)), skipped_(std::move(skipped)) {}
  size_t size() const override { return paths_.size(); }
  const std::vector<std::string>& classes() const override { return classes_; }
  int64_t label(size_t i) const override { return labels_.at(i); }
  DecodedImage load(size_t i, const ScalePlan& plan) const override {
    thread_local std::vector<uint8_t> buf;  // reused: no per-call allocation but the output
    const std::string& path = paths_.at(i);
    const size_t n = read_into(path, buf, 0, nullptr);
    return decode_image(buf.data(), n, path, plan);
  }
  std::string name(size_t i) const override { return paths_.at(i); }
  std::string format() const override { return format_; }
  const std::vector<std::string>& skipped() const override { return skipped_; }

 private:
  std::string format_;
  std::vector<std::string> paths_;
  std::vector<int64_t> labels_;
  std::vector<std::string> classes_;
  std::vector<std::string> skipped_;
};

/// Reads every file's header with several threads; drops the unreadable ones from paths and
/// labels and returns their names (one warning names the count and the first five).
std::vector<std::string> verify_files(std::vector<std::string>& paths, std::vector<int64_t>& labels,
                                      const std::string& root) {
  std::vector<uint8_t> ok(paths.size(), 0);
  parallel_for(paths.size(), 0, [&](size_t i) {
    thread_local std::vector<uint8_t> buf;
    try {
      size_t total = 0;
      size_t n = read_into(paths[i], buf, kHeaderBytes, &total);
      try {
        read_image_size(buf.data(), n, paths[i]);
      } catch (const Error&) {
        if (total <= n) throw;
        n = read_into(paths[i], buf, 0, nullptr);  // header larger than the prefix (rare)
        read_image_size(buf.data(), n, paths[i]);
      }
      ok[i] = 1;
    } catch (const std::exception&) {
      ok[i] = 0;
    }
  });
  std::vector<std::string> skipped;
  size_t kept = 0;
  for (size_t i = 0; i < paths.size(); ++i) {
    if (!ok[i]) {
      skipped.push_back(paths[i]);
      continue;
    }
    if (kept != i) {  // (a self-move would empty the string)
      paths[kept] = std::move(paths[i]);
      labels[kept] = labels[i];
    }
    ++kept;
  }
  paths.resize(kept);
  labels.resize(kept);
  if (!skipped.empty())
    log::warn("skipped ", skipped.size(), " unreadable image(s) in '", root, "': ", join_first(skipped, 5),
              " (re-download or delete them)");
  return skipped;
}

/// One folder level: non-hidden subfolders (symlinks followed) and image files, by name.
struct Listing {
  std::vector<std::string> dirs;
  std::vector<std::string> images;
  size_t others = 0;
};

Listing list_folder(const fs::path& dir) {
  Listing out;
  std::error_code ec;
  fs::directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
  PROTOCLR_CHECK(!ec, "cannot list '", dir.string(), "': ", ec.message(), " (check the path and permissions)");
  for (; it != end; it.increment(ec)) {
    if (ec) break;
    const std::string name = it->path().filename().string();
    if (hidden(name)) continue;
    std::error_code e2;
    if (it->is_directory(e2)) out.dirs.push_back(name);
    else if (is_image_file(name)) out.images.push_back(name);
    else ++out.others;
  }
  std::sort(out.dirs.begin(), out.dirs.end());
  std::sort(out.images.begin(), out.images.end());
  return out;
}

/// torchvision's `sorted(os.walk(dir, followlinks=True))` then `sorted(fnames)`: folders in
/// lexicographic order of their path, files by name within each folder. Hidden entries are
/// skipped and symlink cycles are visited once.
void walk_images(const fs::path& top, std::vector<std::string>& out) {
  std::vector<std::pair<std::string, std::vector<std::string>>> folders;  // (relative path, images)
  std::set<std::pair<dev_t, ino_t>> seen;
  std::vector<std::string> stack = {""};
  while (!stack.empty()) {
    const std::string rel = stack.back();
    stack.pop_back();
    const fs::path dir = rel.empty() ? top : top / rel;
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) continue;
    if (!seen.insert({st.st_dev, st.st_ino}).second) continue;
    Listing l;
    try {
      l = list_folder(dir);
    } catch (const Error& e) {
      log::warn(e.what());
      continue;
    }
    for (const auto& d : l.dirs) stack.push_back(rel.empty() ? d : rel + "/" + d);
    folders.emplace_back(rel, std::move(l.images));
  }
  // Python compares the joined path strings: "a/b" < "a/b c" < "a/b/x".
  std::sort(folders.begin(), folders.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  const std::string base = top.string();
  for (const auto& [rel, images] : folders)
    for (const auto& f : images) out.push_back(rel.empty() ? base + "/" + f : base + "/" + rel + "/" + f);
}

std::shared_ptr<Dataset> open_folder(const std::string& path, const DatasetOptions& options) {
  std::string root = path;
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  const Listing top = list_folder(root);
  std::vector<std::string> files, classes;
  std::vector<int64_t> labels;
  std::vector<std::vector<std::string>> per_class(top.dirs.size());
  size_t with_images = 0;
  for (size_t c = 0; c < top.dirs.size(); ++c) {
    walk_images(fs::path(root) / top.dirs[c], per_class[c]);
    if (!per_class[c].empty()) ++with_images;
  }
  std::string format;
  if (with_images > 0) {
    format = "image-folder";
    classes = top.dirs;
    std::vector<std::string> empty;
    for (size_t c = 0; c < classes.size(); ++c) {
      if (per_class[c].empty()) empty.push_back(classes[c]);
      for (auto& f : per_class[c]) {
        files.push_back(std::move(f));
        labels.push_back(static_cast<int64_t>(c));
      }
    }
    if (!empty.empty())
      log::warn("'", root, "': ", empty.size(), " class folder(s) hold no images: ", join_first(empty, 5),
                " (they keep their label; remove them to renumber the classes)");
    if (!top.images.empty())
      log::warn("'", root, "': ignored ", top.images.size(),
                " image(s) beside the class folders (move them into a class folder)");
  } else {
    format = "flat-folder";
    for (const auto& f : top.images) files.push_back(root + "/" + f);
    labels.assign(files.size(), -1);
  }
  PROTOCLR_CHECK(!files.empty(), no_images_message(root));
  std::vector<std::string> skipped;
  if (options.verify_headers) {
    skipped = verify_files(files, labels, root);
    PROTOCLR_CHECK(!files.empty(), "no readable images in '", root, "': all ", skipped.size(),
                   " image(s) failed to decode (first: ", skipped.front(), "); re-download the dataset");
  }
  return std::make_shared<FileDataset>(format, std::move(files), std::move(labels), std::move(classes),
                                       std::move(skipped));
}

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  const size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

/// Non-empty, trimmed lines of `text`, with their 1-based line numbers (list files, class
/// names, VOC image sets).
std::vector<std::pair<size_t, std::string>> text_lines(const std::string& text) {
  std::vector<std::pair<size_t, std::string>> out;
  size_t line_no = 0;
  for (size_t pos = 0; pos <= text.size();) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    ++line_no;
    std::string line = trim(text.substr(pos, end - pos));
    pos = end + 1;
    if (!line.empty()) out.emplace_back(line_no, std::move(line));
  }
  return out;
}

std::vector<std::pair<size_t, std::string>> text_lines(const fs::path& file) {
  const std::vector<uint8_t> bytes = read_file(file);
  return text_lines(std::string(bytes.begin(), bytes.end()));
}

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
    skipped = verify_files(files, labels, path);
    PROTOCLR_CHECK(!files.empty(), "no readable images in '", path, "': all ", skipped.size(),
                   " listed image(s) failed to decode (first: ", skipped.front(), "); check the paths");
  }
  return std::make_shared<FileDataset>("list-file", std::move(files), std::move(labels), std::move(classes),
                                       std::move(skipped));
}

// ---------------------------------------------------------------------------------------
// IDX (MNIST, Fashion-MNIST)

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
const std::vector<std::string> kCifar10Names = {"airplane", "automobile", "bird",  "cat",  "deer",
                                                "dog",      "frog",       "horse", "ship", "truck"};

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

uint32_t be32(const uint8_t* p) {
  return (static_cast<uint32_t>(p[0]) << 24) | (static_cast<uint32_t>(p[1]) << 16) |
         (static_cast<uint32_t>(p[2]) << 8) | static_cast<uint32_t>(p[3]);
}

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "0x%08x", v);
  return buf;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

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

void check_split(const DatasetOptions& options) {
  PROTOCLR_CHECK(options.split == "train" || options.split == "test", "--split must be 'train' or 'test', got '",
                 options.split, "'");
}

/// The IDX images file in `dir` for the split, or "" when the folder holds no IDX data.
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

// ---------------------------------------------------------------------------------------
// CIFAR-10 / CIFAR-100 binary batches

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

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

/// CIFAR in `dir` (or its cifar-10-batches-bin / cifar-100-binary subfolder); null when none.
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

// ---------------------------------------------------------------------------------------
// PASCAL VOC devkit (VOC2007 classification): multi-label, difficult-aware

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

bool is_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

/// The devkit year folder (the one holding JPEGImages/ and ImageSets/Main/) at or under `dir`.
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
    skipped = verify_files(paths, rows, root.string());
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

// ---------------------------------------------------------------------------------------
// Subsets

class SubsetDataset final : public Dataset {
 public:
  SubsetDataset(std::shared_ptr<const Dataset> parent, std::vector<size_t> indices)
      : parent_(std::move(parent)), indices_(std::move(indices)) {}
  size_t size() const override { return indices_.size(); }
  const std::vector<std::string>& classes() const override { return parent_->classes(); }
  int64_t label(size_t i) const override { return parent_->label(indices_.at(i)); }
  bool multi_label() const override { return parent_->multi_label(); }
  std::vector<int8_t> label_set(size_t i) const override { return parent_->label_set(indices_.at(i)); }
  DecodedImage load(size_t i, const ScalePlan& plan) const override { return parent_->load(indices_.at(i), plan); }
  std::string name(size_t i) const override { return parent_->name(indices_.at(i)); }
  std::string format() const override { return parent_->format(); }
  const std::vector<std::string>& skipped() const override { return parent_->skipped(); }

 private:
  std::shared_ptr<const Dataset> parent_;
  std::vector<size_t> indices_;
};

}  // namespace

std::shared_ptr<Dataset> balanced_subset(std::shared_ptr<const Dataset> parent, int64_t n, uint64_t seed) {
  PROTOCLR_CHECK(parent, "balanced_subset: no dataset");
  PROTOCLR_CHECK(n > 0, "--limit must be positive, got ", n);
  const size_t total = parent->size();
  if (static_cast<uint64_t>(n) >= total) return std::const_pointer_cast<Dataset>(parent);
  // Multi-label data has no single class to balance: one group, a uniformly random subset.
  const size_t num_classes = parent->multi_label() ? 0 : parent->classes().size();
  std::vector<std::vector<size_t>> groups(std::max<size_t>(num_classes, 1));
  for (size_t i = 0; i < total; ++i) {
    const int64_t l = num_classes ? parent->label(i) : 0;
    if (l >= 0 && static_cast<size_t>(l) < groups.size()) groups[static_cast<size_t>(l)].push_back(i);
  }
  // Quotas: equal shares; a class with too few images gives all it has and the rest is
  // shared among the others; a remainder goes to the lowest labels.
  std::vector<size_t> quota(groups.size(), 0);
  size_t available = 0;
  for (const auto& g : groups) available += g.size();
  size_t remaining = std::min(static_cast<size_t>(n), available);
  for (;;) {
    std::vector<size_t> active;
    for (size_t c = 0; c < groups.size(); ++c)
      if (quota[c] < groups[c].size()) active.push_back(c);
    if (remaining == 0 || active.empty()) break;
    const size_t share = remaining / active.size();
    if (share == 0) {
      for (size_t k = 0; k < remaining; ++k) ++quota[active[k]];
      break;
    }
    for (size_t c : active) {
      const size_t give = std::min(share, groups[c].size() - quota[c]);
      quota[c] += give;
      remaining -= give;
    }
  }
  std::vector<size_t> chosen;
  chosen.reserve(static_cast<size_t>(n));
  for (size_t c = 0; c < groups.size(); ++c) {
    auto& g = groups[c];
    Rng rng(stream_seed(seed, 0x5b5e7ULL, c));
    for (size_t k = 0; k < quota[c]; ++k) {  // partial Fisher-Yates
      const size_t j = k + static_cast<size_t>(uniform_index(rng, g.size() - k));
      std::swap(g[k], g[j]);
      chosen.push_back(g[k]);
    }
  }
  std::sort(chosen.begin(), chosen.end());
  return std::make_shared<SubsetDataset>(std::move(parent), std::move(chosen));
}

std::shared_ptr<Dataset> open_dataset(const std::string& path_in, const DatasetOptions& options) {
  std::string path = path_in;
  std::error_code ec;
  if (path.empty()) {
    path = kDefaultDataset;
    PROTOCLR_CHECK(fs::exists(path, ec), "the default dataset '", path,
                   "' is missing: install Debian's dataset-fashion-mnist (scripts/setup.sh does) or pass a dataset "
                   "path");
  }
  PROTOCLR_CHECK(fs::exists(path, ec), "dataset path '", path, "' does not exist (check the path)");
  std::shared_ptr<Dataset> ds;
  if (fs::is_directory(path, ec)) {
    bool any_idx = false;
    if (const fs::path voc = find_voc_root(path); !voc.empty()) {
      ds = open_voc(voc, options);
    } else if (!(ds = try_cifar_folder(path, options))) {
      const std::string idx = find_idx_images(path, options, &any_idx);
      if (!idx.empty()) ds = open_idx_file(idx);
      else ds = open_folder(path, options);
    }
  } else {
    const std::string name = fs::path(path).filename().string();
    if (contains(name, "idx3-ubyte")) {
      ds = open_idx_file(path);
    } else if (contains(name, "idx1-ubyte")) {
      throw Error("'" + path + "' is an IDX labels file: pass the images file (*-images-idx3-ubyte) or its folder");
    } else if (name == "test_batch.bin" || (name.rfind("data_batch_", 0) == 0 && lower_extension(name) == ".bin")) {
      ds = open_cifar(false, {path}, fs::path(path).parent_path());
    } else if (name == "train.bin" || name == "test.bin") {
      ds = open_cifar(true, {path}, fs::path(path).parent_path());
    } else if (is_image_file(name)) {
      throw Error("'" + path + "' is a single image: pass the folder that holds the images");
    } else {
      ds = open_list_file(path, options);
    }
  }
  if (options.limit > 0) return balanced_subset(std::move(ds), options.limit, options.seed);
  return ds;
}

}  // namespace protoclr::data
