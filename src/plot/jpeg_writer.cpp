#include "protoclr/plot/jpeg_writer.h"

#include <turbojpeg.h>

#include <memory>

#include "protoclr/core/error.h"
#include "protoclr/core/fs.h"

namespace protoclr::plot {

std::vector<uint8_t> encode_jpeg(const cv::Mat& rgb, int quality) {
  PROTOCLR_CHECK(!rgb.empty() && rgb.type() == CV_8UC3, "encode_jpeg: expected a non-empty 8-bit RGB image");
  PROTOCLR_CHECK(quality >= 1 && quality <= 100, "encode_jpeg: quality ", quality, " outside 1..100");
  // One compressor per thread: thumbnails are encoded by several at once.
  thread_local std::unique_ptr<void, int (*)(tjhandle)> handle(tjInitCompress(), tjDestroy);
  PROTOCLR_CHECK(handle, "encode_jpeg: TurboJPEG could not start: ", tjGetErrorStr());
  unsigned char* out = nullptr;
  unsigned long size = 0;
  const int status = tjCompress2(handle.get(), rgb.data, rgb.cols, static_cast<int>(rgb.step[0]), rgb.rows, TJPF_RGB,
                                 &out, &size, TJSAMP_420, quality, TJFLAG_ACCURATEDCT);
  std::unique_ptr<unsigned char, void (*)(unsigned char*)> owned(out, tjFree);
  PROTOCLR_CHECK(status == 0, "encode_jpeg: ", tjGetErrorStr2(handle.get()));
  return std::vector<uint8_t>(out, out + size);
}

void write_jpeg(const std::filesystem::path& path, const cv::Mat& rgb, int quality) {
  const std::vector<uint8_t> bytes = encode_jpeg(rgb, quality);
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  write_file_atomic(path, std::string(bytes.begin(), bytes.end()));
}

}  // namespace protoclr::plot
