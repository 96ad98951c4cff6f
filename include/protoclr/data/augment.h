#pragma once
/// Augmentations with torchvision's semantics, on 8-bit RGB cv::Mat, and the recipes PCL
/// composes from them (MoCo v1 / v2). Randomness comes only from the Rng passed in, so a
/// sample's views depend only on the seed the loader derives from (seed, epoch, index).
#include <array>
#include <string>
#include <vector>

#include "protoclr/core/rng.h"
#include "protoclr/data/dataset.h"

namespace protoclr::data {

/// A crop rectangle in full-resolution pixel coordinates.
struct CropBox {
  int x = 0, y = 0, width = 0, height = 0;
};

/// torchvision RandomResizedCrop.get_params: up to 10 tries of area in scale*W*H and
/// log-uniform aspect ratio; else the centre crop clamped to `ratio`.
CropBox random_resized_crop_box(ImageSize full, Rng& rng, std::array<double, 2> scale = {0.2, 1.0},
                                std::array<double, 2> ratio = {3.0 / 4.0, 4.0 / 3.0});

/// Crops `box` (given in full-resolution coordinates of an image that was decoded at
/// src.cols / full.width of its size) and resizes it bilinearly to out_size x out_size.
cv::Mat resized_crop(const cv::Mat& src, ImageSize full, CropBox box, int out_size);

/// Resize so the shorter side is `size` (bilinear), then the centre size x size crop.
cv::Mat resize_center_crop(const cv::Mat& src, int resize_to, int crop);

// Colour ops: in place on CV_8UC3 RGB, torchvision.transforms.functional semantics.
void adjust_brightness(cv::Mat& rgb, double factor);   ///< blend with black
void adjust_contrast(cv::Mat& rgb, double factor);     ///< blend with the mean of the grayscale image
void adjust_saturation(cv::Mat& rgb, double factor);   ///< blend with the grayscale image
void adjust_hue(cv::Mat& rgb, double shift);           ///< shift in [-0.5, 0.5] of the HSV hue circle
void to_grayscale(cv::Mat& rgb);                       ///< ITU-R 601-2 luma in all three channels
void gaussian_blur(cv::Mat& rgb, double sigma);        ///< separable Gaussian, radius ceil(3 sigma)
void horizontal_flip(cv::Mat& rgb);

struct ColorJitterOptions {
  double brightness = 0.4;  ///< factor ~ U[max(0, 1-b), 1+b]
  double contrast = 0.4;
  double saturation = 0.4;
  double hue = 0.1;         ///< shift ~ U[-h, h], h <= 0.5
};
/// torchvision ColorJitter: the four ops in a random order, each with its random factor.
void color_jitter(cv::Mat& rgb, const ColorJitterOptions& options, Rng& rng);

inline constexpr std::array<float, 3> kImageNetMean = {0.485f, 0.456f, 0.406f};
inline constexpr std::array<float, 3> kImageNetStd = {0.229f, 0.224f, 0.225f};

/// ToTensor + Normalize: writes (x/255 - mean) / std as float. `channels_last` false writes
/// CHW planes (dst[c*H*W + y*W + x]); true writes HWC (dst[(y*W + x)*3 + c]).
void to_normalized_float(const cv::Mat& rgb, float* dst, bool channels_last,
                         const std::array<float, 3>& mean = kImageNetMean,
                         const std::array<float, 3>& std = kImageNetStd);
/// Inverse of to_normalized_float for CHW data (for pictures and tests).
cv::Mat from_normalized_float(const float* src, int height, int width,
                              const std::array<float, 3>& mean = kImageNetMean,
                              const std::array<float, 3>& std = kImageNetStd);

/// One augmentation recipe, as a plain options struct. The op order is fixed by `recipe`.
struct AugmentOptions {
  /// "mocov1": crop, grayscale(p), jitter (always), flip  (MoCo v1 / PCL v1)
  /// "mocov2": crop, jitter (p), grayscale(p), blur(p), flip  (MoCo v2 / PCL v2)
  /// "eval":   resize shorter side to `resize_to`, centre crop `image_size`
  std::string recipe = "mocov2";
  int image_size = 224;
  int resize_to = 0;  ///< eval only; 0 = image_size * 256 / 224 when image_size >= 64, else image_size
  std::array<double, 2> crop_scale = {0.2, 1.0};
  std::array<double, 2> crop_ratio = {3.0 / 4.0, 4.0 / 3.0};
  ColorJitterOptions jitter;       ///< mocov1 default is (0.4, 0.4, 0.4, 0.4)
  double jitter_p = 0.8;           ///< mocov2 only; mocov1 always jitters
  double grayscale_p = 0.2;
  double blur_p = 0.5;             ///< mocov2 only
  std::array<double, 2> blur_sigma = {0.1, 2.0};
  double flip_p = 0.5;

  /// The recipes exactly as PCL composes them.
  static AugmentOptions mocov1(int image_size);
  static AugmentOptions mocov2(int image_size);
  static AugmentOptions eval(int image_size);
  /// By name ("mocov1", "mocov2", "eval"); throws Error naming the flag otherwise.
  static AugmentOptions from_name(const std::string& recipe, int image_size);
};

/// Applies a recipe. Stateless apart from its options; safe to share between threads.
class Augmentation {
 public:
  explicit Augmentation(AugmentOptions options);
  const AugmentOptions& options() const { return options_; }

  /// `n_views` independent views of dataset image i. The crops are drawn first from the
  /// header size, then the image is decoded once at the smallest scale all crops allow.
  std::vector<cv::Mat> views(const Dataset& dataset, size_t i, int n_views, Rng& rng) const;
  /// The ops after loading, for one view of an already decoded image (full = its size
  /// at full resolution).
  cv::Mat apply(const cv::Mat& decoded, ImageSize full, Rng& rng) const;

 private:
  AugmentOptions options_;
};

}  // namespace protoclr::data
