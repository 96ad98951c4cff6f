#include "protoclr/core/fs.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "protoclr/core/error.h"

namespace protoclr {
namespace fs = std::filesystem;

std::vector<uint8_t> read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  PROTOCLR_CHECK(in, "cannot open '", path.string(), "': ", std::strerror(errno),
                 " (check the path and permissions)");
  const auto size = static_cast<std::streamsize>(in.tellg());
  std::vector<uint8_t> bytes(static_cast<size_t>(std::max<std::streamsize>(size, 0)));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(bytes.data()), size);
  PROTOCLR_CHECK(in || size == 0, "cannot read '", path.string(), "' (", size, " bytes expected)");
  return bytes;
}

/// fsync(2) of a file or folder; the errno of a failure (0 when it worked).
static int fsync_path(const fs::path& path, int flags) {
  const int fd = ::open(path.c_str(), flags);
  if (fd < 0) return errno;
  const int rc = ::fsync(fd) == 0 ? 0 : errno;
  ::close(fd);
  return rc;
}

void write_file_atomic(const fs::path& path, const std::function<void(const fs::path&)>& write) {
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  std::error_code ec;
  fs::create_directories(dir, ec);
  PROTOCLR_CHECK(!ec, "cannot create folder '", dir.string(), "': ", ec.message());
  const fs::path tmp = dir / ("." + path.filename().string() + ".tmp" + std::to_string(::getpid()));
  try {
    write(tmp);
    // A full disk can surface only here (delayed allocation): the old file must stay.
    const int err = fsync_path(tmp, O_RDONLY);
    PROTOCLR_CHECK(err == 0, "cannot write '", path.string(), "': ", std::strerror(err),
                   " (disk full? the previous file is unchanged)");
  } catch (...) {
    fs::remove(tmp, ec);
    throw;
  }
  fs::rename(tmp, path, ec);
  PROTOCLR_CHECK(!ec, "cannot move '", tmp.string(), "' to '", path.string(), "': ", ec.message());
  fsync_path(dir, O_RDONLY | O_DIRECTORY);
}

void write_file_atomic(const fs::path& path, const std::string& bytes) {
  write_file_atomic(path, [&](const fs::path& tmp) {
    std::ofstream out(tmp, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    PROTOCLR_CHECK(out, "cannot write '", path.string(), "': ", std::strerror(errno),
                   " (disk full or folder not writable? the previous file is unchanged)");
  });
}

std::string lower_extension(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext;
}

}  // namespace protoclr
