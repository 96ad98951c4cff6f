// PNG (W3C PNG Specification / ISO/IEC 15948) through libpng's low-level API, so that alpha
// is dropped like PIL's convert('RGB'), 16-bit keeps the high byte and no gamma transform is
// applied.
#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>

#include "../byte_order.h"
#include "decoders.h"
#include "protoclr/core/error.h"

namespace protoclr::data::detail {
namespace {

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

}  // namespace

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

}  // namespace protoclr::data::detail
