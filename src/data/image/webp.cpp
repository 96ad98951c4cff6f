// WebP (RFC 9649; lossy VP8, lossless VP8L and extended VP8X files) through libwebp's simple
// decoding API.
#include <webp/decode.h>

#include "decoders.h"

namespace protoclr::data::detail {

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

}  // namespace protoclr::data::detail
