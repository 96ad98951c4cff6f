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
/// src.cols / full.width of its size) and resizes it bilinearly to out_size x out_size
/// (CV_8UC3 [out_size, out_size]). The box is mapped into src coordinates as floats; when
/// shrinking by more than 2x, area averaging replaces bilinear (like PIL's antialiasing).
cv::Mat resized_crop(const cv::Mat& src, ImageSize full, CropBox box, int out_size);

/// torchvision Resize(resize_to) + CenterCrop(crop): the shorter side becomes `resize_to`
/// (the longer int(resize_to * long / short)), bilinear, then the centre crop x crop
/// (zero-padded when the resized image is smaller than `crop`).
cv::Mat resize_center_crop(const cv::Mat& src, int resize_to, int crop);

// Colour ops: in place on CV_8UC3 RGB, torchvision.transforms.functional semantics
// computed in float, then rounded and saturated to uint8 (torchvision truncates on uint8
// tensors; rounding is the unbiased choice).
void adjust_brightness(cv::Mat& rgb, double factor);   ///< clamp(f * x): blend with black
void adjust_contrast(cv::Mat& rgb, double factor);     ///< clamp(f * x + (1 - f) * mean(luma))
void adjust_saturation(cv::Mat& rgb, double factor);   ///< clamp(f * x + (1 - f) * luma(x))
/// Rotates the HSV hue by `shift` turns (torchvision takes [-0.5, 0.5]; any value is
/// accepted, modulo 1). Quantised: hue is 8-bit (OpenCV RGB2HSV_FULL, 256 steps a turn)
/// and the shift is round(shift * 256) mod 256 steps; a shift of 0 steps is a no-op, others
/// cost the lossy uint8 RGB->HSV->RGB round trip (a few levels on saturated colours).
void adjust_hue(cv::Mat& rgb, double shift);
void to_grayscale(cv::Mat& rgb);                       ///< ITU-R 601-2 luma (0.299 R + 0.587 G + 0.114 B) in all three channels
void gaussian_blur(cv::Mat& rgb, double sigma);        ///< separable Gaussian, radius ceil(3 sigma), BORDER_REFLECT_101
void horizontal_flip(cv::Mat& rgb);                    ///< mirror left-right

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
/// ToTensor's bytes without the division: the uint8 layout of to_normalized_float, for a
/// batch that travels to the GPU as uint8 (4x less to copy) and is normalised there
/// (data/transfer.h).
void to_uint8(const cv::Mat& rgb, uint8_t* dst, bool channels_last);
/// Inverse of to_normalized_float for CHW data (for pictures and tests).
cv::Mat from_normalized_float(const float* src, int height, int width,
                              const std::array<float, 3>& mean = kImageNetMean,
                              const std::array<float, 3>& std = kImageNetStd);

/// One augmentation recipe, as a plain options struct. The op order is fixed by `recipe`.
struct AugmentOptions {
  /// "mocov1": crop, grayscale(p), jitter (always), flip  (MoCo v1 / PCL v1)
  /// "mocov2": crop, jitter (p), grayscale(p), blur(p), flip  (MoCo v2 / PCL v2)
  /// "crop-flip": crop (scale 0.08-1), flip  (torchvision's supervised recipe: linear
  ///          probe with --augment, fine-tuning)
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
  static AugmentOptions crop_flip(int image_size);
  static AugmentOptions eval(int image_size);
  /// By name ("mocov1", "mocov2", "crop-flip", "eval"); throws Error naming the flag otherwise.
  static AugmentOptions from_name(const std::string& recipe, int image_size);
};

/// Applies a recipe. Stateless apart from its options; safe to share between threads.
class Augmentation {
 public:
  /// Validates the options (throws protoclr::Error naming the bad field) and resolves
  /// resize_to for "eval".
  explicit Augmentation(AugmentOptions options);
  const AugmentOptions& options() const { return options_; }

  /// `n_views` independent views of dataset image i. The crops are drawn first from the
  /// header size, then the image is decoded once at the smallest scale all crops allow.
  std::vector<cv::Mat> views(const Dataset& dataset, size_t i, int n_views, Rng& rng) const;
  /// The ops after loading, for one view of an already decoded image (full = its size
  /// at full resolution; {0, 0} = decoded.size()). Returns CV_8UC3 [image_size, image_size].
  cv::Mat apply(const cv::Mat& decoded, ImageSize full, Rng& rng) const;

 private:
  /// Everything after the crop box is drawn: resized crop, then the recipe's random ops.
  cv::Mat apply_box(const cv::Mat& decoded, ImageSize full, CropBox box, Rng& rng) const;
  /// The eval recipe: resize + centre crop, no randomness.
  cv::Mat apply_eval(const cv::Mat& decoded, ImageSize full) const;

  AugmentOptions options_;  ///< validated; resize_to resolved for "eval"
};

}  // namespace protoclr::data
