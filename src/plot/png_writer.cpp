// PNG encoding to memory with libpng's low-level write API; errors come back through
// setjmp/longjmp and become protoclr::Error.
#include "protoclr/plot/png_writer.h"

#include <png.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "protoclr/core/error.h"
#include "protoclr/core/fs.h"

namespace protoclr::plot {
namespace {

struct PngWriteState {
  png_structp png = nullptr;
  png_infop info = nullptr;
  std::vector<uint8_t>* out = nullptr;
  char message[200] = {0};
  ~PngWriteState() {
    if (png) png_destroy_write_struct(&png, info ? &info : nullptr);
  }
};

void png_write_error_fn(png_structp png, png_const_charp msg) {
  auto* s = static_cast<PngWriteState*>(png_get_error_ptr(png));
  std::snprintf(s->message, sizeof(s->message), "%s", msg ? msg : "unknown error");
  png_longjmp(png, 1);
}
void png_write_warning_fn(png_structp, png_const_charp) {}

void png_write_fn(png_structp png, png_bytep data, size_t len) {
  auto* s = static_cast<PngWriteState*>(png_get_io_ptr(png));
  s->out->insert(s->out->end(), data, data + len);
}
void png_flush_fn(png_structp) {}

// Runs the libpng calls; only trivially destructible locals live across setjmp. Returns
// false with s->message set on a libpng error.
bool png_write_run(PngWriteState* s, const cv::Mat* rgb) {
  if (setjmp(png_jmpbuf(s->png))) return false;
  png_set_write_fn(s->png, s, png_write_fn, png_flush_fn);
  png_set_IHDR(s->png, s->info, static_cast<png_uint_32>(rgb->cols), static_cast<png_uint_32>(rgb->rows),
               /*bit_depth=*/8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_set_compression_level(s->png, 6);
  png_write_info(s->png, s->info);
  for (int y = 0; y < rgb->rows; ++y) png_write_row(s->png, rgb->ptr<uint8_t>(y));
  png_write_end(s->png, nullptr);
  return true;
}

}  // namespace

std::vector<uint8_t> encode_png(const cv::Mat& rgb) {
  PROTOCLR_CHECK(!rgb.empty() && rgb.dims == 2, "encode_png: empty image");
  PROTOCLR_CHECK(rgb.type() == CV_8UC3, "encode_png: 8-bit RGB image (CV_8UC3) expected, got OpenCV type ",
                 rgb.type());
  std::vector<uint8_t> out;
  PngWriteState s;
  s.out = &out;
  s.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &s, png_write_error_fn, png_write_warning_fn);
  PROTOCLR_CHECK(s.png, "cannot initialise libpng");
  s.info = png_create_info_struct(s.png);
  PROTOCLR_CHECK(s.info, "cannot initialise libpng");
  PROTOCLR_CHECK(png_write_run(&s, &rgb), "cannot encode PNG: ", s.message);
  return out;
}

void write_png(const std::filesystem::path& path, const cv::Mat& rgb) {
  const std::vector<uint8_t> bytes = encode_png(rgb);
  write_file_atomic(path, [&](const std::filesystem::path& tmp) {
    std::ofstream out(tmp, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    PROTOCLR_CHECK(out, "cannot write '", path.string(), "' (disk full or no permission?)");
  });
}

}  // namespace protoclr::plot
