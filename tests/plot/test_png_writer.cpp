// PNG encoding: round trip through the decoder, determinism, errors, atomic file write.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <vector>

#include "protoclr/core/error.h"
#include "protoclr/core/fs.h"
#include "protoclr/data/image.h"
#include "protoclr/plot/png_writer.h"
#include "support/temp_dir.h"

namespace {

using protoclr::data::decode_image;
using protoclr::plot::encode_png;

cv::Mat pattern(int rows, int cols) {
  cv::Mat m(rows, cols, CV_8UC3);
  for (int y = 0; y < rows; ++y)
    for (int x = 0; x < cols; ++x) {
      auto& p = m.at<cv::Vec3b>(y, x);
      p = cv::Vec3b(static_cast<uint8_t>(x * 7 + y), static_cast<uint8_t>(y * 13 + 3 * x),
                    static_cast<uint8_t>((x ^ y) * 5));
    }
  return m;
}

bool same_pixels(const cv::Mat& a, const cv::Mat& b) {
  return a.size() == b.size() && a.type() == b.type() && cv::norm(a, b, cv::NORM_INF) == 0;
}

}  // namespace

TEST(PngWriter, RoundTripGivesExactPixels) {
  const cv::Mat img = pattern(37, 53);
  const std::vector<uint8_t> bytes = encode_png(img);
  ASSERT_GT(bytes.size(), 8u);
  const auto decoded = decode_image(bytes.data(), bytes.size(), "roundtrip.png");
  EXPECT_EQ(decoded.full.width, 53);
  EXPECT_EQ(decoded.full.height, 37);
  EXPECT_TRUE(same_pixels(decoded.rgb, img));
}

TEST(PngWriter, RoiWithRowStrideAndOnePixel) {
  const cv::Mat big = pattern(40, 40);
  const cv::Mat roi = big(cv::Rect(5, 7, 11, 9));  // not continuous
  ASSERT_FALSE(roi.isContinuous());
  const auto bytes = encode_png(roi);
  EXPECT_TRUE(same_pixels(decode_image(bytes.data(), bytes.size(), "roi.png").rgb, roi));
  const cv::Mat one(1, 1, CV_8UC3, cv::Scalar(1, 2, 3));
  const auto b1 = encode_png(one);
  EXPECT_TRUE(same_pixels(decode_image(b1.data(), b1.size(), "one.png").rgb, one));
}

TEST(PngWriter, Deterministic) {
  const cv::Mat img = pattern(20, 30);
  EXPECT_EQ(encode_png(img), encode_png(img.clone()));
}

TEST(PngWriter, BadInputThrows) {
  EXPECT_THROW(encode_png(cv::Mat()), protoclr::Error);
  EXPECT_THROW(encode_png(cv::Mat(4, 4, CV_8UC1, cv::Scalar(0))), protoclr::Error);
  EXPECT_THROW(encode_png(cv::Mat(4, 4, CV_32FC3, cv::Scalar(0))), protoclr::Error);
  EXPECT_THROW(encode_png(cv::Mat(4, 4, CV_8UC4, cv::Scalar(0))), protoclr::Error);
}

TEST(PngWriter, WritePngIsReadableAndLeavesNoTemporaryFile) {
  protoclr::test_support::TempDir dir;
  const auto path = dir.path() / "sub" / "picture.png";
  const cv::Mat img = pattern(16, 24);
  protoclr::plot::write_png(path, img);
  EXPECT_TRUE(same_pixels(protoclr::data::decode_image_file(path.string()).rgb, img));
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path() / "sub")) {
    (void)entry;
    ++files;
  }
  EXPECT_EQ(files, 1);
}
