#pragma once
// An in-memory dataset of generated images, for tests that must not depend on files.
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "protoclr/data/dataset.h"

namespace protoclr::test_support {

class MemoryDataset : public data::Dataset {
 public:
  /// n images of size x size, `classes` classes; image i is a smooth pattern that depends on
  /// its class and index.
  MemoryDataset(int n, int size, int classes) : names_(classes) {
    for (int c = 0; c < classes; ++c) names_[c] = "class" + std::to_string(c);
    for (int i = 0; i < n; ++i) {
      cv::Mat img(size, size, CV_8UC3);
      const int c = i % classes;
      for (int y = 0; y < size; ++y)
        for (int x = 0; x < size; ++x)
          img.at<cv::Vec3b>(y, x) = cv::Vec3b(static_cast<uint8_t>((x * 7 + c * 60 + i) % 256),
                                              static_cast<uint8_t>((y * 5 + c * 90) % 256),
                                              static_cast<uint8_t>((x * y + c * 30 + 3 * i) % 256));
      images_.push_back(img);
      labels_.push_back(c);
    }
  }
  size_t size() const override { return images_.size(); }
  const std::vector<std::string>& classes() const override { return names_; }
  int64_t label(size_t i) const override { return labels_[i]; }
  data::DecodedImage load(size_t i, const data::ScalePlan& plan) const override {
    data::ImageSize full{images_[i].cols, images_[i].rows};
    if (plan) plan(full);
    return {images_[i].clone(), full};
  }
  std::string name(size_t i) const override { return "memory#" + std::to_string(i); }
  std::string format() const override { return "memory"; }

 private:
  std::vector<cv::Mat> images_;
  std::vector<int64_t> labels_;
  std::vector<std::string> names_;
};

}  // namespace protoclr::test_support
