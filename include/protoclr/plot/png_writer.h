#pragma once
/// PNG encoding with libpng (OpenCV's imgcodecs is not used): pictures produced by `eval`
/// (t-SNE scatter plots, training curves, cluster sheets) are written with these.
#include <cstdint>
#include <filesystem>
#include <vector>

#include <opencv2/core.hpp>

namespace protoclr::plot {

/// Encodes an 8-bit RGB image (CV_8UC3, RGB channel order, any row stride) as an
/// 8-bit-per-channel, non-interlaced RGB PNG in memory. Deterministic: no time stamp or
/// other varying chunk is written, so equal pixels give equal bytes. Throws protoclr::Error
/// on an empty image or a type other than CV_8UC3.
std::vector<uint8_t> encode_png(const cv::Mat& rgb);

/// Encodes `rgb` (as encode_png) and writes it to `path` atomically (a temporary file
/// renamed over `path`; parent folders are created). Throws protoclr::Error naming `path`.
void write_png(const std::filesystem::path& path, const cv::Mat& rgb);

}  // namespace protoclr::plot
