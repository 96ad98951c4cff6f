#include "protoclr/data/augment.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include <c10/util/Exception.h>
#include <opencv2/imgproc.hpp>

#include "protoclr/core/error.h"

namespace protoclr::data {
namespace {

/// ITU-R 601-2 luma weights (PIL's convert("L"), torchvision rgb_to_grayscale).
constexpr float kLumaR = 0.299f, kLumaG = 0.587f, kLumaB = 0.114f;

/// Python's round(): half to even (std::nearbyint under the default rounding mode).
int round_half_even(double v) { return static_cast<int>(std::nearbyint(v)); }

void check_rgb(const cv::Mat& rgb, const char* what) {
  PROTOCLR_CHECK(!rgb.empty() && rgb.type() == CV_8UC3, what, ": expected a non-empty 8-bit RGB image (CV_8UC3), got ",
                 rgb.empty() ? "an empty image" : "type " + std::to_string(rgb.type()));
}

bool near_integer(double v) { return std::abs(v - std::nearbyint(v)) < 1e-6; }

/// torchvision resized_crop on the float box [x0, x0+w) x [y0, y0+h) of src (src pixel
/// units): crop, then resize to out_w x out_h with pixel centres aligned as in cv::resize /
/// PIL (out pixel u samples x0 + (u + 0.5) w / out_w - 0.5, edges replicated at the crop).
cv::Mat resample(const cv::Mat& src, double x0, double y0, double w, double h, int out_w, int out_h) {
  const double fx = w / out_w, fy = h / out_h;  // src pixels per output pixel
  cv::Mat dst;
  if (fx > 2.0 || fy > 2.0 || (near_integer(x0) && near_integer(y0) && near_integer(w) && near_integer(h))) {
    // A whole-pixel box (the usual case without DCT scaling): crop + cv::resize is exact
    // and about twice as fast as warpAffine. Strong shrink: area averaging (antialiased)
    // over the box rounded to whole src pixels (the offset lost is < 0.5 src pixel, i.e.
    // < 0.25 output pixel there).
    const int rx0 = std::clamp(static_cast<int>(std::lround(x0)), 0, src.cols - 1);
    const int ry0 = std::clamp(static_cast<int>(std::lround(y0)), 0, src.rows - 1);
    const int rx1 = std::clamp(static_cast<int>(std::lround(x0 + w)), rx0 + 1, src.cols);
    const int ry1 = std::clamp(static_cast<int>(std::lround(y0 + h)), ry0 + 1, src.rows);
    cv::resize(src(cv::Rect(rx0, ry0, rx1 - rx0, ry1 - ry0)), dst, cv::Size(out_w, out_h), 0, 0,
               fx > 2.0 || fy > 2.0 ? cv::INTER_AREA : cv::INTER_LINEAR);
    return dst;
  }
  // A fractional box (a DCT-downscaled source): warp the enclosing whole-pixel rectangle,
  // so samples past the box edge replicate the crop's border as they would after a crop.
  const int rx0 = std::clamp(static_cast<int>(std::floor(x0)), 0, src.cols - 1);
  const int ry0 = std::clamp(static_cast<int>(std::floor(y0)), 0, src.rows - 1);
  const int rx1 = std::clamp(static_cast<int>(std::ceil(x0 + w)), rx0 + 1, src.cols);
  const int ry1 = std::clamp(static_cast<int>(std::ceil(y0 + h)), ry0 + 1, src.rows);
  const cv::Matx23d m(fx, 0.0, x0 - rx0 + 0.5 * fx - 0.5,  //
                      0.0, fy, y0 - ry0 + 0.5 * fy - 0.5);
  cv::warpAffine(src(cv::Rect(rx0, ry0, rx1 - rx0, ry1 - ry0)), dst, m, cv::Size(out_w, out_h),
                 cv::INTER_LINEAR | cv::WARP_INVERSE_MAP, cv::BORDER_REPLICATE);
  return dst;
}

/// torchvision Resize(resize_to) + CenterCrop(crop) of an image whose full-resolution size
/// is `full` and that was decoded (possibly DCT-downscaled) as `src`.
cv::Mat resize_center_crop_full(const cv::Mat& src, ImageSize full, int resize_to, int crop) {
  check_rgb(src, "resize_center_crop");
  PROTOCLR_CHECK(resize_to > 0 && crop > 0, "resize_center_crop: resize_to and crop must be positive, got ",
                 resize_to, " and ", crop);
  // torchvision _compute_resized_output_size: the shorter side becomes resize_to, the
  // longer int(resize_to * long / short).
  const bool wide = full.width > full.height;
  const int short_side = wide ? full.height : full.width;
  const int long_side = wide ? full.width : full.height;
  const int new_long = static_cast<int>(static_cast<double>(int64_t{resize_to} * long_side) / short_side);
  const int rw = wide ? new_long : resize_to;
  const int rh = wide ? resize_to : new_long;
  const double sx = static_cast<double>(src.cols) / rw, sy = static_cast<double>(src.rows) / rh;
  if (crop <= rw && crop <= rh) {
    // Resize-then-crop equals resampling the crop's preimage directly (same pixel-centre map).
    const int top = round_half_even((rh - crop) / 2.0);
    const int left = round_half_even((rw - crop) / 2.0);
    return resample(src, left * sx, top * sy, crop * sx, crop * sy, crop, crop);
  }
  // CenterCrop larger than the image: torchvision pads with zeros, then crops.
  cv::Mat resized = resample(src, 0, 0, src.cols, src.rows, rw, rh);
  const int pad_l = crop > rw ? (crop - rw) / 2 : 0, pad_r = crop > rw ? (crop - rw + 1) / 2 : 0;
  const int pad_t = crop > rh ? (crop - rh) / 2 : 0, pad_b = crop > rh ? (crop - rh + 1) / 2 : 0;
  cv::Mat padded;
  cv::copyMakeBorder(resized, padded, pad_t, pad_b, pad_l, pad_r, cv::BORDER_CONSTANT, cv::Scalar::all(0));
  const int top = round_half_even((padded.rows - crop) / 2.0);
  const int left = round_half_even((padded.cols - crop) / 2.0);
  return padded(cv::Rect(left, top, crop, crop)).clone();
}

/// out = f * x + (1 - f) * luma(x) in every channel, as one 3x3 colour transform.
void blend_with_luma(cv::Mat& rgb, double factor) {
  const float f = static_cast<float>(factor), g = 1.0f - f;
  const cv::Matx33f m(f + g * kLumaR, g * kLumaG, g * kLumaB,  //
                      g * kLumaR, f + g * kLumaG, g * kLumaB,  //
                      g * kLumaR, g * kLumaG, f + g * kLumaB);
  cv::transform(rgb, rgb, m);
}

void check_option(bool ok, const char* name, double value, const char* rule) {
  PROTOCLR_CHECK(ok, "augmentation option ", name, " = ", value, " is invalid: ", rule);
}

bool known_recipe(const std::string& r) { return r == "mocov1" || r == "mocov2" || r == "crop-flip" || r == "eval"; }

[[noreturn]] void throw_unknown(const std::string& recipe) {
  throw Error("unknown augmentation '" + recipe + "' (use mocov1, mocov2, crop-flip or eval)");
}

}  // namespace

CropBox random_resized_crop_box(ImageSize full, Rng& rng, std::array<double, 2> scale,
                                std::array<double, 2> ratio) {
  PROTOCLR_CHECK(full.width > 0 && full.height > 0, "random_resized_crop_box: empty image size ", full.width, "x",
                 full.height);
  const int width = full.width, height = full.height;
  const double area = static_cast<double>(width) * height;
  const double log_r0 = std::log(ratio[0]), log_r1 = std::log(ratio[1]);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target_area = area * uniform(rng, scale[0], scale[1]);
    const double aspect = std::exp(uniform(rng, log_r0, log_r1));
    const int w = round_half_even(std::sqrt(target_area * aspect));
    const int h = round_half_even(std::sqrt(target_area / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const int y = static_cast<int>(uniform_index(rng, static_cast<uint64_t>(height - h + 1)));
      const int x = static_cast<int>(uniform_index(rng, static_cast<uint64_t>(width - w + 1)));
      return {x, y, w, h};
    }
  }
  // Fallback: the centre crop with the aspect ratio clamped to `ratio`.
  const double in_ratio = static_cast<double>(width) / height;
  const double min_ratio = std::min(ratio[0], ratio[1]), max_ratio = std::max(ratio[0], ratio[1]);
  int w = width, h = height;
  if (in_ratio < min_ratio) {
    h = std::clamp(round_half_even(w / min_ratio), 1, height);
  } else if (in_ratio > max_ratio) {
    w = std::clamp(round_half_even(h * max_ratio), 1, width);
  }
  return {(width - w) / 2, (height - h) / 2, w, h};
}

cv::Mat resized_crop(const cv::Mat& src, ImageSize full, CropBox box, int out_size) {
  check_rgb(src, "resized_crop");
  PROTOCLR_CHECK(out_size > 0, "resized_crop: out_size must be positive, got ", out_size);
  PROTOCLR_CHECK(full.width > 0 && full.height > 0, "resized_crop: empty full size ", full.width, "x", full.height);
  PROTOCLR_CHECK(box.width > 0 && box.height > 0 && box.x >= 0 && box.y >= 0 && box.x + box.width <= full.width &&
                     box.y + box.height <= full.height,
                 "resized_crop: box ", box.x, ",", box.y, " ", box.width, "x", box.height, " outside the ", full.width,
                 "x", full.height, " image");
  const double sx = static_cast<double>(src.cols) / full.width;
  const double sy = static_cast<double>(src.rows) / full.height;
  return resample(src, box.x * sx, box.y * sy, box.width * sx, box.height * sy, out_size, out_size);
}

cv::Mat resize_center_crop(const cv::Mat& src, int resize_to, int crop) {
  return resize_center_crop_full(src, ImageSize{src.cols, src.rows}, resize_to, crop);
}

void adjust_brightness(cv::Mat& rgb, double factor) {
  check_rgb(rgb, "adjust_brightness");
  rgb.convertTo(rgb, -1, factor, 0.0);
}

void adjust_contrast(cv::Mat& rgb, double factor) {
  check_rgb(rgb, "adjust_contrast");
  // The mean of the float luma image is the luma of the channel means (it is linear).
  const cv::Scalar m = cv::mean(rgb);
  const double mean = kLumaR * m[0] + kLumaG * m[1] + kLumaB * m[2];
  rgb.convertTo(rgb, -1, factor, (1.0 - factor) * mean);
}

void adjust_saturation(cv::Mat& rgb, double factor) {
  check_rgb(rgb, "adjust_saturation");
  blend_with_luma(rgb, factor);
}

void adjust_hue(cv::Mat& rgb, double shift) {
  check_rgb(rgb, "adjust_hue");
  PROTOCLR_CHECK(std::isfinite(shift), "adjust_hue: shift must be finite, got ", shift);
  const int steps = ((round_half_even(std::fmod(shift, 1.0) * 256.0) % 256) + 256) % 256;
  if (steps == 0) return;
  cv::Mat hsv;
  cv::cvtColor(rgb, hsv, cv::COLOR_RGB2HSV_FULL);
  const uchar add = static_cast<uchar>(steps);
  for (int y = 0; y < hsv.rows; ++y) {
    uchar* row = hsv.ptr<uchar>(y);
    for (int x = 0; x < 3 * hsv.cols; x += 3) row[x] = static_cast<uchar>(row[x] + add);  // mod 256
  }
  cv::cvtColor(hsv, rgb, cv::COLOR_HSV2RGB_FULL);
}

void to_grayscale(cv::Mat& rgb) {
  check_rgb(rgb, "to_grayscale");
  blend_with_luma(rgb, 0.0);
}

void gaussian_blur(cv::Mat& rgb, double sigma) {
  check_rgb(rgb, "gaussian_blur");
  PROTOCLR_CHECK(sigma > 0 && std::isfinite(sigma), "gaussian_blur: sigma must be positive, got ", sigma);
  const int radius = static_cast<int>(std::ceil(3.0 * sigma));
  // A float kernel (sums to 1) through sepFilter2D: faster than GaussianBlur's bit-exact
  // fixed-point path for the large kernels (up to 13 taps) MoCo v2 draws.
  const cv::Mat kernel = cv::getGaussianKernel(2 * radius + 1, sigma, CV_32F);
  cv::sepFilter2D(rgb, rgb, /*ddepth=*/-1, kernel, kernel, cv::Point(-1, -1), /*delta=*/0, cv::BORDER_REFLECT_101);
}

void horizontal_flip(cv::Mat& rgb) {
  check_rgb(rgb, "horizontal_flip");
  cv::flip(rgb, rgb, /*flipCode=*/1);
}

void color_jitter(cv::Mat& rgb, const ColorJitterOptions& options, Rng& rng) {
  check_option(options.brightness >= 0, "jitter.brightness", options.brightness, "must be >= 0");
  check_option(options.contrast >= 0, "jitter.contrast", options.contrast, "must be >= 0");
  check_option(options.saturation >= 0, "jitter.saturation", options.saturation, "must be >= 0");
  check_option(options.hue >= 0 && options.hue <= 0.5, "jitter.hue", options.hue, "must be in [0, 0.5]");
  // torchvision ColorJitter.get_params: the permutation first, then the four factors
  // (an option of 0 is None there: no draw, no op).
  std::array<int, 4> order = {0, 1, 2, 3};
  for (int k = 3; k > 0; --k) std::swap(order[k], order[uniform_index(rng, static_cast<uint64_t>(k + 1))]);
  auto factor = [&](double v) { return v > 0 ? uniform(rng, std::max(0.0, 1.0 - v), 1.0 + v) : 1.0; };
  const double brightness = factor(options.brightness);
  const double contrast = factor(options.contrast);
  const double saturation = factor(options.saturation);
  const double hue = options.hue > 0 ? uniform(rng, -options.hue, options.hue) : 0.0;
  for (int op : order) {
    if (op == 0 && options.brightness > 0) adjust_brightness(rgb, brightness);
    if (op == 1 && options.contrast > 0) adjust_contrast(rgb, contrast);
    if (op == 2 && options.saturation > 0) adjust_saturation(rgb, saturation);
    if (op == 3 && options.hue > 0) adjust_hue(rgb, hue);
  }
}

namespace {

/// Writes every pixel of `rgb` through `value(channel, byte)` into CHW planes or HWC order:
/// the one loop behind to_normalized_float and to_uint8.
template <typename T, typename Value>
void write_pixels(const cv::Mat& rgb, T* dst, bool channels_last, const Value& value) {
  const int h = rgb.rows, w = rgb.cols;
  const size_t plane = static_cast<size_t>(h) * w;
  for (int y = 0; y < h; ++y) {
    const uchar* row = rgb.ptr<uchar>(y);
    const size_t base = static_cast<size_t>(y) * w;
    if (channels_last) {
      T* out = dst + base * 3;
      for (int x = 0; x < 3 * w; x += 3) {
        out[x] = value(0, row[x]);
        out[x + 1] = value(1, row[x + 1]);
        out[x + 2] = value(2, row[x + 2]);
      }
    } else {
      T* r = dst + base;
      T* g = r + plane;
      T* b = g + plane;
      for (int x = 0; x < w; ++x) {
        r[x] = value(0, row[3 * x]);
        g[x] = value(1, row[3 * x + 1]);
        b[x] = value(2, row[3 * x + 2]);
      }
    }
  }
}

}  // namespace

void to_normalized_float(const cv::Mat& rgb, float* dst, bool channels_last, const std::array<float, 3>& mean,
                         const std::array<float, 3>& std) {
  check_rgb(rgb, "to_normalized_float");
  TORCH_INTERNAL_ASSERT(dst != nullptr);
  // ToTensor (x / 255 in float32) then Normalize ((x - mean) / std in float32), tabulated.
  float lut[3][256];
  for (int c = 0; c < 3; ++c)
    for (int v = 0; v < 256; ++v) lut[c][v] = (static_cast<float>(v) / 255.0f - mean[c]) / std[c];
  write_pixels(rgb, dst, channels_last, [&](int c, uchar v) { return lut[c][v]; });
}

void to_uint8(const cv::Mat& rgb, uint8_t* dst, bool channels_last) {
  check_rgb(rgb, "to_uint8");
  TORCH_INTERNAL_ASSERT(dst != nullptr);
  write_pixels(rgb, dst, channels_last, [](int, uchar v) { return static_cast<uint8_t>(v); });
}

cv::Mat from_normalized_float(const float* src, int height, int width, const std::array<float, 3>& mean,
                              const std::array<float, 3>& std) {
  TORCH_INTERNAL_ASSERT(src != nullptr && height > 0 && width > 0);
  cv::Mat out(height, width, CV_8UC3);
  const size_t plane = static_cast<size_t>(height) * width;
  for (int y = 0; y < height; ++y) {
    uchar* row = out.ptr<uchar>(y);
    const float* in = src + static_cast<size_t>(y) * width;
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < 3; ++c) row[3 * x + c] = cv::saturate_cast<uchar>((in[c * plane + x] * std[c] + mean[c]) * 255.0f);
  }
  return out;
}

AugmentOptions AugmentOptions::mocov1(int image_size) {
  // MoCo v1 / PCL v1: RandomResizedCrop(scale=(0.2, 1)), RandomGrayscale(0.2),
  // ColorJitter(0.4, 0.4, 0.4, 0.4), RandomHorizontalFlip.
  AugmentOptions o;
  o.recipe = "mocov1";
  o.image_size = image_size;
  o.jitter = ColorJitterOptions{0.4, 0.4, 0.4, 0.4};
  o.jitter_p = 1.0;
  o.grayscale_p = 0.2;
  o.blur_p = 0.0;
  o.flip_p = 0.5;
  return o;
}

AugmentOptions AugmentOptions::mocov2(int image_size) {
  // MoCo v2 / PCL v2: RandomResizedCrop(scale=(0.2, 1)), RandomApply(ColorJitter(0.4, 0.4,
  // 0.4, 0.1), p=0.8), RandomGrayscale(0.2), RandomApply(GaussianBlur([0.1, 2]), p=0.5), flip.
  AugmentOptions o;
  o.recipe = "mocov2";
  o.image_size = image_size;
  o.jitter = ColorJitterOptions{0.4, 0.4, 0.4, 0.1};
  o.jitter_p = 0.8;
  o.grayscale_p = 0.2;
  o.blur_p = 0.5;
  o.blur_sigma = {0.1, 2.0};
  o.flip_p = 0.5;
  return o;
}

AugmentOptions AugmentOptions::crop_flip(int image_size) {
  // torchvision's supervised training transform, used by MoCo's linear classifier with
  // augmentation and by fine-tuning: RandomResizedCrop(scale=(0.08, 1)), RandomHorizontalFlip.
  AugmentOptions o;
  o.recipe = "crop-flip";
  o.image_size = image_size;
  o.crop_scale = {0.08, 1.0};
  o.jitter_p = 0.0;
  o.grayscale_p = 0.0;
  o.blur_p = 0.0;
  o.flip_p = 0.5;
  return o;
}

AugmentOptions AugmentOptions::eval(int image_size) {
  AugmentOptions o;
  o.recipe = "eval";
  o.image_size = image_size;
  o.resize_to = image_size >= 64 ? image_size * 256 / 224 : image_size;
  o.jitter_p = 0.0;
  o.grayscale_p = 0.0;
  o.blur_p = 0.0;
  o.flip_p = 0.0;
  return o;
}

AugmentOptions AugmentOptions::from_name(const std::string& recipe, int image_size) {
  if (recipe == "mocov1") return mocov1(image_size);
  if (recipe == "mocov2") return mocov2(image_size);
  if (recipe == "crop-flip") return crop_flip(image_size);
  if (recipe == "eval") return eval(image_size);
  throw_unknown(recipe);
}

Augmentation::Augmentation(AugmentOptions options) : options_(std::move(options)) {
  const AugmentOptions& o = options_;
  if (!known_recipe(o.recipe)) throw_unknown(o.recipe);
  check_option(o.image_size > 0, "image_size", o.image_size, "must be positive");
  check_option(o.resize_to >= 0, "resize_to", o.resize_to, "must be >= 0 (0 = automatic)");
  check_option(o.crop_scale[0] > 0 && o.crop_scale[0] <= o.crop_scale[1], "crop_scale[0]", o.crop_scale[0],
               "need 0 < crop_scale[0] <= crop_scale[1]");
  check_option(o.crop_ratio[0] > 0 && o.crop_ratio[0] <= o.crop_ratio[1], "crop_ratio[0]", o.crop_ratio[0],
               "need 0 < crop_ratio[0] <= crop_ratio[1]");
  for (auto [name, p] : {std::pair<const char*, double>{"jitter_p", o.jitter_p}, {"grayscale_p", o.grayscale_p},
                         {"blur_p", o.blur_p}, {"flip_p", o.flip_p}})
    check_option(p >= 0 && p <= 1, name, p, "a probability must be in [0, 1]");
  check_option(o.blur_sigma[0] > 0 && o.blur_sigma[0] <= o.blur_sigma[1], "blur_sigma[0]", o.blur_sigma[0],
               "need 0 < blur_sigma[0] <= blur_sigma[1]");
  check_option(o.jitter.brightness >= 0, "jitter.brightness", o.jitter.brightness, "must be >= 0");
  check_option(o.jitter.contrast >= 0, "jitter.contrast", o.jitter.contrast, "must be >= 0");
  check_option(o.jitter.saturation >= 0, "jitter.saturation", o.jitter.saturation, "must be >= 0");
  check_option(o.jitter.hue >= 0 && o.jitter.hue <= 0.5, "jitter.hue", o.jitter.hue, "must be in [0, 0.5]");
  if (o.recipe == "eval" && o.resize_to == 0)
    options_.resize_to = o.image_size >= 64 ? o.image_size * 256 / 224 : o.image_size;
}

cv::Mat Augmentation::apply_eval(const cv::Mat& decoded, ImageSize full) const {
  return resize_center_crop_full(decoded, full, options_.resize_to, options_.image_size);
}

cv::Mat Augmentation::apply_box(const cv::Mat& decoded, ImageSize full, CropBox box, Rng& rng) const {
  const AugmentOptions& o = options_;
  cv::Mat view = resized_crop(decoded, full, box, o.image_size);
  if (o.recipe == "mocov1") {
    if (bernoulli(rng, o.grayscale_p)) to_grayscale(view);
    color_jitter(view, o.jitter, rng);
  } else if (o.recipe == "mocov2") {
    if (bernoulli(rng, o.jitter_p)) color_jitter(view, o.jitter, rng);
    if (bernoulli(rng, o.grayscale_p)) to_grayscale(view);
    if (bernoulli(rng, o.blur_p)) gaussian_blur(view, uniform(rng, o.blur_sigma[0], o.blur_sigma[1]));
  }
  if (bernoulli(rng, o.flip_p)) horizontal_flip(view);
  return view;
}

cv::Mat Augmentation::apply(const cv::Mat& decoded, ImageSize full, Rng& rng) const {
  check_rgb(decoded, "Augmentation::apply");
  if (full.width <= 0 || full.height <= 0) full = ImageSize{decoded.cols, decoded.rows};
  if (options_.recipe == "eval") return apply_eval(decoded, full);
  const CropBox box = random_resized_crop_box(full, rng, options_.crop_scale, options_.crop_ratio);
  return apply_box(decoded, full, box, rng);
}

std::vector<cv::Mat> Augmentation::views(const Dataset& dataset, size_t i, int n_views, Rng& rng) const {
  PROTOCLR_CHECK(n_views >= 0, "Augmentation::views: n_views must be >= 0, got ", n_views);
  std::vector<cv::Mat> out;
  if (n_views == 0) return out;
  const AugmentOptions& o = options_;
  const bool eval = o.recipe == "eval";

  // The plan sees the header size: draw every crop first, then allow the largest
  // downscale that still leaves each crop at least image_size pixels on its shorter side.
  bool planned = false;
  ImageSize plan_full;
  std::vector<CropBox> boxes;
  auto draw_boxes = [&](ImageSize full) {
    boxes.clear();
    for (int v = 0; v < n_views; ++v) boxes.push_back(random_resized_crop_box(full, rng, o.crop_scale, o.crop_ratio));
  };
  const ScalePlan plan = [&](ImageSize full) -> double {
    if (eval) return std::max(1.0, std::min(full.width, full.height) / static_cast<double>(o.resize_to));
    if (!planned) {
      planned = true;
      plan_full = full;
      draw_boxes(full);
    }
    double factor = 1e300;
    for (const CropBox& b : boxes) factor = std::min(factor, std::min(b.width, b.height) / static_cast<double>(o.image_size));
    return std::max(1.0, factor);
  };
  DecodedImage decoded = dataset.load(i, plan);
  check_rgb(decoded.rgb, "Augmentation::views");
  ImageSize full = decoded.full;
  if (full.width <= 0 || full.height <= 0) full = ImageSize{decoded.rgb.cols, decoded.rgb.rows};

  out.reserve(n_views);
  if (eval) {
    cv::Mat view = apply_eval(decoded.rgb, full);
    for (int v = 1; v < n_views; ++v) out.push_back(view.clone());
    out.push_back(std::move(view));
    return out;
  }
  if (!planned) {
    draw_boxes(full);  // a dataset that never consults the plan (packed formats)
  } else {
    TORCH_INTERNAL_ASSERT(plan_full.width == full.width && plan_full.height == full.height, dataset.name(i),
                          ": load() planned with size ", plan_full.width, "x", plan_full.height,
                          " but reported full size ", full.width, "x", full.height);
  }
  for (const CropBox& box : boxes) out.push_back(apply_box(decoded.rgb, full, box, rng));
  return out;
}

}  // namespace protoclr::data
