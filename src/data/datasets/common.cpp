// Helpers shared by the dataset formats (declared in formats.h): whole and partial file
// reads, the image-file dataset behind image-folder, flat-folder and list-file, header
// checks and the lines of text files.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>

#include "formats.h"
#include "protoclr/core/error.h"
#include "protoclr/core/fs.h"
#include "protoclr/core/log.h"
#include "protoclr/core/parallel.h"
#include "protoclr/data/unreadable.h"

namespace protoclr::data::detail {
namespace fs = std::filesystem;
namespace {

constexpr size_t kHeaderBytes = 64 * 1024;

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

}  // namespace

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

std::shared_ptr<Dataset> make_file_dataset(std::string format, std::vector<std::string> paths,
                                           std::vector<int64_t> labels, std::vector<std::string> classes,
                                           std::vector<std::string> skipped) {
  return std::make_shared<FileDataset>(std::move(format), std::move(paths), std::move(labels), std::move(classes),
                                       std::move(skipped));
}

}  // namespace protoclr::data::detail

namespace protoclr::data {

std::shared_ptr<const Dataset> image_files(std::vector<std::string> paths) {
  std::vector<int64_t> labels(paths.size(), -1);
  return detail::make_file_dataset("files", std::move(paths), std::move(labels), {}, {});
}

}  // namespace protoclr::data

namespace protoclr::data::detail {

std::string join_first(const std::vector<std::string>& names, size_t k) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < k; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > k) out += ", ...";
  return out;
}

std::vector<std::string> verify_files(std::vector<std::string>& paths, std::vector<int64_t>& labels) {
  std::vector<uint8_t> ok(paths.size(), 0);
  std::vector<std::string> reasons(paths.size());
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
    } catch (const std::exception& e) {
      ok[i] = 0;
      reasons[i] = e.what();
    }
  });
  std::vector<std::string> skipped;
  size_t kept = 0;
  for (size_t i = 0; i < paths.size(); ++i) {
    if (!ok[i]) {
      // Named once per process, however often the folder is opened (data/unreadable.h).
      report_unreadable(paths[i], reasons[i].find(paths[i]) == std::string::npos
                                      ? "'" + paths[i] + "' is not a readable image: " + reasons[i]
                                      : reasons[i]);
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
  return skipped;
}

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  const size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

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

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

void check_split(const DatasetOptions& options) {
  PROTOCLR_CHECK(options.split == "train" || options.split == "test", "--split must be 'train' or 'test', got '",
                 options.split, "'");
}

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

bool is_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

}  // namespace protoclr::data::detail
