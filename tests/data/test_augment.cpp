// Augmentations: hand-computed expectations for each op, crop-box bounds, layouts, and the
// determinism of Augmentation::views() on a tiny in-memory dataset.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <iostream>
#include <string>
#include <vector>

#include <opencv2/imgproc.hpp>

#include "protoclr/core/error.h"
#include "protoclr/data/augment.h"

namespace protoclr::data {
namespace {

/// Uniform random RGB noise, seeded.
cv::Mat random_image(int h, int w, uint64_t seed) {
  cv::Mat img(h, w, CV_8UC3);
  Rng rng(seed);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < 3 * w; ++x) img.ptr<uchar>(y)[x] = static_cast<uchar>(uniform_index(rng, 256));
  return img;
}

/// A smooth colourful image (low frequencies only), so resampling paths can be compared.
cv::Mat smooth_image(int h, int w) {
  cv::Mat img(h, w, CV_8UC3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const double u = static_cast<double>(x) / w, v = static_cast<double>(y) / h;
      img.at<cv::Vec3b>(y, x) = cv::Vec3b(cv::saturate_cast<uchar>(128 + 100 * std::sin(6.0 * u + 1.0)),
                                          cv::saturate_cast<uchar>(128 + 100 * std::cos(5.0 * v)),
                                          cv::saturate_cast<uchar>(40 + 180 * u * v));
    }
  return img;
}

cv::Mat filled(int h, int w, cv::Vec3b colour) { return cv::Mat(h, w, CV_8UC3, cv::Scalar(colour[0], colour[1], colour[2])); }

double max_abs_diff(const cv::Mat& a, const cv::Mat& b) { return cv::norm(a, b, cv::NORM_INF); }
double mean_abs_diff(const cv::Mat& a, const cv::Mat& b) {
  return cv::norm(a, b, cv::NORM_L1) / static_cast<double>(a.total() * a.channels());
}
bool equal(const cv::Mat& a, const cv::Mat& b) { return a.size() == b.size() && a.type() == b.type() && max_abs_diff(a, b) == 0; }

/// ITU-R 601-2 luma of one pixel, unrounded.
double luma(const cv::Vec3b& p) { return 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]; }

/// An in-memory dataset. load() records what the plan was given and, when `downscale`,
/// shrinks by the largest power of two <= the plan's factor (up to 8), like a JPEG DCT decode.
class MatDataset : public Dataset {
 public:
  MatDataset(std::vector<cv::Mat> images, bool downscale) : images_(std::move(images)), downscale_(downscale) {}
  size_t size() const override { return images_.size(); }
  const std::vector<std::string>& classes() const override { return classes_; }
  int64_t label(size_t) const override { return -1; }
  DecodedImage load(size_t i, const ScalePlan& plan) const override {
    const cv::Mat& img = images_.at(i);
    const ImageSize full{img.cols, img.rows};
    double factor = 1.0;
    if (plan) {
      factor = plan(full);
      ++plan_calls;
      last_factor = factor;
    }
    int s = 1;
    while (downscale_ && s < 8 && 2 * s <= factor) s *= 2;
    last_scale = s;
    if (s == 1) return {img.clone(), full};
    cv::Mat small;
    cv::resize(img, small, cv::Size((img.cols + s - 1) / s, (img.rows + s - 1) / s), 0, 0, cv::INTER_AREA);
    return {small, full};
  }
  std::string name(size_t i) const override { return "mat#" + std::to_string(i); }
  std::string format() const override { return "test"; }

  mutable int plan_calls = 0;
  mutable double last_factor = 0;
  mutable int last_scale = 0;

 private:
  std::vector<cv::Mat> images_;
  std::vector<std::string> classes_;
  bool downscale_;
};

// ---- colour ops ---------------------------------------------------------------------------

TEST(AugmentColor, NeutralFactorsAreIdentity) {
  const cv::Mat src = random_image(17, 23, 1);
  cv::Mat img = src.clone();
  adjust_brightness(img, 1.0);
  EXPECT_TRUE(equal(img, src));
  adjust_contrast(img, 1.0);
  EXPECT_TRUE(equal(img, src));
  adjust_saturation(img, 1.0);
  EXPECT_TRUE(equal(img, src));
  adjust_hue(img, 0.0);
  EXPECT_TRUE(equal(img, src));
}

TEST(AugmentColor, BrightnessHalfHalvesRounded) {
  const cv::Mat src = random_image(9, 11, 2);
  cv::Mat img = src.clone();
  adjust_brightness(img, 0.5);
  for (int y = 0; y < src.rows; ++y)
    for (int x = 0; x < 3 * src.cols; ++x) {
      const int v = src.ptr<uchar>(y)[x], out = img.ptr<uchar>(y)[x];
      EXPECT_LE(std::abs(out - v * 0.5), 0.5) << v;
    }
  cv::Mat bright = filled(2, 2, {200, 100, 10});
  adjust_brightness(bright, 2.0);  // saturates
  EXPECT_EQ(bright.at<cv::Vec3b>(1, 1), cv::Vec3b(255, 200, 20));
}

TEST(AugmentColor, ContrastZeroGivesGrayscaleMean) {
  cv::Mat img(1, 2, CV_8UC3);
  img.at<cv::Vec3b>(0, 0) = {255, 0, 0};
  img.at<cv::Vec3b>(0, 1) = {0, 0, 255};
  // mean luma = (0.299 * 255 + 0.114 * 255) / 2 = 52.66 -> 53
  adjust_contrast(img, 0.0);
  for (int x = 0; x < 2; ++x) EXPECT_EQ(img.at<cv::Vec3b>(0, x), cv::Vec3b(53, 53, 53));

  const cv::Mat src = random_image(13, 7, 3);
  double mean = 0;
  for (int y = 0; y < src.rows; ++y)
    for (int x = 0; x < src.cols; ++x) mean += luma(src.at<cv::Vec3b>(y, x));
  mean /= static_cast<double>(src.total());
  cv::Mat flat = src.clone();
  adjust_contrast(flat, 0.0);
  const uchar expected = static_cast<uchar>(std::lround(mean));
  for (int y = 0; y < src.rows; ++y)
    for (int x = 0; x < 3 * src.cols; ++x) ASSERT_EQ(flat.ptr<uchar>(y)[x], expected);
}

TEST(AugmentColor, SaturationZeroGivesLuma) {
  const cv::Mat src = random_image(8, 8, 4);
  cv::Mat img = src.clone();
  adjust_saturation(img, 0.0);
  for (int y = 0; y < src.rows; ++y)
    for (int x = 0; x < src.cols; ++x) {
      const cv::Vec3b p = img.at<cv::Vec3b>(y, x);
      EXPECT_EQ(p[0], p[1]);
      EXPECT_EQ(p[1], p[2]);
      EXPECT_LE(std::abs(p[0] - luma(src.at<cv::Vec3b>(y, x))), 1.0);  // OpenCV's fixed point
    }
}

TEST(AugmentColor, GrayscaleUses601Weights) {
  cv::Mat img = filled(3, 4, {200, 100, 50});
  to_grayscale(img);  // 0.299*200 + 0.587*100 + 0.114*50 = 124.2
  EXPECT_EQ(img.at<cv::Vec3b>(2, 3), cv::Vec3b(124, 124, 124));
  cv::Mat white = filled(1, 1, {255, 255, 255});
  to_grayscale(white);
  EXPECT_EQ(white.at<cv::Vec3b>(0, 0), cv::Vec3b(255, 255, 255));
  cv::Mat red = filled(1, 1, {255, 0, 0});
  to_grayscale(red);  // 76.245
  EXPECT_EQ(red.at<cv::Vec3b>(0, 0), cv::Vec3b(76, 76, 76));
}

TEST(AugmentColor, HueShifts) {
  cv::Mat red = filled(2, 2, {255, 0, 0});
  adjust_hue(red, 0.5);  // half a turn: cyan
  const cv::Vec3b cyan = red.at<cv::Vec3b>(0, 0);
  EXPECT_LE(cyan[0], 3);
  EXPECT_GE(cyan[1], 252);
  EXPECT_GE(cyan[2], 252);

  cv::Mat green = filled(1, 1, {255, 0, 0});
  adjust_hue(green, 1.0 / 3.0);  // a third of a turn: green (quantised to 85/256)
  const cv::Vec3b g = green.at<cv::Vec3b>(0, 0);
  EXPECT_LE(g[0], 8);
  EXPECT_GE(g[1], 250);
  EXPECT_LE(g[2], 8);

  const cv::Mat src = random_image(6, 6, 5);
  for (double turn : {1.0, -1.0, 2.0}) {
    cv::Mat img = src.clone();
    adjust_hue(img, turn);
    EXPECT_TRUE(equal(img, src)) << turn;
  }
  // A small shift and back: approximately the identity (uint8 HSV round trips are lossy).
  cv::Mat img = smooth_image(16, 16);
  const cv::Mat ref = img.clone();
  adjust_hue(img, 0.1);
  adjust_hue(img, -0.1);
  EXPECT_LT(mean_abs_diff(img, ref), 3.0);
}

TEST(AugmentColor, JitterIsSeededAndRejectsBadOptions) {
  const cv::Mat src = smooth_image(24, 24);
  const ColorJitterOptions options{0.4, 0.4, 0.4, 0.1};
  auto jitter = [&](uint64_t seed) {
    cv::Mat img = src.clone();
    Rng rng(seed);
    color_jitter(img, options, rng);
    return img;
  };
  EXPECT_TRUE(equal(jitter(11), jitter(11)));
  EXPECT_FALSE(equal(jitter(11), jitter(12)));
  EXPECT_FALSE(equal(jitter(11), src));

  // All-zero options: no op and no draws beyond the permutation.
  cv::Mat img = src.clone();
  Rng rng(3);
  color_jitter(img, ColorJitterOptions{0, 0, 0, 0}, rng);
  EXPECT_TRUE(equal(img, src));

  ColorJitterOptions bad = options;
  bad.hue = 0.6;
  EXPECT_THROW(color_jitter(img, bad, rng), Error);
}

// ---- geometry -----------------------------------------------------------------------------

TEST(AugmentCrop, BoxesStayInBounds) {
  const ImageSize full{320, 240};
  const double area = 320.0 * 240.0;
  Rng rng(42);
  for (int t = 0; t < 1000; ++t) {
    const CropBox b = random_resized_crop_box(full, rng);
    ASSERT_GE(b.x, 0);
    ASSERT_GE(b.y, 0);
    ASSERT_GT(b.width, 0);
    ASSERT_GT(b.height, 0);
    ASSERT_LE(b.x + b.width, full.width);
    ASSERT_LE(b.y + b.height, full.height);
    // w and h are each rounded by at most 0.5.
    ASSERT_GE((b.width + 0.5) * (b.height + 0.5), 0.2 * area) << b.width << "x" << b.height;
    ASSERT_LE((b.width - 0.5) * (b.height - 0.5), area);
    ASSERT_GE((b.width + 0.5) / (b.height - 0.5), 3.0 / 4.0) << b.width << "x" << b.height;
    ASSERT_LE((b.width - 0.5) / (b.height + 0.5), 4.0 / 3.0) << b.width << "x" << b.height;
  }
}

TEST(AugmentCrop, FallbackClampsRatio) {
  Rng rng(7);
  // Every try needs h >= sqrt(0.2 * 10000 * 3/4) > 10, so the centre fallback is taken.
  const CropBox wide = random_resized_crop_box({1000, 10}, rng);
  EXPECT_EQ(wide.height, 10);
  EXPECT_EQ(wide.width, 13);  // round(10 * 4/3)
  EXPECT_EQ(wide.x, (1000 - 13) / 2);
  EXPECT_EQ(wide.y, 0);
  const CropBox tall = random_resized_crop_box({10, 1000}, rng);
  EXPECT_EQ(tall.width, 10);
  EXPECT_EQ(tall.height, 13);  // round(10 / (3/4))
  EXPECT_EQ(tall.y, (1000 - 13) / 2);
  const double r = static_cast<double>(wide.width) / wide.height;
  EXPECT_GE(r, 0.75 - 0.05);
  EXPECT_LE(r, 4.0 / 3.0 + 0.05);
  // In-range aspect ratio, impossible scale: the whole image.
  const CropBox whole = random_resized_crop_box({50, 40}, rng, {2.0, 3.0});
  EXPECT_EQ(whole.width, 50);
  EXPECT_EQ(whole.height, 40);
}

TEST(AugmentCrop, ResizedCropIdentityAndDownscaledSource) {
  const cv::Mat full = smooth_image(160, 200);
  const ImageSize fs{200, 160};
  // The whole image at its own size: an exact copy.
  EXPECT_TRUE(equal(resized_crop(full, fs, {0, 0, 160, 160}, 160), full(cv::Rect(0, 0, 160, 160))));

  cv::Mat half;
  cv::resize(full, half, cv::Size(100, 80), 0, 0, cv::INTER_AREA);
  for (const CropBox box : {CropBox{30, 20, 120, 100}, CropBox{0, 0, 200, 160}, CropBox{101, 57, 61, 83}}) {
    for (int out : {32, 48, 96}) {
      const cv::Mat a = resized_crop(full, fs, box, out);
      const cv::Mat b = resized_crop(half, fs, box, out);
      ASSERT_EQ(a.size(), cv::Size(out, out));
      ASSERT_EQ(b.size(), cv::Size(out, out));
      EXPECT_LT(mean_abs_diff(a, b), 1.5) << box.x << "," << box.y << " -> " << out;
      EXPECT_LT(max_abs_diff(a, b), 8) << box.x << "," << box.y << " -> " << out;
    }
  }
  EXPECT_THROW(resized_crop(full, fs, {150, 0, 60, 60}, 32), Error);
}

TEST(AugmentCrop, ResizeCenterCrop) {
  // Left half red, right half blue, 400x100: resized to 200x50, centre 50x50 = columns 75..124.
  cv::Mat img = filled(100, 400, {255, 0, 0});
  img(cv::Rect(200, 0, 200, 100)).setTo(cv::Scalar(0, 0, 255));
  const cv::Mat out = resize_center_crop(img, 50, 50);
  ASSERT_EQ(out.size(), cv::Size(50, 50));
  EXPECT_EQ(out.at<cv::Vec3b>(25, 5), cv::Vec3b(255, 0, 0));
  EXPECT_EQ(out.at<cv::Vec3b>(25, 44), cv::Vec3b(0, 0, 255));
  // A crop larger than the resized image is zero-padded: 200x50 -> pad 15 above, 15 below.
  const cv::Mat padded = resize_center_crop(img, 50, 80);
  ASSERT_EQ(padded.size(), cv::Size(80, 80));
  EXPECT_EQ(padded.at<cv::Vec3b>(5, 40), cv::Vec3b(0, 0, 0));
  EXPECT_EQ(padded.at<cv::Vec3b>(40, 10), cv::Vec3b(255, 0, 0));
  EXPECT_EQ(padded.at<cv::Vec3b>(75, 40), cv::Vec3b(0, 0, 0));
}

TEST(AugmentBlur, KeepsMeanAndConstants) {
  const cv::Mat src = random_image(64, 64, 9);
  for (double sigma : {0.1, 0.7, 2.0}) {
    cv::Mat img = src.clone();
    gaussian_blur(img, sigma);
    const cv::Scalar a = cv::mean(src), b = cv::mean(img);
    for (int c = 0; c < 3; ++c) EXPECT_NEAR(a[c], b[c], 0.5) << sigma;
    if (sigma > 0.5) {
      EXPECT_GT(mean_abs_diff(img, src), 5.0);  // it does smooth
    }
  }
  const cv::Mat flat = filled(20, 30, {137, 3, 250});
  cv::Mat img = flat.clone();
  gaussian_blur(img, 2.0);
  EXPECT_TRUE(equal(img, flat));
  cv::Mat tiny = filled(3, 2, {9, 99, 199});
  gaussian_blur(tiny, 2.0);  // radius 6 > image: reflections still defined
  EXPECT_TRUE(equal(tiny, filled(3, 2, {9, 99, 199})));
}

TEST(AugmentFlip, TwiceIsIdentity) {
  const cv::Mat src = random_image(5, 7, 10);
  cv::Mat img = src.clone();
  horizontal_flip(img);
  EXPECT_EQ(img.at<cv::Vec3b>(2, 0), src.at<cv::Vec3b>(2, 6));
  EXPECT_FALSE(equal(img, src));
  horizontal_flip(img);
  EXPECT_TRUE(equal(img, src));
}

// ---- tensors ------------------------------------------------------------------------------

TEST(AugmentNormalize, RoundTripsEveryValue) {
  // Row y, column x, channel c holds (x + 85 c + y) mod 256: every value in every channel.
  const int h = 2, w = 256;
  cv::Mat img(h, w, CV_8UC3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) img.ptr<uchar>(y)[3 * x + c] = static_cast<uchar>((x + 85 * c + y) % 256);
  std::vector<float> chw(3 * h * w), hwc(3 * h * w);
  to_normalized_float(img, chw.data(), /*channels_last=*/false);
  to_normalized_float(img, hwc.data(), /*channels_last=*/true);
  EXPECT_TRUE(equal(from_normalized_float(chw.data(), h, w), img));

  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) {
        const float expected = (img.ptr<uchar>(y)[3 * x + c] / 255.0f - kImageNetMean[c]) / kImageNetStd[c];
        ASSERT_EQ(chw[c * h * w + y * w + x], expected);
        ASSERT_EQ(hwc[(y * w + x) * 3 + c], expected);
      }
  // A known value: red 255 -> (1 - 0.485) / 0.229.
  const cv::Mat red = filled(1, 1, {255, 0, 0});
  float px[3];
  to_normalized_float(red, px, /*channels_last=*/true);
  EXPECT_NEAR(px[0], 2.2489, 1e-4);
  EXPECT_NEAR(px[1], -0.456 / 0.224, 1e-5);
  EXPECT_NEAR(px[2], -0.406 / 0.225, 1e-5);
}

// ---- recipes ------------------------------------------------------------------------------

TEST(AugmentOptionsTest, Recipes) {
  const AugmentOptions v1 = AugmentOptions::mocov1(224);
  EXPECT_EQ(v1.recipe, "mocov1");
  EXPECT_EQ(v1.jitter.hue, 0.4);
  const AugmentOptions v2 = AugmentOptions::mocov2(32);
  EXPECT_EQ(v2.recipe, "mocov2");
  EXPECT_EQ(v2.image_size, 32);
  EXPECT_EQ(v2.jitter.hue, 0.1);
  EXPECT_EQ(v2.jitter_p, 0.8);
  EXPECT_EQ(v2.grayscale_p, 0.2);
  EXPECT_EQ(v2.blur_p, 0.5);
  EXPECT_EQ(AugmentOptions::eval(224).resize_to, 256);
  EXPECT_EQ(AugmentOptions::eval(96).resize_to, 109);
  EXPECT_EQ(AugmentOptions::eval(32).resize_to, 32);
  EXPECT_EQ(AugmentOptions::from_name("mocov1", 64).recipe, "mocov1");
  try {
    AugmentOptions::from_name("simclr", 32);
    FAIL() << "no throw";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "unknown augmentation 'simclr' (use mocov1, mocov2, crop-flip or eval)");
  }
  AugmentOptions bad = AugmentOptions::mocov2(32);
  bad.flip_p = 1.5;
  EXPECT_THROW(Augmentation{bad}, Error);
  AugmentOptions lazy;
  lazy.recipe = "eval";
  lazy.image_size = 224;
  EXPECT_EQ(Augmentation(lazy).options().resize_to, 256);
}

TEST(AugmentOptionsTest, CropFlipKeepsColours) {
  // torchvision's supervised recipe crops and flips only: a flat colour stays that colour.
  const AugmentOptions o = AugmentOptions::from_name("crop-flip", 24);
  EXPECT_EQ(o.crop_scale[0], 0.08);
  const cv::Mat flat(40, 50, CV_8UC3, cv::Scalar(200, 40, 90));
  MatDataset data({flat}, /*downscale=*/false);
  const Augmentation aug(o);
  for (uint64_t seed = 0; seed < 20; ++seed) {
    Rng rng(seed);
    const cv::Mat v = aug.views(data, 0, 1, rng).at(0);
    ASSERT_EQ(v.size(), cv::Size(24, 24));
    EXPECT_TRUE(equal(v, cv::Mat(24, 24, CV_8UC3, cv::Scalar(200, 40, 90)))) << "seed " << seed;
  }
}

TEST(AugmentViews, DeterministicAndDistinct) {
  MatDataset data({smooth_image(240, 300)}, /*downscale=*/false);
  const Augmentation aug(AugmentOptions::mocov2(32));
  Rng a(7), b(7);
  const std::vector<cv::Mat> va = aug.views(data, 0, 2, a);
  const std::vector<cv::Mat> vb = aug.views(data, 0, 2, b);
  ASSERT_EQ(va.size(), 2u);
  for (int v = 0; v < 2; ++v) {
    ASSERT_EQ(va[v].size(), cv::Size(32, 32));
    ASSERT_EQ(va[v].type(), CV_8UC3);
    EXPECT_TRUE(equal(va[v], vb[v]));
  }
  EXPECT_FALSE(equal(va[0], va[1]));
  EXPECT_EQ(data.plan_calls, 2);
  EXPECT_GE(data.last_factor, 1.0);
}

TEST(AugmentViews, OneViewMatchesApply) {
  const cv::Mat img = smooth_image(120, 90);
  MatDataset data({img}, /*downscale=*/false);
  for (const char* recipe : {"mocov1", "mocov2", "crop-flip", "eval"}) {
    const Augmentation aug(AugmentOptions::from_name(recipe, 48));
    for (uint64_t seed = 0; seed < 5; ++seed) {
      Rng a(seed), b(seed);
      const std::vector<cv::Mat> v = aug.views(data, 0, 1, a);
      EXPECT_TRUE(equal(v.at(0), aug.apply(img, {90, 120}, b))) << recipe << " seed " << seed;
      EXPECT_EQ(a(), b()) << recipe;  // both consumed the same draws
    }
  }
}

TEST(AugmentViews, DownscaledDecodeMatchesFullDecode) {
  const cv::Mat img = smooth_image(480, 640);
  MatDataset full_data({img}, /*downscale=*/false);
  MatDataset small_data({img}, /*downscale=*/true);
  for (const char* recipe : {"mocov1", "mocov2"}) {
    const Augmentation aug(AugmentOptions::from_name(recipe, 32));
    for (uint64_t seed = 0; seed < 4; ++seed) {
      Rng a(seed), b(seed);
      const std::vector<cv::Mat> va = aug.views(full_data, 0, 2, a);
      const std::vector<cv::Mat> vb = aug.views(small_data, 0, 2, b);
      EXPECT_GE(small_data.last_scale, 2);  // crops >= 0.2 * area leave room to shrink
      for (int v = 0; v < 2; ++v) EXPECT_LT(mean_abs_diff(va[v], vb[v]), 4.0) << recipe << " seed " << seed;
    }
  }
}

TEST(AugmentViews, EvalIsTheSameCentreCrop) {
  const cv::Mat img = smooth_image(300, 400);
  MatDataset data({img}, /*downscale=*/true);
  const Augmentation aug(AugmentOptions::eval(64));  // resize_to 73
  Rng rng(1);
  const uint64_t before = Rng(1)();
  const std::vector<cv::Mat> v = aug.views(data, 0, 3, rng);
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(rng(), before);  // no randomness consumed
  EXPECT_DOUBLE_EQ(data.last_factor, 300.0 / 73.0);
  EXPECT_EQ(data.last_scale, 4);
  EXPECT_TRUE(equal(v[0], v[1]));
  EXPECT_TRUE(equal(v[1], v[2]));
  EXPECT_NE(v[0].data, v[1].data);
  EXPECT_LT(mean_abs_diff(v[0], resize_center_crop(img, 73, 64)), 1.5);
}

TEST(AugmentSpeed, Mocov2View) {
  struct Case {
    int size;
    cv::Mat src;
  };
  // 32 px from a CIFAR-size source; 224 px from an ImageNet-size source as decoded at
  // the DCT scale views() would allow (~2x).
  for (const Case& c : {Case{32, random_image(32, 32, 1)}, Case{224, smooth_image(250, 333)}}) {
    const Augmentation aug(AugmentOptions::mocov2(c.size));
    const ImageSize full{c.src.cols * (c.size == 224 ? 2 : 1), c.src.rows * (c.size == 224 ? 2 : 1)};
    Rng rng(5);
    const int n = c.size == 32 ? 2000 : 200;
    const auto t0 = std::chrono::steady_clock::now();
    for (int k = 0; k < n; ++k) ASSERT_EQ(aug.apply(c.src, full, rng).cols, c.size);
    const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / n;
    std::cout << "[ timing   ] mocov2 view at " << c.size << " px: " << us << " us\n";
  }
}

}  // namespace
}  // namespace protoclr::data
