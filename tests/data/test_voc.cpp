// The VOC2007 devkit reader on a tiny fake devkit written by the test.
#include <gtest/gtest.h>
#include <turbojpeg.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "protoclr/core/error.h"
#include "protoclr/data/dataset.h"
#include "support/temp_dir.h"

namespace protoclr::data {
namespace {
namespace fs = std::filesystem;

const std::vector<std::string> kClasses = {
    "aeroplane", "bicycle", "bird",  "boat",      "bottle", "bus",         "car",   "cat",  "chair", "cow",
    "diningtable", "dog",   "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor"};

void write_text(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << text;
}

void write_jpeg(const fs::path& path, int shade) {
  const int w = 12, h = 8;
  std::vector<unsigned char> px(static_cast<size_t>(w * h * 3));
  for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<unsigned char>((shade + i) % 256);
  tjhandle tj = tjInitCompress();
  unsigned char* out = nullptr;
  unsigned long size = 0;
  ASSERT_EQ(tjCompress2(tj, px.data(), w, 0, h, TJPF_RGB, &out, &size, TJSAMP_444, 90, 0), 0);
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(out), static_cast<std::streamsize>(size));
  tjFree(out);
  tjDestroy(tj);
}

/// A devkit year folder with images 000001..000004 in trainval and 000005..000006 in test.
/// Labels: image j (1-based) has class (j % 20) present, class 1 difficult for 000002, the
/// rest absent. Lines use the devkit's spacing ("000002  1", "000003 -1").
fs::path make_devkit(const fs::path& root, bool with_split_list = true) {
  const fs::path year = root / "VOCdevkit" / "VOC2007";
  const std::vector<std::pair<std::string, std::vector<int>>> splits = {{"trainval", {1, 2, 3, 4}}, {"test", {5, 6}}};
  for (const auto& [split, images] : splits) {
    std::string list;
    for (int j : images) {
      char id[16];
      std::snprintf(id, sizeof id, "%06d", j);
      list += std::string(id) + "\n";
      write_jpeg(year / "JPEGImages" / (std::string(id) + ".jpg"), j * 10);
    }
    if (with_split_list) write_text(year / "ImageSets" / "Main" / (split + ".txt"), list);
    for (size_t c = 0; c < kClasses.size(); ++c) {
      std::string text;
      for (int j : images) {
        char id[16];
        std::snprintf(id, sizeof id, "%06d", j);
        const int v = static_cast<size_t>(j % 20) == c ? 1 : (c == 1 && j == 2 ? 0 : -1);
        text += std::string(id) + (v == 1 ? "  1" : v == 0 ? "  0" : " -1") + "\n";
      }
      write_text(year / "ImageSets" / "Main" / (kClasses[c] + "_" + split + ".txt"), text);
    }
  }
  fs::create_directories(year / "Annotations");
  return year;
}

std::string error_of(const std::string& path, const DatasetOptions& options) {
  try {
    open_dataset(path, options);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Voc, ReadsLabelSetsWithDifficult) {
  test_support::TempDir dir;
  const fs::path year = make_devkit(dir.path());
  DatasetOptions o;
  o.split = "trainval";
  const auto ds = open_dataset(year.string(), o);
  EXPECT_EQ(ds->format(), "voc");
  ASSERT_EQ(ds->size(), 4u);
  EXPECT_TRUE(ds->multi_label());
  EXPECT_EQ(ds->classes(), kClasses);
  for (size_t i = 0; i < 4; ++i) {
    const int j = static_cast<int>(i) + 1;
    EXPECT_EQ(ds->label(i), -1);
    const auto set = ds->label_set(i);
    ASSERT_EQ(set.size(), 20u);
    for (size_t c = 0; c < 20; ++c) {
      const int want = static_cast<size_t>(j) == c ? 1 : (c == 1 && j == 2 ? 0 : -1);
      EXPECT_EQ(set[c], want) << "image " << j << " class " << c;
    }
    EXPECT_EQ(fs::path(ds->name(i)).filename().string(), "00000" + std::to_string(j) + ".jpg");
  }
  const auto img = ds->load(2);
  EXPECT_EQ(img.rgb.cols, 12);
  EXPECT_EQ(img.rgb.rows, 8);
  o.split = "test";
  EXPECT_EQ(open_dataset(year.string(), o)->size(), 2u);
}

TEST(Voc, FoundFromTheDevkitAndItsParent) {
  test_support::TempDir dir;
  make_devkit(dir.path());
  DatasetOptions o;
  o.split = "test";
  for (const fs::path& p : {dir.path(), dir.path() / "VOCdevkit"}) {
    const auto ds = open_dataset(p.string(), o);
    EXPECT_EQ(ds->format(), "voc") << p;
    EXPECT_EQ(ds->size(), 2u) << p;
  }
}

TEST(Voc, OrderFromTheFirstClassFileWithoutSplitList) {
  test_support::TempDir dir;
  const fs::path year = make_devkit(dir.path(), /*with_split_list=*/false);
  DatasetOptions o;
  o.split = "trainval";
  const auto ds = open_dataset(year.string(), o);
  ASSERT_EQ(ds->size(), 4u);
  EXPECT_EQ(ds->label_set(3)[4], 1);
}

TEST(Voc, SubsetForwardsLabelSets) {
  test_support::TempDir dir;
  const fs::path year = make_devkit(dir.path());
  DatasetOptions o;
  o.split = "trainval";
  const auto ds = open_dataset(year.string(), o);
  const auto sub = balanced_subset(ds, 2, 1);
  ASSERT_EQ(sub->size(), 2u);
  EXPECT_TRUE(sub->multi_label());
  for (size_t i = 0; i < 2; ++i) {
    const std::string name = fs::path(sub->name(i)).stem().string();
    EXPECT_EQ(sub->label_set(i)[static_cast<size_t>(std::stoi(name) % 20)], 1) << name;
  }
}

TEST(Voc, MalformedFilesGiveOneLineErrorsNamingTheFile) {
  test_support::TempDir dir;
  const fs::path year = make_devkit(dir.path());
  const fs::path main = year / "ImageSets" / "Main";
  DatasetOptions o;
  o.split = "trainval";

  write_text(main / "cat_trainval.txt", "000001 -1\n000002 2\n000003 -1\n000004 -1\n");
  std::string e = error_of(year.string(), o);
  EXPECT_NE(e.find("cat_trainval.txt' line 2"), std::string::npos) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos) << e;

  write_text(main / "cat_trainval.txt", "000001 -1\n000002 -1\n000003 -1\n000009 -1\n");
  e = error_of(year.string(), o);
  EXPECT_NE(e.find("cat_trainval.txt' line 4: image '000009' is not in the trainval split"), std::string::npos) << e;

  write_text(main / "cat_trainval.txt", "000001 -1\n000002 -1\n000003 -1\n");
  e = error_of(year.string(), o);
  EXPECT_NE(e.find("cat_trainval.txt' has no label for image '000004'"), std::string::npos) << e;

  fs::remove(main / "cat_trainval.txt");
  e = error_of(year.string(), o);
  EXPECT_NE(e.find("cat_trainval.txt"), std::string::npos) << e;
  EXPECT_NE(e.find("lacks"), std::string::npos) << e;

  o.split = "training";
  e = error_of(year.string(), o);
  EXPECT_NE(e.find("--split"), std::string::npos) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos) << e;
}

TEST(Dataset, DefaultLabelSetIsOneHot) {
  test_support::TempDir dir;
  // A two-class image folder.
  write_jpeg(dir.path() / "a" / "x.jpg", 1);
  write_jpeg(dir.path() / "b" / "y.jpg", 2);
  const auto ds = open_dataset(dir.str());
  EXPECT_FALSE(ds->multi_label());
  EXPECT_EQ(ds->label_set(0), (std::vector<int8_t>{1, -1}));
  EXPECT_EQ(ds->label_set(1), (std::vector<int8_t>{-1, 1}));
}

}  // namespace
}  // namespace protoclr::data
