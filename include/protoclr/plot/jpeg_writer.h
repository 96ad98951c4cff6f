#pragma once
/// JPEG encoding with libjpeg-turbo's TurboJPEG: thumbnails of a gallery, where PNG would
/// make photographs five to ten times larger.
#include <cstdint>
#include <filesystem>
#include <vector>

#include <opencv2/core.hpp>

namespace protoclr::plot {

/// Encodes an 8-bit RGB image (CV_8UC3, RGB order, any row stride) as a baseline JPEG of
/// `quality` (1..100), 4:2:0. Throws protoclr::Error on an empty image or another type.
std::vector<uint8_t> encode_jpeg(const cv::Mat& rgb, int quality = 85);

/// encode_jpeg, written to `path` atomically (parent folders created).
void write_jpeg(const std::filesystem::path& path, const cv::Mat& rgb, int quality = 85);

}  // namespace protoclr::plot
