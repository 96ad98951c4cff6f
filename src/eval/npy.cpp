#include "protoclr/eval/npy.h"

#include <cstring>
#include <fstream>
#include <optional>
#include <regex>

#include "protoclr/core/error.h"
#include "protoclr/core/fs.h"

namespace protoclr::eval {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;

struct DtypeName {
  torch::ScalarType type;
  const char* descr;
};
// '<' little-endian; '|' byte-sized types have no byte order.
constexpr DtypeName kDtypes[] = {
    {torch::kFloat, "<f4"}, {torch::kDouble, "<f8"}, {torch::kLong, "<i8"}, {torch::kInt, "<i4"},
    {torch::kByte, "|u1"},  {torch::kChar, "|i1"},   {torch::kBool, "|b1"},
};

std::string shape_text(torch::IntArrayRef sizes) {
  // Python's tuple syntax: (), (3,), (3, 4).
  std::string s = "(";
  for (size_t i = 0; i < sizes.size(); ++i) s += (i ? ", " : "") + std::to_string(sizes[i]);
  if (sizes.size() == 1) s += ",";
  return s + ")";
}

}  // namespace

void write_npy(const std::string& path, const torch::Tensor& tensor) {
  PROTOCLR_CHECK(tensor.defined(), "write_npy '", path, "': undefined tensor");
  const char* descr = nullptr;
  for (const auto& d : kDtypes)
    if (d.type == tensor.scalar_type()) descr = d.descr;
  PROTOCLR_CHECK(descr, "write_npy '", path, "': dtype ", tensor.scalar_type(), " is not supported");
  const auto data = tensor.detach().to(torch::kCPU).contiguous();
  std::string header = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': " +
                       shape_text(data.sizes()) + ", }";
  // The header (magic, version, length, dict, newline) is padded to a multiple of 64 bytes.
  const size_t unpadded = kMagicSize + 2 + 2 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  PROTOCLR_CHECK(header.size() <= 65535, "write_npy '", path, "': too many dimensions");
  write_file_atomic(path, [&](const std::filesystem::path& tmp) {
    std::ofstream out(tmp, std::ios::binary);
    out.write(kMagic, kMagicSize);
    const char version[2] = {1, 0};
    out.write(version, 2);
    const uint16_t len = static_cast<uint16_t>(header.size());
    const char len_bytes[2] = {static_cast<char>(len & 0xff), static_cast<char>(len >> 8)};
    out.write(len_bytes, 2);
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    out.write(static_cast<const char*>(data.data_ptr()), static_cast<std::streamsize>(data.nbytes()));
    PROTOCLR_CHECK(out.good(), "cannot write '", tmp.string(), "' (disk full or no permission?)");
  });
}

torch::Tensor read_npy(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file(path);
  auto fail = [&](const std::string& why) { return Error("'" + path + "' is not a readable .npy file: " + why); };
  if (bytes.size() < kMagicSize + 4 || std::memcmp(bytes.data(), kMagic, kMagicSize) != 0)
    throw fail("bad magic (expected NumPy's \\x93NUMPY)");
  const int major = bytes[6];
  size_t header_len = 0, offset = 0;
  if (major == 1) {
    header_len = bytes[8] | (bytes[9] << 8);
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) throw fail("truncated header");
    header_len = bytes[8] | (bytes[9] << 8) | (size_t(bytes[10]) << 16) | (size_t(bytes[11]) << 24);
    offset = 12;
  } else {
    throw fail("format version " + std::to_string(major) + " is unknown");
  }
  if (bytes.size() < offset + header_len) throw fail("truncated header");
  const std::string header(reinterpret_cast<const char*>(bytes.data() + offset), header_len);
  std::smatch m;
  if (!std::regex_search(header, m, std::regex("'descr':\\s*'([^']*)'"))) throw fail("no 'descr' in the header");
  const std::string descr = m[1];
  if (!std::regex_search(header, m, std::regex("'fortran_order':\\s*(True|False)"))) throw fail("no 'fortran_order'");
  if (m[1] == "True") throw fail("Fortran order is not supported (save with numpy.ascontiguousarray)");
  if (!std::regex_search(header, m, std::regex("'shape':\\s*\\(([^)]*)\\)"))) throw fail("no 'shape'");
  std::vector<int64_t> shape;
  const std::string dims = m[1];
  const std::regex number("\\d+");
  for (std::sregex_iterator it(dims.begin(), dims.end(), number), end; it != end; ++it)
    shape.push_back(std::stoll(it->str()));
  std::optional<torch::ScalarType> type;
  for (const auto& d : kDtypes)
    if (descr == d.descr || (descr[0] == '=' && descr.substr(1) == std::string(d.descr).substr(1))) type = d.type;
  if (!type) throw fail("dtype '" + descr + "' is not supported (use float32/64, int64/32, uint8, int8, bool)");
  auto tensor = torch::empty(shape, torch::TensorOptions().dtype(*type));
  const size_t data_offset = offset + header_len;
  if (bytes.size() - data_offset != tensor.nbytes())
    throw fail("holds " + std::to_string(bytes.size() - data_offset) + " data bytes, the header says " +
               std::to_string(tensor.nbytes()));
  // An empty array has no storage: memcpy from or to a null pointer is undefined even for 0 bytes.
  if (tensor.nbytes() > 0) std::memcpy(tensor.data_ptr(), bytes.data() + data_offset, tensor.nbytes());
  return tensor;
}

}  // namespace protoclr::eval
