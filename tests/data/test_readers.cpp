// Image decoders and dataset readers on tiny files written by the test itself.
#include <gtest/gtest.h>
#include <png.h>
#include <tiffio.h>
#include <turbojpeg.h>
#include <unistd.h>
#include <webp/encode.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "protoclr/core/error.h"
#include "protoclr/data/dataset.h"
#include "protoclr/data/image.h"
#include "support/error_of.h"

namespace protoclr::data {
namespace {
namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() /
            ("protoclr_readers_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string operator/(const std::string& rel) const { return (path_ / rel).string(); }
  std::string str() const { return path_.string(); }

 private:
  fs::path path_;
};

void write_bytes(const std::string& path, const Bytes& bytes) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}
void write_text(const std::string& path, const std::string& text) { write_bytes(path, Bytes(text.begin(), text.end())); }

/// Deterministic RGB test pattern [h, w, 3].
Bytes pattern(int w, int h, int seed = 0) {
  Bytes px(static_cast<size_t>(w) * h * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      uint8_t* p = &px[(static_cast<size_t>(y) * w + x) * 3];
      p[0] = static_cast<uint8_t>(x * 7 + seed);
      p[1] = static_cast<uint8_t>(y * 11 + 3 * seed);
      p[2] = static_cast<uint8_t>((x + y) * 5 + 40);
    }
  return px;
}

/// Smooth pattern for lossy JPEG checks.
Bytes smooth(int w, int h) {
  Bytes px(static_cast<size_t>(w) * h * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      uint8_t* p = &px[(static_cast<size_t>(y) * w + x) * 3];
      p[0] = static_cast<uint8_t>(x * 255 / std::max(w - 1, 1));
      p[1] = static_cast<uint8_t>(y * 255 / std::max(h - 1, 1));
      p[2] = 128;
    }
  return px;
}

Bytes make_jpeg(const Bytes& px, int w, int h, int pixel_format = TJPF_RGB, int subsamp = TJSAMP_444,
                int quality = 95) {
  tjhandle tj = tjInitCompress();
  unsigned char* out = nullptr;
  unsigned long size = 0;
  const int rc = tjCompress2(tj, px.data(), w, 0, h, pixel_format, &out, &size, subsamp, quality, 0);
  EXPECT_EQ(rc, 0) << tjGetErrorStr2(tj);
  Bytes bytes(out, out + size);
  tjFree(out);
  tjDestroy(tj);
  return bytes;
}

void write_png(const std::string& path, const void* data, int w, int h, uint32_t format,
               const void* colormap = nullptr, int colormap_entries = 0) {
  fs::create_directories(fs::path(path).parent_path());
  png_image img{};
  img.version = PNG_IMAGE_VERSION;
  img.width = static_cast<png_uint_32>(w);
  img.height = static_cast<png_uint_32>(h);
  img.format = format;
  img.colormap_entries = static_cast<png_uint_32>(colormap_entries);
  ASSERT_TRUE(png_image_write_to_file(&img, path.c_str(), 0, data, 0, colormap)) << img.message;
}

void write_tiff(const std::string& path, const Bytes& px, int w, int h) {
  TIFF* t = TIFFOpen(path.c_str(), "w");
  ASSERT_NE(t, nullptr);
  TIFFSetField(t, TIFFTAG_IMAGEWIDTH, w);
  TIFFSetField(t, TIFFTAG_IMAGELENGTH, h);
  TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, 3);
  TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 8);
  TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_RGB);
  TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
  TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, 2);
  for (int y = 0; y < h; ++y)
    ASSERT_GE(TIFFWriteScanline(t, const_cast<uint8_t*>(&px[static_cast<size_t>(y) * w * 3]), y, 0), 0);
  TIFFClose(t);
}

void put16(Bytes& b, size_t at, uint16_t v) {
  b[at] = v & 0xFF;
  b[at + 1] = v >> 8;
}
void put32(Bytes& b, size_t at, uint32_t v) {
  for (int k = 0; k < 4; ++k) b[at + k] = static_cast<uint8_t>(v >> (8 * k));
}

/// BMP with a BITMAPINFOHEADER: 24/32-bit from RGB pixels, or 8-bit from indices + palette.
Bytes make_bmp(const Bytes& px, int w, int h, int bpp, bool top_down, const Bytes& indices = {},
               const std::vector<std::array<uint8_t, 3>>& palette = {}) {
  const size_t stride = ((static_cast<size_t>(w) * bpp + 31) / 32) * 4;
  const size_t pal_bytes = bpp == 8 ? palette.size() * 4 : 0;
  const size_t offset = 14 + 40 + pal_bytes;
  Bytes b(offset + stride * h, 0);
  b[0] = 'B';
  b[1] = 'M';
  put32(b, 2, static_cast<uint32_t>(b.size()));
  put32(b, 10, static_cast<uint32_t>(offset));
  put32(b, 14, 40);
  put32(b, 18, static_cast<uint32_t>(w));
  put32(b, 22, static_cast<uint32_t>(top_down ? -h : h));
  put16(b, 26, 1);
  put16(b, 28, static_cast<uint16_t>(bpp));
  put32(b, 46, static_cast<uint32_t>(palette.size()));
  for (size_t i = 0; i < palette.size() && bpp == 8; ++i) {
    b[54 + 4 * i + 0] = palette[i][2];
    b[54 + 4 * i + 1] = palette[i][1];
    b[54 + 4 * i + 2] = palette[i][0];
  }
  for (int y = 0; y < h; ++y) {
    const int row = top_down ? y : h - 1 - y;
    uint8_t* d = &b[offset + stride * row];
    for (int x = 0; x < w; ++x) {
      const uint8_t* p = bpp == 8 ? nullptr : &px[(static_cast<size_t>(y) * w + x) * 3];
      if (bpp == 8) d[x] = indices[static_cast<size_t>(y) * w + x];
      else if (bpp == 24) {
        d[3 * x] = p[2], d[3 * x + 1] = p[1], d[3 * x + 2] = p[0];
      } else {
        d[4 * x] = p[2], d[4 * x + 1] = p[1], d[4 * x + 2] = p[0], d[4 * x + 3] = 77;
      }
    }
  }
  return b;
}

void expect_pixels(const cv::Mat& rgb, const Bytes& px, int w, int h, int tolerance = 0) {
  ASSERT_EQ(rgb.type(), CV_8UC3);
  ASSERT_EQ(rgb.cols, w);
  ASSERT_EQ(rgb.rows, h);
  int worst = 0;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c)
        worst = std::max(worst, std::abs(int(rgb.at<cv::Vec3b>(y, x)[c]) -
                                         int(px[(static_cast<size_t>(y) * w + x) * 3 + c])));
  EXPECT_LE(worst, tolerance);
}

Bytes read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

using test_support::error_of;

// ---------------------------------------------------------------------------------------
// Decoders

TEST(ReadersDecode, JpegRgbApproximately) {
  const int w = 40, h = 24;
  const Bytes px = smooth(w, h);
  const Bytes jpg = make_jpeg(px, w, h, TJPF_RGB, TJSAMP_444, 100);
  const DecodedImage d = decode_image(jpg.data(), jpg.size(), "x.jpg");
  EXPECT_EQ(d.full.width, w);
  EXPECT_EQ(d.full.height, h);
  expect_pixels(d.rgb, px, w, h, /*tolerance=*/8);
  const ImageSize s = read_image_size(jpg.data(), jpg.size(), "x.jpg");
  EXPECT_EQ(s.width, w);
  EXPECT_EQ(s.height, h);
}

TEST(ReadersDecode, JpegGrayscaleBecomesRgb) {
  const int w = 16, h = 16;
  Bytes gray(w * h);
  for (int i = 0; i < w * h; ++i) gray[i] = static_cast<uint8_t>(i);
  const Bytes jpg = make_jpeg(gray, w, h, TJPF_GRAY, TJSAMP_GRAY, 100);
  const DecodedImage d = decode_image(jpg.data(), jpg.size(), "g.jpg");
  ASSERT_EQ(d.rgb.type(), CV_8UC3);
  Bytes expect(w * h * 3);
  for (int i = 0; i < w * h; ++i) expect[3 * i] = expect[3 * i + 1] = expect[3 * i + 2] = gray[i];
  expect_pixels(d.rgb, expect, w, h, /*tolerance=*/6);
}

TEST(ReadersDecode, JpegCmykBecomesRgb) {
  // TurboJPEG writes CMYK with an Adobe marker; stored values are Adobe's inverted ones, so
  // (255, 0, 0, 255) is red and (255, 255, 255, 128) is mid gray.
  const int w = 16, h = 8;
  Bytes cmyk(w * h * 4);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      uint8_t* p = &cmyk[(y * w + x) * 4];
      if (x < 8) p[0] = 255, p[1] = 0, p[2] = 0, p[3] = 255;
      else p[0] = 255, p[1] = 255, p[2] = 255, p[3] = 128;
    }
  const Bytes jpg = make_jpeg(cmyk, w, h, TJPF_CMYK, TJSAMP_444, 100);
  const DecodedImage d = decode_image(jpg.data(), jpg.size(), "cmyk.jpg");
  const cv::Vec3b red = d.rgb.at<cv::Vec3b>(4, 2), gray = d.rgb.at<cv::Vec3b>(4, 13);
  EXPECT_NEAR(red[0], 255, 8);
  EXPECT_NEAR(red[1], 0, 8);
  EXPECT_NEAR(red[2], 0, 8);
  for (int c = 0; c < 3; ++c) EXPECT_NEAR(gray[c], 128, 8);
}

TEST(ReadersDecode, JpegDctScaledDecode) {
  const int w = 256, h = 256;
  const Bytes jpg = make_jpeg(smooth(w, h), w, h);
  const DecodedImage d4 = decode_image(jpg.data(), jpg.size(), "big.jpg", [](ImageSize) { return 4.0; });
  EXPECT_EQ(d4.rgb.cols, 64);
  EXPECT_EQ(d4.rgb.rows, 64);
  EXPECT_EQ(d4.full.width, 256);
  EXPECT_EQ(d4.full.height, 256);
  // factor 3: 1/2 and 3/8 are allowed (8/3 <= 3); 3/8 is the smallest -> 96.
  const DecodedImage d3 = decode_image(jpg.data(), jpg.size(), "big.jpg", [](ImageSize) { return 3.0; });
  EXPECT_EQ(d3.rgb.cols, 96);
  // the plan sees the full size
  ImageSize seen;
  const DecodedImage d1 = decode_image(jpg.data(), jpg.size(), "big.jpg", [&](ImageSize f) {
    seen = f;
    return 1.0;
  });
  EXPECT_EQ(seen.width, 256);
  EXPECT_EQ(d1.rgb.cols, 256);
  const DecodedImage d100 = decode_image(jpg.data(), jpg.size(), "big.jpg", [](ImageSize) { return 100.0; });
  EXPECT_EQ(d100.rgb.cols, 32);  // 1/8 is libjpeg-turbo's smallest scale
  EXPECT_EQ(d100.full.width, 256);
}

TEST(ReadersDecode, PngRgbGrayAlpha16BitPalette) {
  TempDir dir;
  const int w = 5, h = 3;
  const Bytes px = pattern(w, h);
  write_png(dir / "rgb.png", px.data(), w, h, PNG_FORMAT_RGB);
  expect_pixels(decode_image_file(dir / "rgb.png").rgb, px, w, h);

  Bytes gray(w * h), gray_rgb(w * h * 3);
  for (int i = 0; i < w * h; ++i) gray[i] = static_cast<uint8_t>(17 * i), gray_rgb[3 * i] = gray_rgb[3 * i + 1] = gray_rgb[3 * i + 2] = gray[i];
  write_png(dir / "gray.png", gray.data(), w, h, PNG_FORMAT_GRAY);
  expect_pixels(decode_image_file(dir / "gray.png").rgb, gray_rgb, w, h);

  // alpha is dropped (like PIL's convert('RGB')), not composited
  Bytes rgba(w * h * 4);
  for (int i = 0; i < w * h; ++i) {
    for (int c = 0; c < 3; ++c) rgba[4 * i + c] = px[3 * i + c];
    rgba[4 * i + 3] = static_cast<uint8_t>(i * 10);
  }
  write_png(dir / "rgba.png", rgba.data(), w, h, PNG_FORMAT_RGBA);
  expect_pixels(decode_image_file(dir / "rgba.png").rgb, px, w, h);

  // 16-bit: the high byte is kept (gray, stored as written by the linear simplified API)
  std::vector<uint16_t> g16(w * h);
  Bytes g16_rgb(w * h * 3);
  for (int i = 0; i < w * h; ++i) {
    g16[i] = static_cast<uint16_t>(i * 4000 + 0x55);
    g16_rgb[3 * i] = g16_rgb[3 * i + 1] = g16_rgb[3 * i + 2] = static_cast<uint8_t>(g16[i] >> 8);
  }
  write_png(dir / "g16.png", g16.data(), w, h, PNG_FORMAT_LINEAR_Y);
  expect_pixels(decode_image_file(dir / "g16.png").rgb, g16_rgb, w, h);

  // palette
  const uint8_t colormap[3 * 3] = {255, 0, 0, 0, 255, 0, 10, 20, 30};
  Bytes idx(w * h), pal_rgb(w * h * 3);
  for (int i = 0; i < w * h; ++i) {
    idx[i] = static_cast<uint8_t>(i % 3);
    for (int c = 0; c < 3; ++c) pal_rgb[3 * i + c] = colormap[3 * idx[i] + c];
  }
  write_png(dir / "pal.png", idx.data(), w, h, PNG_FORMAT_RGB_COLORMAP, colormap, 3);
  expect_pixels(decode_image_file(dir / "pal.png").rgb, pal_rgb, w, h);

  const Bytes bytes = read_all(dir / "pal.png");
  const ImageSize s = read_image_size(bytes.data(), bytes.size(), "pal.png");
  EXPECT_EQ(s.width, w);
  EXPECT_EQ(s.height, h);
}

TEST(ReadersDecode, WebpLossless) {
  const int w = 7, h = 4;
  const Bytes px = pattern(w, h, 3);
  uint8_t* out = nullptr;
  const size_t n = WebPEncodeLosslessRGB(px.data(), w, h, w * 3, &out);
  ASSERT_GT(n, 0u);
  const Bytes webp(out, out + n);
  WebPFree(out);
  const DecodedImage d = decode_image(webp.data(), webp.size(), "x.webp");
  expect_pixels(d.rgb, px, w, h);
  EXPECT_EQ(read_image_size(webp.data(), webp.size(), "x.webp").width, w);
}

TEST(ReadersDecode, Tiff) {
  TempDir dir;
  const int w = 6, h = 5;
  const Bytes px = pattern(w, h, 9);
  write_tiff(dir / "x.tif", px, w, h);
  const DecodedImage d = decode_image_file(dir / "x.tif");
  expect_pixels(d.rgb, px, w, h);
  const Bytes bytes = read_all(dir / "x.tif");
  EXPECT_EQ(read_image_size(bytes.data(), bytes.size(), "x.tif").height, h);
}

TEST(ReadersDecode, BmpBottomUpTopDownPalette) {
  const int w = 5, h = 3;  // odd width: rows are padded
  const Bytes px = pattern(w, h, 5);
  for (int bpp : {24, 32})
    for (bool top_down : {false, true}) {
      const Bytes bmp = make_bmp(px, w, h, bpp, top_down);
      SCOPED_TRACE(std::to_string(bpp) + (top_down ? " top-down" : " bottom-up"));
      expect_pixels(decode_image(bmp.data(), bmp.size(), "x.bmp").rgb, px, w, h);
      const ImageSize s = read_image_size(bmp.data(), bmp.size(), "x.bmp");
      EXPECT_EQ(s.width, w);
      EXPECT_EQ(s.height, h);
    }
  const std::vector<std::array<uint8_t, 3>> palette = {{1, 2, 3}, {200, 100, 50}, {9, 8, 7}};
  Bytes idx(w * h), expect(w * h * 3);
  for (int i = 0; i < w * h; ++i) {
    idx[i] = static_cast<uint8_t>((i * 2) % 3);
    for (int c = 0; c < 3; ++c) expect[3 * i + c] = palette[idx[i]][c];
  }
  const Bytes bmp8 = make_bmp({}, w, h, 8, false, idx, palette);
  expect_pixels(decode_image(bmp8.data(), bmp8.size(), "p.bmp").rgb, expect, w, h);
}

TEST(ReadersDecode, CorruptInputThrowsNamingTheFile) {
  const Bytes jpg = make_jpeg(smooth(64, 64), 64, 64);
  const Bytes half(jpg.begin(), jpg.begin() + static_cast<long>(jpg.size() / 2));
  const std::string m = error_of([&] { decode_image(half.data(), half.size(), "dir/trunc.jpg"); });
  EXPECT_NE(m.find("dir/trunc.jpg"), std::string::npos) << m;
  EXPECT_NE(m.find("truncated"), std::string::npos) << m;

  Bytes garbage(300);
  for (size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<uint8_t>(i * 31 + 7);
  EXPECT_NE(error_of([&] { decode_image(garbage.data(), garbage.size(), "junk.png"); }).find("junk.png"),
            std::string::npos);
  EXPECT_NE(error_of([&] { read_image_size(garbage.data(), garbage.size(), "junk.png"); }).find("junk.png"),
            std::string::npos);
  EXPECT_NE(error_of([&] { decode_image(nullptr, 0, "empty.jpg"); }).find("empty.jpg"), std::string::npos);

  // Every prefix and a few corruptions of each format: an Error or an image, never a crash.
  TempDir dir;
  const Bytes px = pattern(9, 7);
  write_png(dir / "a.png", px.data(), 9, 7, PNG_FORMAT_RGB);
  write_tiff(dir / "a.tif", px, 9, 7);
  uint8_t* wout = nullptr;
  const size_t wn = WebPEncodeLosslessRGB(px.data(), 9, 7, 27, &wout);
  const Bytes webp(wout, wout + wn);
  WebPFree(wout);
  for (const Bytes& good : {jpg, read_all(dir / "a.png"), read_all(dir / "a.tif"), webp, make_bmp(px, 9, 7, 24, false)}) {
    for (size_t cut = 0; cut < good.size(); cut += std::max<size_t>(1, good.size() / 40)) {
      Bytes b(good.begin(), good.begin() + static_cast<long>(cut));
      try {
        decode_image(b.data(), b.size(), "cut");
      } catch (const Error&) {
      }
      try {
        read_image_size(b.data(), b.size(), "cut");
      } catch (const Error&) {
      }
    }
    for (size_t at = 0; at < std::min<size_t>(good.size(), 64); ++at) {
      Bytes b = good;
      b[at] ^= 0xFF;
      try {
        decode_image(b.data(), b.size(), "flip");
      } catch (const Error&) {
      }
    }
  }
  // a BMP header claiming a huge size
  Bytes huge = make_bmp(px, 9, 7, 24, false);
  put32(huge, 18, 100000);
  EXPECT_NE(error_of([&] { decode_image(huge.data(), huge.size(), "huge.bmp"); }).find("huge.bmp"), std::string::npos);
}

TEST(ReadersDecode, IsImageFile) {
  EXPECT_TRUE(is_image_file("a/b.JPG"));
  EXPECT_TRUE(is_image_file("b.jpeg"));
  EXPECT_TRUE(is_image_file("b.TiFf"));
  EXPECT_TRUE(is_image_file("b.webp"));
  EXPECT_FALSE(is_image_file("b.txt"));
  EXPECT_FALSE(is_image_file("jpg"));
  EXPECT_FALSE(is_image_file("a.png/readme"));
}

// ---------------------------------------------------------------------------------------
// Folders and list files

void png_file(const std::string& path, int seed, int w = 4, int h = 3) {
  const Bytes px = pattern(w, h, seed);
  write_png(path, px.data(), w, h, PNG_FORMAT_RGB);
}

TEST(ReadersFolder, ImageFolderOrderLikeTorchvision) {
  TempDir d;
  // classes sorted by name: "Dog" < "ant" < "cat"
  png_file(d / "cat/1.png", 1);
  write_bytes(d / "Dog/x.bmp", make_bmp(pattern(3, 2), 3, 2, 24, false));
  png_file(d / "ant/b.png", 2);
  write_bytes(d / "ant/a.JPG", make_jpeg(smooth(8, 8), 8, 8));
  png_file(d / "ant/sub/c.png", 3);
  png_file(d / "ant/sub c/d.png", 4);
  png_file(d / "ant/sub/deep/e.png", 5);
  png_file(d / "ant/.hidden.png", 6);
  write_text(d / "ant/notes.txt", "not an image");
  write_text(d / ".DS_Store", "x");
  auto ds = open_dataset(d.str());
  EXPECT_EQ(ds->format(), "image-folder");
  ASSERT_EQ(ds->classes(), (std::vector<std::string>{"Dog", "ant", "cat"}));
  ASSERT_EQ(ds->size(), 7u);
  // sorted(os.walk(...)) compares folder paths: "sub" < "sub c" < "sub/deep"
  const std::vector<std::string> expect = {"Dog/x.bmp", "ant/a.JPG", "ant/b.png", "ant/sub/c.png",
                                           "ant/sub c/d.png", "ant/sub/deep/e.png", "cat/1.png"};
  const std::vector<int64_t> labels = {0, 1, 1, 1, 1, 1, 2};
  for (size_t i = 0; i < expect.size(); ++i) {
    EXPECT_EQ(ds->name(i), d / expect[i]);
    EXPECT_EQ(ds->label(i), labels[i]);
  }
  EXPECT_EQ(ds->labels(), labels);
  const Sample s = ds->get(6);
  EXPECT_EQ(s.label, 2);
  EXPECT_EQ(s.index, 6);
  expect_pixels(s.image, pattern(4, 3, 1), 4, 3);
  EXPECT_TRUE(ds->skipped().empty());

  // concurrent loads
  std::vector<std::thread> pool;
  std::atomic<int> bad{0};
  for (int t = 0; t < 4; ++t)
    pool.emplace_back([&] {
      for (int r = 0; r < 20; ++r)
        for (size_t i = 0; i < ds->size(); ++i)
          if (ds->load(i).rgb.empty()) ++bad;
    });
  for (auto& th : pool) th.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST(ReadersFolder, LooseImagesBesideClassFoldersAreIgnored) {
  TempDir d;
  png_file(d / "a/1.png", 1);
  png_file(d / "loose.png", 2);
  auto ds = open_dataset(d.str());
  EXPECT_EQ(ds->format(), "image-folder");
  EXPECT_EQ(ds->size(), 1u);
}

TEST(ReadersFolder, FlatFolderIsUnlabeled) {
  TempDir d;
  png_file(d / "b.png", 1);
  png_file(d / "a.PNG", 2);
  write_bytes(d / "c.bmp", make_bmp(pattern(3, 2), 3, 2, 24, true));
  write_text(d / "readme.md", "hi");
  auto ds = open_dataset(d.str());
  EXPECT_EQ(ds->format(), "flat-folder");
  EXPECT_TRUE(ds->classes().empty());
  ASSERT_EQ(ds->size(), 3u);
  EXPECT_EQ(ds->name(0), d / "a.PNG");
  EXPECT_EQ(ds->name(2), d / "c.bmp");
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(ds->label(i), -1);
}

TEST(ReadersFolder, ListFile) {
  TempDir d;
  png_file(d / "imgs/a b.png", 1);
  png_file(d / "imgs/c.png", 2);
  write_text(d / "list.txt", "# path label\nimgs/a b.png 2\n\n  imgs/c.png\t0\r\n");
  auto ds = open_dataset(d / "list.txt");
  EXPECT_EQ(ds->format(), "list-file");
  ASSERT_EQ(ds->size(), 2u);
  EXPECT_EQ(ds->classes(), (std::vector<std::string>{"0", "1", "2"}));
  EXPECT_EQ(ds->label(0), 2);
  EXPECT_EQ(ds->label(1), 0);
  expect_pixels(ds->load(0).rgb, pattern(4, 3, 1), 4, 3);

  write_text(d / "bad.txt", "imgs/c.png cat\n");
  const std::string m = error_of([&] { open_dataset(d / "bad.txt"); });
  EXPECT_NE(m.find("bad.txt"), std::string::npos) << m;
  EXPECT_NE(m.find("line 1"), std::string::npos) << m;
}

TEST(ReadersFolder, CorruptImageIsSkippedWithItsName) {
  TempDir d;
  png_file(d / "a/1.png", 1);
  png_file(d / "a/2.png", 2);
  write_text(d / "a/broken.png", "this is not a png at all");
  png_file(d / "b/3.png", 3);
  auto ds = open_dataset(d.str());
  EXPECT_EQ(ds->size(), 3u);
  ASSERT_EQ(ds->skipped().size(), 1u);
  EXPECT_EQ(ds->skipped()[0], d / "a/broken.png");
  for (size_t i = 0; i < ds->size(); ++i) EXPECT_NE(ds->name(i), d / "a/broken.png");

  DatasetOptions no_verify;
  no_verify.verify_headers = false;
  auto raw = open_dataset(d.str(), no_verify);
  EXPECT_EQ(raw->size(), 4u);
  const std::string m = error_of([&] { raw->load(2); });
  EXPECT_NE(m.find("broken.png"), std::string::npos) << m;
}

TEST(ReadersFolder, MissingPathAndEmptyFolderThrow) {
  TempDir d;
  std::string m = error_of([&] { open_dataset(d / "nope"); });
  EXPECT_NE(m.find(d / "nope"), std::string::npos) << m;
  fs::create_directories(d / "empty");
  m = error_of([&] { open_dataset(d / "empty"); });
  EXPECT_NE(m.find(d / "empty"), std::string::npos) << m;
  EXPECT_NE(m.find("no images found"), std::string::npos) << m;
  write_text(d / "text/readme.txt", "x");
  m = error_of([&] { open_dataset(d / "text"); });
  EXPECT_NE(m.find("no images found"), std::string::npos) << m;
}

// ---------------------------------------------------------------------------------------
// IDX and CIFAR

Bytes be32(uint32_t v) { return {uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)}; }

Bytes idx_images(uint32_t n, uint32_t rows, uint32_t cols, int seed, uint32_t magic = 0x00000803) {
  Bytes b = be32(magic);
  for (uint32_t v : {n, rows, cols}) {
    const Bytes x = be32(v);
    b.insert(b.end(), x.begin(), x.end());
  }
  for (uint32_t i = 0; i < n * rows * cols; ++i) b.push_back(static_cast<uint8_t>(i * 3 + seed));
  return b;
}
Bytes idx_labels(const std::vector<uint8_t>& labels) {
  Bytes b = be32(0x00000801);
  const Bytes n = be32(static_cast<uint32_t>(labels.size()));
  b.insert(b.end(), n.begin(), n.end());
  b.insert(b.end(), labels.begin(), labels.end());
  return b;
}
void write_gz(const std::string& path, const Bytes& bytes) {
  fs::create_directories(fs::path(path).parent_path());
  gzFile gz = gzopen(path.c_str(), "wb");
  ASSERT_NE(gz, nullptr);
  ASSERT_EQ(gzwrite(gz, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  gzclose(gz);
}

TEST(ReadersIdx, RawAndGzWithLabels) {
  TempDir d;
  write_bytes(d / "mnist/train-images-idx3-ubyte", idx_images(3, 2, 3, 0));
  write_bytes(d / "mnist/train-labels-idx1-ubyte", idx_labels({4, 0, 9}));
  write_gz(d / "mnist/t10k-images-idx3-ubyte.gz", idx_images(2, 2, 3, 100));
  write_gz(d / "mnist/t10k-labels-idx1-ubyte.gz", idx_labels({7, 1}));
  auto train = open_dataset(d / "mnist");
  EXPECT_EQ(train->format(), "idx");
  ASSERT_EQ(train->size(), 3u);
  EXPECT_EQ(train->labels(), (std::vector<int64_t>{4, 0, 9}));
  EXPECT_EQ(train->classes().size(), 10u);
  EXPECT_EQ(train->classes()[3], "3");
  const DecodedImage im = train->load(1);
  ASSERT_EQ(im.rgb.rows, 2);
  ASSERT_EQ(im.rgb.cols, 3);
  // image 1, pixel (y=1, x=2): flat index 6 + 5 = 11 -> value 33, replicated
  EXPECT_EQ(im.rgb.at<cv::Vec3b>(1, 2), cv::Vec3b(33, 33, 33));
  EXPECT_NE(train->name(2).find("#2"), std::string::npos);

  DatasetOptions test_split;
  test_split.split = "test";
  auto test = open_dataset(d / "mnist", test_split);
  ASSERT_EQ(test->size(), 2u);
  EXPECT_EQ(test->labels(), (std::vector<int64_t>{7, 1}));
  EXPECT_EQ(test->load(0).rgb.at<cv::Vec3b>(0, 1), cv::Vec3b(103, 103, 103));

  // direct path to the images file; Fashion-MNIST names by path
  write_gz(d / "fashion/train-images-idx3-ubyte.gz", idx_images(1, 2, 2, 0));
  write_gz(d / "fashion/train-labels-idx1-ubyte.gz", idx_labels({9}));
  auto fashion = open_dataset(d / "fashion/train-images-idx3-ubyte.gz");
  ASSERT_EQ(fashion->classes().size(), 10u);
  EXPECT_EQ(fashion->classes()[0], "T-shirt/top");
  EXPECT_EQ(fashion->classes()[9], "Ankle boot");
}

TEST(ReadersIdx, WrongMagicThrows) {
  TempDir d;
  write_bytes(d / "bad/train-images-idx3-ubyte", idx_images(1, 2, 2, 0, 0x00000801));
  const std::string m = error_of([&] { open_dataset(d / "bad"); });
  EXPECT_NE(m.find("train-images-idx3-ubyte"), std::string::npos) << m;
  EXPECT_NE(m.find("0x00000801"), std::string::npos) << m;
  Bytes cut = idx_images(2, 2, 2, 0);
  cut.pop_back();
  write_bytes(d / "short/train-images-idx3-ubyte", cut);
  EXPECT_NE(error_of([&] { open_dataset(d / "short"); }).find("train-images-idx3-ubyte"), std::string::npos);
}

Bytes cifar_record(int label_bytes, const std::vector<uint8_t>& labels, int seed) {
  Bytes r(labels.begin(), labels.end());
  for (int c = 0; c < 3; ++c)
    for (int k = 0; k < 1024; ++k) r.push_back(static_cast<uint8_t>(k + 50 * c + seed));
  return r;
}

TEST(ReadersCifar, Cifar10PlanesToRgb) {
  TempDir d;
  Bytes batch = cifar_record(1, {3}, 0);
  const Bytes second = cifar_record(1, {9}, 7);
  batch.insert(batch.end(), second.begin(), second.end());
  write_bytes(d / "c/cifar-10-batches-bin/data_batch_1.bin", batch);
  write_bytes(d / "c/cifar-10-batches-bin/test_batch.bin", cifar_record(1, {1}, 1));
  auto ds = open_dataset(d / "c");
  EXPECT_EQ(ds->format(), "cifar10");
  ASSERT_EQ(ds->size(), 2u);
  EXPECT_EQ(ds->labels(), (std::vector<int64_t>{3, 9}));
  EXPECT_EQ(ds->classes()[3], "cat");
  const cv::Mat im = ds->load(1).rgb;
  ASSERT_EQ(im.rows, 32);
  // pixel k = y*32+x = 33 -> R = 33+7, G = 33+50+7, B = 33+100+7
  EXPECT_EQ(im.at<cv::Vec3b>(1, 1), cv::Vec3b(40, 90, 140));
  EXPECT_NE(ds->name(1).find("data_batch_1.bin#1"), std::string::npos);

  write_text(d / "c/cifar-10-batches-bin/batches.meta.txt", "a0\na1\na2\na3\na4\na5\na6\na7\na8\na9\n\n");
  DatasetOptions test_split;
  test_split.split = "test";
  auto test = open_dataset(d / "c", test_split);
  ASSERT_EQ(test->size(), 1u);
  EXPECT_EQ(test->classes()[1], "a1");

  write_bytes(d / "bad/data_batch_1.bin", Bytes(3073 + 5, 0));
  const std::string m = error_of([&] { open_dataset(d / "bad"); });
  EXPECT_NE(m.find("data_batch_1.bin"), std::string::npos) << m;
}

TEST(ReadersCifar, Cifar100UsesFineLabels) {
  TempDir d;
  Bytes train = cifar_record(2, {4, 77}, 0);
  const Bytes second = cifar_record(2, {1, 5}, 2);
  train.insert(train.end(), second.begin(), second.end());
  write_bytes(d / "c100/train.bin", train);
  write_bytes(d / "c100/test.bin", cifar_record(2, {0, 99}, 0));
  auto ds = open_dataset(d / "c100");
  EXPECT_EQ(ds->format(), "cifar100");
  EXPECT_EQ(ds->classes().size(), 100u);
  EXPECT_EQ(ds->labels(), (std::vector<int64_t>{77, 5}));
  EXPECT_EQ(ds->load(1).rgb.at<cv::Vec3b>(0, 0), cv::Vec3b(2, 52, 102));
  write_bytes(d / "bad100/train.bin", Bytes(3074 * 2 - 1, 0));
  EXPECT_NE(error_of([&] { open_dataset(d / "bad100"); }).find("train.bin"), std::string::npos);
}

// ---------------------------------------------------------------------------------------
// Subsets and inspect

class FakeDataset : public Dataset {
 public:
  explicit FakeDataset(std::vector<int64_t> labels, size_t classes) : labels_(std::move(labels)) {
    for (size_t c = 0; c < classes; ++c) classes_.push_back(std::to_string(c));
  }
  size_t size() const override { return labels_.size(); }
  const std::vector<std::string>& classes() const override { return classes_; }
  int64_t label(size_t i) const override { return labels_.at(i); }
  DecodedImage load(size_t i, const ScalePlan&) const override {
    return {cv::Mat(2, 2, CV_8UC3, cv::Scalar::all(static_cast<double>(i % 256))), {2, 2}};
  }
  std::string name(size_t i) const override { return "fake#" + std::to_string(i); }
  std::string format() const override { return "fake"; }

 private:
  std::vector<int64_t> labels_;
  std::vector<std::string> classes_;
};

std::vector<std::string> names_of(const Dataset& ds) {
  std::vector<std::string> out;
  for (size_t i = 0; i < ds.size(); ++i) out.push_back(ds.name(i));
  return out;
}

TEST(ReadersSubset, BalancedReproducibleNotFirstN) {
  std::vector<int64_t> labels;
  for (int i = 0; i < 500; ++i) labels.push_back(i / 100);  // 5 classes, sorted by class
  auto parent = std::make_shared<FakeDataset>(labels, 5);
  auto a = balanced_subset(parent, 52, 1);
  ASSERT_EQ(a->size(), 52u);
  std::vector<int> counts(5, 0);
  for (size_t i = 0; i < a->size(); ++i) ++counts[a->label(i)];
  for (int c : counts) EXPECT_LE(std::abs(c - 52.0 / 5), 1.0);
  // parent order
  std::vector<size_t> idx;
  for (size_t i = 0; i < a->size(); ++i) idx.push_back(std::stoul(a->name(i).substr(5)));
  EXPECT_TRUE(std::is_sorted(idx.begin(), idx.end()));
  EXPECT_EQ(std::set<size_t>(idx.begin(), idx.end()).size(), idx.size());
  std::vector<size_t> first_n(52);
  for (size_t i = 0; i < 52; ++i) first_n[i] = i;
  EXPECT_NE(idx, first_n);
  EXPECT_EQ(names_of(*a), names_of(*balanced_subset(parent, 52, 1)));
  EXPECT_NE(names_of(*a), names_of(*balanced_subset(parent, 52, 2)));
  EXPECT_EQ(a->format(), "fake");
  EXPECT_EQ(balanced_subset(parent, 500, 1).get(), parent.get());

  // a small class gives all it has; the others share the rest
  std::vector<int64_t> skewed(3, 0);
  for (int i = 0; i < 100; ++i) skewed.push_back(1 + i % 2);
  auto s = balanced_subset(std::make_shared<FakeDataset>(skewed, 3), 30, 0);
  ASSERT_EQ(s->size(), 30u);
  std::vector<int> sc(3, 0);
  for (size_t i = 0; i < s->size(); ++i) ++sc[s->label(i)];
  EXPECT_EQ(sc[0], 3);
  EXPECT_LE(std::abs(sc[1] - sc[2]), 1);

  // unlabeled: uniform subset
  auto flat = std::make_shared<FakeDataset>(std::vector<int64_t>(40, -1), 0);
  auto f = balanced_subset(flat, 10, 3);
  EXPECT_EQ(f->size(), 10u);
}

TEST(ReadersSubset, LimitOptionAndSkippedForwarded) {
  TempDir d;
  for (int c = 0; c < 2; ++c)
    for (int i = 0; i < 6; ++i) png_file(d / ("c" + std::to_string(c) + "/" + std::to_string(i) + ".png"), i);
  write_text(d / "c0/zz.png", "junk");
  DatasetOptions o;
  o.limit = 4;
  o.seed = 5;
  auto ds = open_dataset(d.str(), o);
  EXPECT_EQ(ds->size(), 4u);
  EXPECT_EQ(ds->format(), "image-folder");
  EXPECT_EQ(ds->skipped().size(), 1u);
  EXPECT_EQ(ds->labels(), (std::vector<int64_t>{0, 0, 1, 1}));
}

TEST(ReadersInspect, CountsSizesAndUnreadable) {
  TempDir d;
  png_file(d / "a/1.png", 1, 4, 3);
  png_file(d / "a/2.png", 2, 8, 5);
  png_file(d / "b/3.png", 3, 6, 7);
  write_text(d / "b/bad.png", "junk");  // skipped at open
  const Bytes jpg = make_jpeg(smooth(32, 32), 32, 32);
  write_bytes(d / "b/cut.jpg", Bytes(jpg.begin(), jpg.begin() + static_cast<long>(jpg.size() * 2 / 3)));
  auto ds = open_dataset(d.str());
  ASSERT_EQ(ds->size(), 4u);  // cut.jpg has a readable header
  const DatasetReport r = inspect_dataset(*ds, d.str(), 2);
  EXPECT_EQ(r.images, 4u);
  EXPECT_EQ(r.format, "image-folder");
  EXPECT_EQ(r.class_counts, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(r.min_width, 4);
  EXPECT_EQ(r.max_width, 8);
  EXPECT_EQ(r.min_height, 3);
  EXPECT_EQ(r.max_height, 7);
  EXPECT_DOUBLE_EQ(r.mean_width, 6.0);
  EXPECT_DOUBLE_EQ(r.mean_height, 5.0);
  ASSERT_EQ(r.unreadable.size(), 2u);
  EXPECT_EQ(r.unreadable[0], d / "b/bad.png");
  EXPECT_EQ(r.unreadable[1], d / "b/cut.jpg");
}

TEST(ReadersDefault, FashionMnistWhenInstalled) {
  if (!fs::exists(kDefaultDataset)) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  DatasetOptions o;
  o.limit = 100;
  auto ds = open_dataset("", o);
  EXPECT_EQ(ds->format(), "idx");
  EXPECT_EQ(ds->size(), 100u);
  EXPECT_EQ(ds->classes()[9], "Ankle boot");
  const DecodedImage im = ds->load(0);
  EXPECT_EQ(im.rgb.cols, 28);
}

}  // namespace
}  // namespace protoclr::data
