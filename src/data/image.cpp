// Image decoders: TurboJPEG, libpng, libwebp, libtiff and a small BMP reader, all to 8-bit
// RGB. Every failure is a protoclr::Error naming the image and what to do.
#include "protoclr/data/image.h"

#include <png.h>
#include <tiffio.h>
#include <turbojpeg.h>
#include <webp/decode.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <csetjmp>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "protoclr/core/error.h"
#include "protoclr/core/fs.h"

namespace protoclr::data {
namespace {

constexpr int kMaxSide = 1 << 15;          // 32768 pixels per side
constexpr int64_t kMaxPixels = 1LL << 28;  // 268M pixels

enum class Format { kUnknown, kJpeg, kPng, kWebp, kTiff, kBmp };

Format sniff(const uint8_t* b, size_t n) {
  if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return Format::kJpeg;
  if (n >= 8 && std::memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0) return Format::kPng;
  if (n >= 12 && std::memcmp(b, "RIFF", 4) == 0 && std::memcmp(b + 8, "WEBP", 4) == 0) return Format::kWebp;
  if (n >= 4 && (std::memcmp(b, "II*\0", 4) == 0 || std::memcmp(b, "MM\0*", 4) == 0)) return Format::kTiff;
  if (n >= 2 && b[0] == 'B' && b[1] == 'M') return Format::kBmp;
  return Format::kUnknown;
}

[[noreturn]] void fail(const std::string& name, const std::string& what) {
  throw Error("cannot decode '" + name + "': " + what + " (re-download or delete the file)");
}

void check_size(const std::string& name, int64_t w, int64_t h) {
  if (w <= 0 || h <= 0) fail(name, "invalid image size " + std::to_string(w) + "x" + std::to_string(h));
  if (w > kMaxSide || h > kMaxSide || w * h > kMaxPixels)
    fail(name, "image too large (" + std::to_string(w) + "x" + std::to_string(h) + ", at most " +
                   std::to_string(kMaxSide) + " per side and 2^28 pixels)");
}

[[noreturn]] void fail_unknown(const std::string& name, const uint8_t* b, size_t n) {
  if (n == 0) fail(name, "empty file");
  fail(name, "not a JPEG, PNG, WebP, TIFF or BMP image (unrecognised magic bytes)");
}

uint16_t le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t le32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}
uint32_t be32(const uint8_t* p) {
  return (static_cast<uint32_t>(p[0]) << 24) | (static_cast<uint32_t>(p[1]) << 16) |
         (static_cast<uint32_t>(p[2]) << 8) | static_cast<uint32_t>(p[3]);
}

// ---------------------------------------------------------------------------------------
// JPEG (TurboJPEG)

struct TjHandle {
  tjhandle handle = nullptr;
  ~TjHandle() {
    if (handle) tjDestroy(handle);
  }
  tjhandle get() {
    if (!handle) handle = tjInitDecompress();
    PROTOCLR_CHECK(handle, "cannot initialise TurboJPEG: ", tjGetErrorStr2(nullptr));
    return handle;
  }
};

TjHandle& jpeg_thread_handle() {
  thread_local TjHandle h;
  return h;
}
tjhandle jpeg_handle() { return jpeg_thread_handle().get(); }
/// Drops this thread's decompressor: after some errors libjpeg-turbo leaves it in a state in
/// which the next valid file fails ("Bogus DQT index"), so a failed decode starts afresh.
void reset_jpeg_handle() {
  TjHandle& h = jpeg_thread_handle();
  if (h.handle) tjDestroy(h.handle);
  h.handle = nullptr;
}

// Walks the JPEG markers to the first SOF; returns false when the data ends first.
// Also reports whether an Adobe APP14 segment (inverted CMYK) was seen.
bool jpeg_scan_header(const uint8_t* b, size_t n, ImageSize* size, bool* adobe) {
  size_t pos = 2;
  if (adobe) *adobe = false;
  while (pos + 4 <= n) {
    if (b[pos] != 0xFF) return false;
    uint8_t marker = b[pos + 1];
    if (marker == 0xFF) {  // fill byte
      ++pos;
      continue;
    }
    pos += 2;
    if (marker == 0xD8 || (marker >= 0xD0 && marker <= 0xD7) || marker == 0x01) continue;
    if (marker == 0xD9 || marker == 0xDA) return false;  // EOI / SOS before any SOF
    const size_t len = (static_cast<size_t>(b[pos]) << 8) | b[pos + 1];
    if (len < 2 || pos + len > n) return false;
    const bool sof = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (sof) {
      if (len < 7) return false;
      size->height = (b[pos + 3] << 8) | b[pos + 4];
      size->width = (b[pos + 5] << 8) | b[pos + 6];
      return true;
    }
    if (marker == 0xEE && adobe && len >= 7 && std::memcmp(b + pos + 2, "Adobe", 5) == 0) *adobe = true;
    pos += len;
  }
  return false;
}

// The chosen DCT scale num/denom: the smallest libjpeg-turbo scale with denom/num <= factor.
tjscalingfactor pick_scale(double factor) {
  static const std::vector<tjscalingfactor> factors = [] {
    int count = 0;
    tjscalingfactor* f = tjGetScalingFactors(&count);
    std::vector<tjscalingfactor> out;
    for (int i = 0; f && i < count; ++i)
      if (f[i].num > 0 && f[i].num <= f[i].denom) out.push_back(f[i]);
    return out;
  }();
  tjscalingfactor best{1, 1};
  if (!(factor > 1.0)) return best;
  for (const auto& f : factors) {
    // allowed when denom/num <= factor (tiny tolerance for plans that return exact ratios)
    if (f.denom > factor * f.num * (1.0 + 1e-9)) continue;
    if (static_cast<int64_t>(f.num) * best.denom < static_cast<int64_t>(best.num) * f.denom) best = f;
  }
  return best;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

DecodedImage decode_jpeg(const uint8_t* b, size_t n, const std::string& name, const ScalePlan& plan) {
  tjhandle tj = jpeg_handle();
  int w = 0, h = 0, subsamp = 0, colorspace = 0;
  if (tjDecompressHeader3(tj, b, static_cast<unsigned long>(n), &w, &h, &subsamp, &colorspace) != 0)
    fail(name, std::string("bad JPEG header: ") + tjGetErrorStr2(tj));
  check_size(name, w, h);
  DecodedImage out;
  out.full = {w, h};
  const tjscalingfactor sf = plan ? pick_scale(plan(out.full)) : tjscalingfactor{1, 1};
  const int sw = TJSCALED(w, sf), sh = TJSCALED(h, sf);
  const bool cmyk = colorspace == TJCS_CMYK || colorspace == TJCS_YCCK;
  cv::Mat cmyk_buf;
  if (cmyk) cmyk_buf.create(sh, sw, CV_8UC4);
  out.rgb.create(sh, sw, CV_8UC3);
  cv::Mat& dst = cmyk ? cmyk_buf : out.rgb;
  const int rc = tjDecompress2(tj, b, static_cast<unsigned long>(n), dst.data, sw, static_cast<int>(dst.step[0]), sh,
                               cmyk ? TJPF_CMYK : TJPF_RGB, /*flags=*/0);
  if (rc != 0) {
    const std::string msg = tjGetErrorStr2(tj);
    const std::string low = lower(msg);
    // libjpeg inserts a fake EOI and only warns on truncated data; that must count as an error.
    if (tjGetErrorCode(tj) == TJERR_FATAL) fail(name, "corrupt JPEG data: " + msg);
    if (low.find("premature end") != std::string::npos || low.find("truncat") != std::string::npos)
      fail(name, "truncated JPEG data (" + msg + ")");
    // Other warnings (e.g. extraneous bytes before a marker) leave a complete image: keep it.
  }
  if (cmyk) {
    bool adobe = false;
    ImageSize unused;
    jpeg_scan_header(b, n, &unused, &adobe);
    // Adobe writes inverted CMYK; PIL's convert('RGB') gives R = (255-C)(255-K)/255 on the
    // uninverted values, i.e. C'K'/255 on Adobe's stored ones.
    for (int y = 0; y < sh; ++y) {
      const uint8_t* s = cmyk_buf.ptr<uint8_t>(y);
      uint8_t* d = out.rgb.ptr<uint8_t>(y);
      for (int x = 0; x < sw; ++x, s += 4, d += 3) {
        const int k = adobe ? s[3] : 255 - s[3];
        for (int c = 0; c < 3; ++c) {
          const int v = adobe ? s[c] : 255 - s[c];
          d[c] = static_cast<uint8_t>((v * k + 127) / 255);
        }
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// PNG (libpng, low-level API so that alpha is dropped like PIL's convert('RGB'), 16-bit
// keeps the high byte and no gamma transform is applied)

struct PngState {
  png_structp png = nullptr;
  png_infop info = nullptr;
  const uint8_t* data = nullptr;
  size_t size = 0;
  size_t pos = 0;
  char message[200] = {0};
  ~PngState() {
    if (png) png_destroy_read_struct(&png, info ? &info : nullptr, nullptr);
  }
};

void png_error_fn(png_structp png, png_const_charp msg) {
  auto* s = static_cast<PngState*>(png_get_error_ptr(png));
  std::snprintf(s->message, sizeof(s->message), "%s", msg ? msg : "unknown error");
  png_longjmp(png, 1);
}
void png_warning_fn(png_structp, png_const_charp) {}

void png_read_fn(png_structp png, png_bytep out, size_t len) {
  auto* s = static_cast<PngState*>(png_get_io_ptr(png));
  if (len > s->size - s->pos) png_error(png, "truncated PNG data");
  std::memcpy(out, s->data + s->pos, len);
  s->pos += len;
}

// Runs the libpng calls; only trivially destructible locals live across setjmp. Returns false
// with s->message set on a libpng error. `out` and `full` belong to the caller.
bool png_run(PngState* s, cv::Mat* out, ImageSize* full) {
  if (setjmp(png_jmpbuf(s->png))) return false;
  png_set_read_fn(s->png, s, png_read_fn);
  png_set_crc_action(s->png, PNG_CRC_DEFAULT, PNG_CRC_WARN_DISCARD);
  png_set_user_limits(s->png, kMaxSide, kMaxSide);
  png_read_info(s->png, s->info);
  png_uint_32 w = 0, h = 0;
  int depth = 0, color = 0, interlace = 0;
  png_get_IHDR(s->png, s->info, &w, &h, &depth, &color, &interlace, nullptr, nullptr);
  if (w == 0 || h == 0 || w > static_cast<png_uint_32>(kMaxSide) || h > static_cast<png_uint_32>(kMaxSide) ||
      static_cast<int64_t>(w) * h > kMaxPixels) {
    std::snprintf(s->message, sizeof(s->message), "invalid or too large image size %ux%u", w, h);
    return false;
  }
  full->width = static_cast<int>(w);
  full->height = static_cast<int>(h);
  if (depth == 16) png_set_strip_16(s->png);
  if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(s->png);
  if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(s->png);
  if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(s->png);
  png_set_strip_alpha(s->png);
  const int passes = png_set_interlace_handling(s->png);
  png_read_update_info(s->png, s->info);
  if (png_get_channels(s->png, s->info) != 3 || png_get_bit_depth(s->png, s->info) != 8) {
    std::snprintf(s->message, sizeof(s->message), "unsupported PNG layout");
    return false;
  }
  out->create(static_cast<int>(h), static_cast<int>(w), CV_8UC3);
  if (passes > 1) *out = cv::Scalar::all(0);
  for (int p = 0; p < passes; ++p)
    for (png_uint_32 y = 0; y < h; ++y) png_read_row(s->png, out->ptr<uint8_t>(static_cast<int>(y)), nullptr);
  return true;
}

DecodedImage decode_png(const uint8_t* b, size_t n, const std::string& name) {
  PngState s;
  s.data = b;
  s.size = n;
  s.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &s, png_error_fn, png_warning_fn);
  PROTOCLR_CHECK(s.png, "cannot initialise libpng");
  s.info = png_create_info_struct(s.png);
  PROTOCLR_CHECK(s.info, "cannot initialise libpng");
  DecodedImage out;
  if (!png_run(&s, &out.rgb, &out.full)) fail(name, std::string("corrupt PNG data: ") + s.message);
  return out;
}

ImageSize png_size(const uint8_t* b, size_t n, const std::string& name) {
  // signature (8) + IHDR length (4) + "IHDR" (4) + width (4) + height (4)
  if (n < 24 || std::memcmp(b + 12, "IHDR", 4) != 0) fail(name, "truncated or corrupt PNG header");
  const uint32_t w = be32(b + 16), h = be32(b + 20);
  check_size(name, w, h);
  return {static_cast<int>(w), static_cast<int>(h)};
}

// ---------------------------------------------------------------------------------------
// WebP

ImageSize webp_size(const uint8_t* b, size_t n, const std::string& name) {
  int w = 0, h = 0;
  if (!WebPGetInfo(b, n, &w, &h)) fail(name, "corrupt WebP header");
  check_size(name, w, h);
  return {w, h};
}

DecodedImage decode_webp(const uint8_t* b, size_t n, const std::string& name) {
  DecodedImage out;
  out.full = webp_size(b, n, name);
  out.rgb.create(out.full.height, out.full.width, CV_8UC3);
  // Alpha, if any, is dropped (like PIL's convert('RGB')).
  if (!WebPDecodeRGBInto(b, n, out.rgb.data, out.rgb.step[0] * out.rgb.rows, static_cast<int>(out.rgb.step[0])))
    fail(name, "corrupt or truncated WebP data");
  return out;
}

// ---------------------------------------------------------------------------------------
// TIFF (libtiff over a memory buffer)

struct TiffMem {
  const uint8_t* data;
  toff_t size;
  toff_t pos;
  char message[200];
};

tsize_t tiff_read(thandle_t h, tdata_t buf, tsize_t len) {
  auto* m = static_cast<TiffMem*>(h);
  if (len <= 0 || m->pos >= m->size) return 0;
  const toff_t n = std::min<toff_t>(static_cast<toff_t>(len), m->size - m->pos);
  std::memcpy(buf, m->data + m->pos, n);
  m->pos += n;
  return static_cast<tsize_t>(n);
}
tsize_t tiff_write(thandle_t, tdata_t, tsize_t) { return 0; }
toff_t tiff_seek(thandle_t h, toff_t off, int whence) {
  auto* m = static_cast<TiffMem*>(h);
  toff_t base = 0;
  if (whence == SEEK_CUR) base = m->pos;
  else if (whence == SEEK_END) base = m->size;
  m->pos = base + off;  // past-the-end positions are allowed; reads then return 0
  return m->pos;
}
int tiff_close(thandle_t) { return 0; }
toff_t tiff_size(thandle_t h) { return static_cast<TiffMem*>(h)->size; }
int tiff_map(thandle_t h, tdata_t* base, toff_t* size) {
  auto* m = static_cast<TiffMem*>(h);
  *base = const_cast<uint8_t*>(m->data);
  *size = m->size;
  return 1;
}
void tiff_unmap(thandle_t, tdata_t, toff_t) {}

int tiff_error(TIFF*, void* user, const char* module, const char* fmt, va_list ap) {
  auto* m = static_cast<TiffMem*>(user);
  if (m->message[0] == 0) std::vsnprintf(m->message, sizeof(m->message), fmt, ap);
  return 1;  // handled: libtiff does not print
}
int tiff_warning(TIFF*, void*, const char*, const char*, va_list) { return 1; }

struct TiffCloser {
  TIFF* tif = nullptr;
  TIFFOpenOptions* opts = nullptr;
  ~TiffCloser() {
    if (tif) TIFFClose(tif);
    if (opts) TIFFOpenOptionsFree(opts);
  }
};

// Opens the TIFF and reads its size; `decode` also reads the pixels.
DecodedImage tiff_read_image(const uint8_t* b, size_t n, const std::string& name, bool decode) {
  TiffMem mem{b, static_cast<toff_t>(n), 0, {0}};
  TiffCloser c;
  c.opts = TIFFOpenOptionsAlloc();
  PROTOCLR_CHECK(c.opts, "cannot initialise libtiff");
  TIFFOpenOptionsSetErrorHandlerExtR(c.opts, tiff_error, &mem);
  TIFFOpenOptionsSetWarningHandlerExtR(c.opts, tiff_warning, &mem);
  TIFFOpenOptionsSetMaxSingleMemAlloc(c.opts, static_cast<tmsize_t>(kMaxPixels) * 4 + (1 << 20));
  c.tif = TIFFClientOpenExt(name.c_str(), "r", &mem, tiff_read, tiff_write, tiff_seek, tiff_close, tiff_size,
                            tiff_map, tiff_unmap, c.opts);
  if (!c.tif) fail(name, std::string("corrupt TIFF data: ") + (mem.message[0] ? mem.message : "cannot open"));
  uint32_t w = 0, h = 0;
  TIFFGetField(c.tif, TIFFTAG_IMAGEWIDTH, &w);
  TIFFGetField(c.tif, TIFFTAG_IMAGELENGTH, &h);
  check_size(name, w, h);
  DecodedImage out;
  out.full = {static_cast<int>(w), static_cast<int>(h)};
  if (!decode) return out;
  std::vector<uint32_t> raster(static_cast<size_t>(w) * h);
  if (!TIFFReadRGBAImageOriented(c.tif, w, h, raster.data(), ORIENTATION_TOPLEFT, /*stop=*/1))
    fail(name, std::string("corrupt or unsupported TIFF data: ") + (mem.message[0] ? mem.message : "read failed"));
  out.rgb.create(static_cast<int>(h), static_cast<int>(w), CV_8UC3);
  for (uint32_t y = 0; y < h; ++y) {
    const uint32_t* s = raster.data() + static_cast<size_t>(y) * w;
    uint8_t* d = out.rgb.ptr<uint8_t>(static_cast<int>(y));
    for (uint32_t x = 0; x < w; ++x, d += 3) {  // alpha dropped
      d[0] = static_cast<uint8_t>(TIFFGetR(s[x]));
      d[1] = static_cast<uint8_t>(TIFFGetG(s[x]));
      d[2] = static_cast<uint8_t>(TIFFGetB(s[x]));
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// BMP: uncompressed 1/4/8-bit palette, 24-bit and 32-bit (BI_RGB or BI_BITFIELDS), both
// bottom-up and top-down.

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

}  // namespace

DecodedImage decode_image(const uint8_t* bytes, size_t size, const std::string& name, const ScalePlan& plan) {
  if (!bytes) size = 0;
  switch (sniff(bytes, size)) {
    case Format::kJpeg:
      try {
        return decode_jpeg(bytes, size, name, plan);
      } catch (...) {
        reset_jpeg_handle();
        throw;
      }
    case Format::kPng: return decode_png(bytes, size, name);
    case Format::kWebp: return decode_webp(bytes, size, name);
    case Format::kTiff: return tiff_read_image(bytes, size, name, /*decode=*/true);
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
    case Format::kJpeg: {
      ImageSize s;
      if (!jpeg_scan_header(bytes, size, &s, nullptr)) fail(name, "truncated or corrupt JPEG header");
      check_size(name, s.width, s.height);
      return s;
    }
    case Format::kPng: return png_size(bytes, size, name);
    case Format::kWebp: return webp_size(bytes, size, name);
    case Format::kTiff: return tiff_read_image(bytes, size, name, /*decode=*/false).full;
    case Format::kBmp: {
      const BmpHeader hd = bmp_header(bytes, size, name);
      return {hd.width, hd.height};
    }
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
