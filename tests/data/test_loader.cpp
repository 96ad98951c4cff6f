#include <gtest/gtest.h>

#include <set>

#include <torch/torch.h>

#include "protoclr/core/error.h"
#include "protoclr/data/loader.h"
#include "support/memory_dataset.h"

using protoclr::data::Augmentation;
using protoclr::data::AugmentOptions;
using protoclr::data::Batch;
using protoclr::data::Loader;
using protoclr::data::LoaderOptions;

namespace {

std::vector<Batch> one_epoch(int workers, int64_t epoch, bool channels_last = false, int64_t batch = 8) {
  auto ds = std::make_shared<protoclr::test_support::MemoryDataset>(37, 20, 4);
  LoaderOptions o;
  o.batch_size = batch;
  o.workers = workers;
  o.seed = 7;
  o.channels_last = channels_last;
  Loader loader(ds, Augmentation(AugmentOptions::mocov2(16)), o);
  loader.start_epoch(epoch);
  std::vector<Batch> out;
  while (auto b = loader.next()) out.push_back(std::move(*b));
  return out;
}

}  // namespace

TEST(Loader, SameBatchesWhateverTheThreadCount) {
  const auto a = one_epoch(1, 3);
  const auto b = one_epoch(2, 3);
  const auto c = one_epoch(3, 3);
  ASSERT_EQ(a.size(), 4u);  // 37 images, batch 8, drop_last
  ASSERT_EQ(b.size(), a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(torch::equal(a[i].index, b[i].index));
    EXPECT_TRUE(torch::equal(a[i].views[0], b[i].views[0]));
    EXPECT_TRUE(torch::equal(a[i].views[1], b[i].views[1]));
    EXPECT_TRUE(torch::equal(a[i].views[1], c[i].views[1]));
    EXPECT_TRUE(torch::equal(a[i].label, a[i].index.remainder(4)));
  }
}

TEST(Loader, ShapesViewsDifferAndEpochsReshuffle) {
  const auto e0 = one_epoch(2, 0);
  const auto e1 = one_epoch(2, 1);
  const auto& b = e0[0];
  ASSERT_EQ(b.views.size(), 2u);
  EXPECT_EQ(b.views[0].sizes(), (std::vector<int64_t>{8, 3, 16, 16}));
  EXPECT_EQ(b.views[0].dtype(), torch::kFloat);
  EXPECT_FALSE(torch::equal(b.views[0], b.views[1]));
  EXPECT_FALSE(torch::equal(e0[0].index, e1[0].index));
  std::set<int64_t> seen;
  for (const auto& batch : e0)
    for (int64_t i = 0; i < batch.index.numel(); ++i) seen.insert(batch.index[i].item<int64_t>());
  EXPECT_EQ(seen.size(), 32u);  // 4 full batches of distinct images
}

TEST(Loader, ChannelsLastHoldsTheSameValues) {
  const auto a = one_epoch(2, 0, false);
  const auto b = one_epoch(2, 0, true);
  EXPECT_TRUE(b[0].views[0].is_contiguous(at::MemoryFormat::ChannelsLast));
  EXPECT_TRUE(torch::equal(a[0].views[0], b[0].views[0]));
}

TEST(Loader, ShardsSplitTheEpoch) {
  auto ds = std::make_shared<protoclr::test_support::MemoryDataset>(10, 8, 2);
  LoaderOptions o;
  o.batch_size = 2;
  o.world_size = 3;
  std::set<int64_t> all;
  size_t total = 0;
  for (int r = 0; r < 3; ++r) {
    o.rank = r;
    Loader loader(ds, Augmentation(AugmentOptions::eval(8)), o);
    const auto order = loader.epoch_order(0);
    EXPECT_EQ(order.size(), 4u);  // ceil(10 / 3), padded like DistributedSampler
    all.insert(order.begin(), order.end());
    total += order.size();
  }
  EXPECT_EQ(all.size(), 10u);
  EXPECT_EQ(total, 12u);
}

TEST(Loader, BatchLargerThanDatasetIsAClearError) {
  auto ds = std::make_shared<protoclr::test_support::MemoryDataset>(5, 8, 2);
  LoaderOptions o;
  o.batch_size = 16;
  try {
    Loader loader(ds, Augmentation(AugmentOptions::eval(8)), o);
    FAIL() << "expected an error";
  } catch (const protoclr::Error& e) {
    EXPECT_NE(std::string(e.what()).find("--batch-size"), std::string::npos);
  }
}

namespace {
// Image 3 cannot be decoded: the loader replaces it and counts it.
class FlakyDataset : public protoclr::test_support::MemoryDataset {
 public:
  FlakyDataset() : MemoryDataset(12, 8, 3) {}
  protoclr::data::DecodedImage load(size_t i, const protoclr::data::ScalePlan& plan) const override {
    if (i == 3) throw protoclr::Error("cannot decode 'memory#3': truncated");
    return MemoryDataset::load(i, plan);
  }
};
}  // namespace

TEST(Loader, CorruptImageIsReplacedAndCounted) {
  auto ds = std::make_shared<FlakyDataset>();
  LoaderOptions o;
  o.batch_size = 4;
  o.workers = 2;
  o.shuffle = false;
  Loader loader(ds, Augmentation(AugmentOptions::eval(8)), o);
  loader.start_epoch(0);
  int batches = 0;
  while (auto b = loader.next()) {
    ++batches;
    for (int64_t i = 0; i < b->index.numel(); ++i) EXPECT_NE(b->index[i].item<int64_t>(), 3);
  }
  EXPECT_EQ(batches, 3);
  EXPECT_EQ(loader.failed_images(), 1);
}
