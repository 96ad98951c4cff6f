// Image decoding (include/protoclr/data/image.h): the format is sniffed from the magic bytes
// and handed to its decoder (jpeg.cpp, png.cpp, webp.cpp, tiff.cpp, bmp.cpp), all to 8-bit
// RGB; plus the helpers the decoders share. Every failure is a protoclr::Error naming the
// image and what to do.
#include <cctype>
#include <cstring>
#include <string>
#include <vector>

#include "decoders.h"
#include "protoclr/core/error.h"
#include "protoclr/core/fs.h"

namespace protoclr::data {
namespace detail {

[[noreturn]] void fail(const std::string& name, const std::string& what) {
  throw Error("cannot decode '" + name + "': " + what + " (re-download or delete the file)");
}

void check_size(const std::string& name, int64_t w, int64_t h) {
  if (w <= 0 || h <= 0) fail(name, "invalid image size " + std::to_string(w) + "x" + std::to_string(h));
  if (w > kMaxSide || h > kMaxSide || w * h > kMaxPixels)
    fail(name, "image too large (" + std::to_string(w) + "x" + std::to_string(h) + ", at most " +
                   std::to_string(kMaxSide) + " per side and 2^28 pixels)");
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace detail

using namespace detail;  // the decoders (decoders.h)

namespace {

enum class Format { kUnknown, kJpeg, kPng, kWebp, kTiff, kBmp };

Format sniff(const uint8_t* b, size_t n) {
  if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return Format::kJpeg;
  if (n >= 8 && std::memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0) return Format::kPng;
  if (n >= 12 && std::memcmp(b, "RIFF", 4) == 0 && std::memcmp(b + 8, "WEBP", 4) == 0) return Format::kWebp;
  if (n >= 4 && (std::memcmp(b, "II*\0", 4) == 0 || std::memcmp(b, "MM\0*", 4) == 0)) return Format::kTiff;
  if (n >= 2 && b[0] == 'B' && b[1] == 'M') return Format::kBmp;
  return Format::kUnknown;
}

[[noreturn]] void fail_unknown(const std::string& name, const uint8_t* b, size_t n) {
  if (n == 0) fail(name, "empty file");
  fail(name, "not a JPEG, PNG, WebP, TIFF or BMP image (unrecognised magic bytes)");
}

}  // namespace

DecodedImage decode_image(const uint8_t* bytes, size_t size, const std::string& name, const ScalePlan& plan) {
  if (!bytes) size = 0;
  switch (sniff(bytes, size)) {
    case Format::kJpeg: return decode_jpeg(bytes, size, name, plan);
    case Format::kPng: return decode_png(bytes, size, name);
    case Format::kWebp: return decode_webp(bytes, size, name);
    case Format::kTiff: return decode_tiff(bytes, size, name);
    case Format::kBmp: return decode_bmp(bytes, size, name);
    case Format::kUnknown: break;
  }
  fail_unknown(name, bytes, size);
}

DecodedImage decode_image_file(const std::string& path, const ScalePlan& plan) {
  const std::vector<uint8_t> bytes = read_file(path);
  return decode_image(bytes.data(), bytes.size(), path, plan);
}

ImageSize read_image_size(const uint8_t* bytes, size_t size, const std::string& name) {
  if (!bytes) size = 0;
  switch (sniff(bytes, size)) {
    case Format::kJpeg: return jpeg_size(bytes, size, name);
    case Format::kPng: return png_size(bytes, size, name);
    case Format::kWebp: return webp_size(bytes, size, name);
    case Format::kTiff: return tiff_size(bytes, size, name);
    case Format::kBmp: return bmp_size(bytes, size, name);
    case Format::kUnknown: break;
  }
  fail_unknown(name, bytes, size);
}

bool is_image_file(const std::string& path) {
  const size_t dot = path.rfind('.');
  const size_t slash = path.find_last_of('/');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return false;
  const std::string ext = lower(path.substr(dot + 1));
  return ext == "jpg" || ext == "jpeg" || ext == "png" || ext == "bmp" || ext == "webp" || ext == "tif" ||
         ext == "tiff";
}

}  // namespace protoclr::data
