// BMP (Windows bitmap: BITMAPFILEHEADER + BITMAPINFOHEADER or its V4/V5 successors, as in
// Microsoft's Win32 GDI documentation): uncompressed 1/4/8-bit palette, 24-bit and 32-bit
// (BI_RGB or BI_BITFIELDS), both bottom-up and top-down.
#include <algorithm>
#include <array>
#include <cstdint>
#include <string>

#include "../byte_order.h"
#include "decoders.h"

namespace protoclr::data::detail {
namespace {

struct BmpHeader {
  int width = 0, height = 0;
  bool top_down = false;
  int bpp = 0;
  uint32_t compression = 0;
  uint32_t offset = 0;
  uint32_t header_size = 0;
  uint32_t colors = 0;
  uint32_t masks[3] = {0x00FF0000u, 0x0000FF00u, 0x000000FFu};
};

BmpHeader bmp_header(const uint8_t* b, size_t n, const std::string& name) {
  if (n < 26) fail(name, "truncated BMP header");
  BmpHeader hd;
  hd.offset = le32(b + 10);
  hd.header_size = le32(b + 14);
  if (hd.header_size < 40) fail(name, "unsupported BMP header (OS/2 bitmaps are not read; convert the file to PNG)");
  if (n < 14 + 40) fail(name, "truncated BMP header");
  const int32_t w = static_cast<int32_t>(le32(b + 18));
  const int32_t h = static_cast<int32_t>(le32(b + 22));
  hd.bpp = le16(b + 28);
  hd.compression = le32(b + 30);
  hd.colors = le32(b + 46);
  if (h == INT32_MIN) fail(name, "invalid BMP height");
  hd.top_down = h < 0;
  check_size(name, w, h < 0 ? -static_cast<int64_t>(h) : h);
  hd.width = w;
  hd.height = h < 0 ? -h : h;
  return hd;
}

int mask_shift(uint32_t mask) {
  int s = 0;
  while (s < 32 && !(mask & (1u << s))) ++s;
  return s;
}
int mask_bits(uint32_t mask, int shift) {
  int bits = 0;
  while (shift + bits < 32 && (mask & (1u << (shift + bits)))) ++bits;
  return bits;
}

}  // namespace

DecodedImage decode_bmp(const uint8_t* b, size_t n, const std::string& name) {
  BmpHeader hd = bmp_header(b, n, name);
  const bool palette = hd.bpp == 1 || hd.bpp == 4 || hd.bpp == 8;
  if (!(palette || hd.bpp == 24 || hd.bpp == 32))
    fail(name, "unsupported BMP bit depth " + std::to_string(hd.bpp) + " (convert the file to PNG)");
  if (hd.compression == 3 && hd.bpp == 32) {  // BI_BITFIELDS
    const size_t at = hd.header_size >= 52 ? 14 + 40 : 14 + hd.header_size;
    if (n < at + 12) fail(name, "truncated BMP header");
    for (int c = 0; c < 3; ++c) hd.masks[c] = le32(b + at + 4 * c);
  } else if (hd.compression != 0) {
    fail(name, "compressed BMP (compression " + std::to_string(hd.compression) + ") is not supported (convert the file to PNG)");
  }
  std::array<uint8_t, 256 * 3> pal{};  // RGB
  if (palette) {
    const uint32_t max_colors = 1u << hd.bpp;
    const uint32_t colors = hd.colors == 0 ? max_colors : std::min(hd.colors, max_colors);
    const size_t at = 14 + static_cast<size_t>(hd.header_size);
    if (at > n || (n - at) / 4 < colors) fail(name, "truncated BMP palette");
    for (uint32_t i = 0; i < colors; ++i) {
      pal[3 * i + 0] = b[at + 4 * i + 2];
      pal[3 * i + 1] = b[at + 4 * i + 1];
      pal[3 * i + 2] = b[at + 4 * i + 0];
    }
  }
  const size_t stride = ((static_cast<size_t>(hd.width) * hd.bpp + 31) / 32) * 4;
  const size_t need = stride * static_cast<size_t>(hd.height);
  if (hd.offset > n || n - hd.offset < need) fail(name, "truncated BMP pixel data");
  int shift[3] = {0, 0, 0}, bits[3] = {8, 8, 8};
  for (int c = 0; c < 3; ++c) {
    shift[c] = mask_shift(hd.masks[c]);
    bits[c] = hd.masks[c] ? mask_bits(hd.masks[c], shift[c]) : 0;
  }
  DecodedImage out;
  out.full = {hd.width, hd.height};
  out.rgb.create(hd.height, hd.width, CV_8UC3);
  for (int y = 0; y < hd.height; ++y) {
    const int src_row = hd.top_down ? y : hd.height - 1 - y;
    const uint8_t* s = b + hd.offset + stride * static_cast<size_t>(src_row);
    uint8_t* d = out.rgb.ptr<uint8_t>(y);
    if (hd.bpp == 24) {
      for (int x = 0; x < hd.width; ++x, s += 3, d += 3) {
        d[0] = s[2];
        d[1] = s[1];
        d[2] = s[0];
      }
    } else if (hd.bpp == 32) {
      for (int x = 0; x < hd.width; ++x, s += 4, d += 3) {
        const uint32_t v = le32(s);
        for (int c = 0; c < 3; ++c) {
          if (bits[c] == 0) {
            d[c] = 0;
            continue;
          }
          const uint32_t raw = (v & hd.masks[c]) >> shift[c];
          const uint32_t maxv = bits[c] >= 32 ? 0xFFFFFFFFu : ((1u << bits[c]) - 1);
          d[c] = static_cast<uint8_t>(bits[c] == 8 ? raw : (static_cast<uint64_t>(raw) * 255 + maxv / 2) / maxv);
        }
      }
    } else {
      const int per_byte = 8 / hd.bpp;
      const int mask = (1 << hd.bpp) - 1;
      for (int x = 0; x < hd.width; ++x, d += 3) {
        const int byte = s[x / per_byte];
        const int idx = (byte >> ((per_byte - 1 - x % per_byte) * hd.bpp)) & mask;
        d[0] = pal[3 * idx + 0];
        d[1] = pal[3 * idx + 1];
        d[2] = pal[3 * idx + 2];
      }
    }
  }
  return out;
}

ImageSize bmp_size(const uint8_t* b, size_t n, const std::string& name) {
  const BmpHeader hd = bmp_header(b, n, name);
  return {hd.width, hd.height};
}

}  // namespace protoclr::data::detail
