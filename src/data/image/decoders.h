#pragma once
// Private to src/data/image/: the decoder of each image format (one file per format) and the
// helpers they share, defined in image.cpp. Not installed; not part of the public API.
#include <cstddef>
#include <cstdint>
#include <string>

#include "protoclr/data/image.h"

namespace protoclr::data::detail {

inline constexpr int kMaxSide = 1 << 15;          // 32768 pixels per side
inline constexpr int64_t kMaxPixels = 1LL << 28;  // 268M pixels

/// Throws protoclr::Error "cannot decode '<name>': <what>" with the advice to re-download.
[[noreturn]] void fail(const std::string& name, const std::string& what);
/// fail()s unless w x h is a positive size within kMaxSide per side and kMaxPixels in all.
void check_size(const std::string& name, int64_t w, int64_t h);
/// ASCII lower case.
std::string lower(std::string s);

// One pair per format: decode_<format> decodes the whole file `b` (n bytes, magic bytes
// already sniffed) to 8-bit RGB; <format>_size reads the size from the header alone. Both
// fail() on bad data.

DecodedImage decode_jpeg(const uint8_t* b, size_t n, const std::string& name, const ScalePlan& plan);  // jpeg.cpp
ImageSize jpeg_size(const uint8_t* b, size_t n, const std::string& name);

DecodedImage decode_png(const uint8_t* b, size_t n, const std::string& name);  // png.cpp
ImageSize png_size(const uint8_t* b, size_t n, const std::string& name);

DecodedImage decode_webp(const uint8_t* b, size_t n, const std::string& name);  // webp.cpp
ImageSize webp_size(const uint8_t* b, size_t n, const std::string& name);

DecodedImage decode_tiff(const uint8_t* b, size_t n, const std::string& name);  // tiff.cpp
ImageSize tiff_size(const uint8_t* b, size_t n, const std::string& name);

DecodedImage decode_bmp(const uint8_t* b, size_t n, const std::string& name);  // bmp.cpp
ImageSize bmp_size(const uint8_t* b, size_t n, const std::string& name);

}  // namespace protoclr::data::detail
