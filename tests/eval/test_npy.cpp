#include <gtest/gtest.h>

#include <fstream>

#include <torch/torch.h>

#include "protoclr/core/error.h"
#include "protoclr/core/fs.h"
#include "protoclr/eval/npy.h"
#include "support/temp_dir.h"

using namespace protoclr;

TEST(Npy, RoundTripIsBitExact) {
  test_support::TempDir dir;
  torch::manual_seed(3);
  const std::vector<torch::Tensor> tensors = {
      torch::randn({7, 5}),
      torch::randn({3}, torch::kDouble),
      torch::randint(-1000000000000LL, 1000000000000LL, {4, 2, 3}, torch::kLong),
      torch::randint(-100, 100, {6}, torch::kInt),
      torch::randint(0, 255, {2, 2}, torch::kByte),
      torch::randint(-100, 100, {5}, torch::kChar),
      torch::tensor({true, false, true}),
      torch::zeros({0, 4}),
      torch::tensor(2.5f),  // 0-d
      torch::randn({4, 6}).t(),  // not contiguous: written in C order
  };
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto path = (dir.path() / ("t" + std::to_string(i) + ".npy")).string();
    eval::write_npy(path, tensors[i]);
    const auto back = eval::read_npy(path);
    EXPECT_EQ(back.scalar_type(), tensors[i].scalar_type()) << i;
    EXPECT_EQ(back.sizes(), tensors[i].sizes()) << i;
    EXPECT_TRUE(torch::equal(back, tensors[i].contiguous())) << i;
    // Header padded so the data starts on a 64-byte boundary, as NumPy writes it.
    const auto bytes = read_file(path);
    EXPECT_EQ((bytes.size() - back.nbytes()) % 64, 0u) << i;
  }
}

TEST(Npy, HeaderIsNumpys) {
  test_support::TempDir dir;
  const auto path = (dir.path() / "x.npy").string();
  eval::write_npy(path, torch::zeros({3, 2}));
  const auto bytes = read_file(path);
  const std::string head(bytes.begin() + 10, bytes.begin() + 10 + 60);
  EXPECT_EQ(head.rfind("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }", 0), 0u) << head;
  eval::write_npy(path, torch::zeros({4}, torch::kLong));
  const auto one = read_file(path);
  EXPECT_NE(std::string(one.begin(), one.end()).find("'shape': (4,)"), std::string::npos);
}

TEST(Npy, BadFilesGiveOneLineErrors) {
  test_support::TempDir dir;
  const auto path = (dir.path() / "bad.npy").string();
  auto expect_error = [&](const std::string& contents, const std::string& needle) {
    write_file_atomic(path, contents);
    try {
      eval::read_npy(path);
      FAIL() << "no error for " << needle;
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(path), std::string::npos) << what;
      EXPECT_NE(what.find(needle), std::string::npos) << what;
      EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    }
  };
  expect_error("hello", "bad magic");
  const std::string magic("\x93NUMPY\x01\x00", 8);
  auto header = [&](const std::string& dict) {
    std::string h = dict + "\n";
    return magic + std::string(1, static_cast<char>(h.size() & 0xff)) + std::string(1, static_cast<char>(h.size() >> 8)) + h;
  };
  expect_error(header("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }") + std::string(7, '\0'), "data bytes");
  expect_error(header("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }") + std::string(8, '\0'), "Fortran");
  expect_error(header("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }") + std::string(8, '\0'), "'>f4'");
  expect_error(header("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }") + std::string(8, '\0'), "'|O'");
  expect_error(magic + std::string("\xff\x00{", 3), "truncated");
  EXPECT_THROW(eval::read_npy((dir.path() / "missing.npy").string()), Error);
  // The good version of the same file reads.
  write_file_atomic(path, header("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }") + std::string(8, '\0'));
  EXPECT_TRUE(torch::equal(eval::read_npy(path), torch::zeros({2})));
}
