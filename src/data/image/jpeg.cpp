// JPEG (ITU-T T.81 | ISO/IEC 10918-1, JFIF; CMYK with Adobe's APP14 marker, Adobe Technical
// Note #5116) through libjpeg-turbo's TurboJPEG API, optionally at a reduced DCT scale.
#include <turbojpeg.h>

#include <cstring>
#include <string>
#include <vector>

#include "decoders.h"
#include "protoclr/core/error.h"

namespace protoclr::data::detail {
namespace {

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

DecodedImage decode_jpeg_unguarded(const uint8_t* b, size_t n, const std::string& name, const ScalePlan& plan) {
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

}  // namespace

// A failed decode drops this thread's decompressor (see reset_jpeg_handle).
DecodedImage decode_jpeg(const uint8_t* b, size_t n, const std::string& name, const ScalePlan& plan) {
  try {
    return decode_jpeg_unguarded(b, n, name, plan);
  } catch (...) {
    reset_jpeg_handle();
    throw;
  }
}

ImageSize jpeg_size(const uint8_t* b, size_t n, const std::string& name) {
  ImageSize s;
  if (!jpeg_scan_header(b, n, &s, nullptr)) fail(name, "truncated or corrupt JPEG header");
  check_size(name, s.width, s.height);
  return s;
}

}  // namespace protoclr::data::detail
