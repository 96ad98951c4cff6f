#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "protoclr/core/error.h"
#include "protoclr/core/fs.h"
#include "protoclr/core/progress.h"
#include "protoclr/core/rng.h"
#include "protoclr/core/schedule.h"
#include "support/temp_dir.h"

using namespace protoclr;

TEST(Rng, StreamSeedsDependOnEveryCoordinate) {
  EXPECT_EQ(stream_seed(1, 2, 3), stream_seed(1, 2, 3));
  std::set<uint64_t> seeds = {stream_seed(1, 2, 3), stream_seed(1, 3, 2), stream_seed(2, 2, 3), stream_seed(1, 2, 4)};
  EXPECT_EQ(seeds.size(), 4u);
}

TEST(Rng, UniformDrawsStayInRange) {
  Rng rng(5);
  double sum = 0;
  for (int i = 0; i < 10000; ++i) {
    const double u = uniform(rng, 2.0, 3.0);
    ASSERT_GE(u, 2.0);
    ASSERT_LT(u, 3.0);
    sum += u;
    ASSERT_LT(uniform_index(rng, 7), 7u);
  }
  EXPECT_NEAR(sum / 10000, 2.5, 0.02);
}

TEST(Fs, AtomicWriteReplacesWholeFileAndLeavesNoTemporary) {
  test_support::TempDir tmp;
  const auto path = tmp.path() / "sub" / "file.txt";
  write_file_atomic(path, std::string("first"));
  write_file_atomic(path, std::string("second"));
  const auto bytes = read_file(path);
  EXPECT_EQ(std::string(bytes.begin(), bytes.end()), "second");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(tmp.path() / "sub"), {}), 1);
  // A writer that fails leaves the old file untouched and no temporary behind.
  EXPECT_THROW(write_file_atomic(path, [](const std::filesystem::path&) { throw Error("disk full"); }), Error);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(tmp.path() / "sub"), {}), 1);
  EXPECT_THROW(read_file(tmp.path() / "missing"), Error);
}

TEST(Progress, DurationsAndJsonLines) {
  EXPECT_EQ(format_duration(42), "42s");
  EXPECT_EQ(format_duration(185), "3m05s");
  EXPECT_EQ(format_duration(3720), "1h02m");
  test_support::TempDir tmp;
  const auto path = (tmp.path() / "m.jsonl").string();
  {
    JsonLinesWriter w(path, true);
    w.write({{"epoch", 1}});
    w.write({{"epoch", 2}});
  }
  std::ifstream in(path);
  std::string a, b;
  std::getline(in, a);
  std::getline(in, b);
  EXPECT_EQ(a, "{\"epoch\":1}");
  EXPECT_EQ(b, "{\"epoch\":2}");
}

TEST(Schedule, CosineAndStep) {
  EXPECT_DOUBLE_EQ(protoclr::learning_rate("cosine", 0.03, 0, 200, {}), 0.03);
  EXPECT_NEAR(protoclr::learning_rate("cosine", 0.03, 100, 200, {}), 0.015, 1e-12);
  EXPECT_NEAR(protoclr::learning_rate("step", 0.03, 119, 200, {120, 160}), 0.03, 1e-12);
  EXPECT_NEAR(protoclr::learning_rate("step", 0.03, 120, 200, {120, 160}), 0.003, 1e-12);
  EXPECT_NEAR(protoclr::learning_rate("step", 0.03, 199, 200, {120, 160}), 0.0003, 1e-12);
  // The fine-tuning protocol decays by 0.2.
  EXPECT_NEAR(protoclr::learning_rate("step", 0.01, 16, 20, {12, 16}, 0.2), 0.01 * 0.2 * 0.2, 1e-15);
}
