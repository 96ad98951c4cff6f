// TIFF (TIFF Revision 6.0, Adobe 1992) through libtiff over a memory buffer; the first page,
// read with TIFFReadRGBAImageOriented.
#include <tiffio.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <vector>

#include "decoders.h"
#include "protoclr/core/error.h"

namespace protoclr::data::detail {
namespace {

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
toff_t tiff_mem_size(thandle_t h) { return static_cast<TiffMem*>(h)->size; }
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
  c.tif = TIFFClientOpenExt(name.c_str(), "r", &mem, tiff_read, tiff_write, tiff_seek, tiff_close, tiff_mem_size,
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

}  // namespace

DecodedImage decode_tiff(const uint8_t* b, size_t n, const std::string& name) {
  return tiff_read_image(b, n, name, /*decode=*/true);
}

ImageSize tiff_size(const uint8_t* b, size_t n, const std::string& name) {
  return tiff_read_image(b, n, name, /*decode=*/false).full;
}

}  // namespace protoclr::data::detail
