#pragma once
/// Image decoding without OpenCV's imgcodecs: TurboJPEG, libpng, libwebp, libtiff and a small
/// BMP reader. Every decoder returns 8-bit RGB (grayscale, 16-bit, palette and alpha
/// images are converted), and JPEG can decode at a reduced DCT scale when the caller only
/// needs a smaller image (the big win on ImageNet-size JPEGs).
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include <opencv2/core.hpp>

namespace protoclr::data {

/// Width and height in pixels.
struct ImageSize {
  int width = 0;
  int height = 0;
};

/// Given the full-resolution size (read from the header before decoding), returns the
/// largest factor by which the decoder may shrink the image (>= 1; 1 = full resolution).
/// JPEG then decodes at the smallest libjpeg-turbo scale s (k/8) with 1/s <= factor.
using ScalePlan = std::function<double(ImageSize full)>;

struct DecodedImage {
  cv::Mat rgb;     ///< CV_8UC3, RGB order, possibly downscaled
  ImageSize full;  ///< size of the image at full resolution (before any DCT scaling)
};

/// Decodes an encoded image (format sniffed from the magic bytes, not the name).
/// `name` is used only in error messages. Throws protoclr::Error on corrupt or
/// truncated data (a truncated JPEG included), naming `name`; images over 2^15 pixels per
/// side or 2^28 pixels are refused. Like PIL's `.convert('RGB')` (what torchvision uses):
/// alpha is dropped, not composited; 16-bit PNG keeps the high byte; gamma chunks are
/// ignored; CMYK JPEG becomes R = (1-C)(1-K) (Adobe's inverted CMYK detected). Only JPEG
/// honours `plan`; other formats always decode at full resolution. TIFF reads the first page.
DecodedImage decode_image(const uint8_t* bytes, size_t size, const std::string& name,
                          const ScalePlan& plan = {});

/// Reads the file and decodes it.
DecodedImage decode_image_file(const std::string& path, const ScalePlan& plan = {});

/// Size from the header alone (cheap); throws protoclr::Error when the header is unreadable.
ImageSize read_image_size(const uint8_t* bytes, size_t size, const std::string& name);

/// True for the file endings the folder datasets accept (any case):
/// jpg, jpeg, png, bmp, webp, tif, tiff.
bool is_image_file(const std::string& path);

}  // namespace protoclr::data
