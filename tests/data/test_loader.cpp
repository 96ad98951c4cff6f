#include <gtest/gtest.h>

#include <set>

#include <torch/torch.h>

#include "protoclr/core/error.h"
#include "protoclr/data/loader.h"
#include "protoclr/data/unreadable.h"
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

TEST(Loader, EachRanksBatchIsItsSliceOfTheOneProcessBatch) {
  // 3 ranks of batch 2 see what one process of batch 6 sees, rank r the r-th third of each
  // batch; 23 images: 8 per rank (one padded from the start), the last batch of 2 split too.
  auto ds = std::make_shared<protoclr::test_support::MemoryDataset>(23, 8, 2);
  LoaderOptions o;
  o.seed = 5;
  o.batch_size = 6;
  const auto one = Loader(ds, Augmentation(AugmentOptions::eval(8)), o).epoch_order(1);
  o.batch_size = 2;
  o.world_size = 3;
  for (int r = 0; r < 3; ++r) {
    o.rank = r;
    const auto mine = Loader(ds, Augmentation(AugmentOptions::eval(8)), o).epoch_order(1);
    ASSERT_EQ(mine.size(), 8u);
    for (size_t i = 0; i < mine.size(); ++i) {
      const size_t batch = i / 2, row = i % 2;
      EXPECT_EQ(mine[i], one[(batch * 6 + r * 2 + row) % 23]) << "rank " << r << " sample " << i;
    }
  }
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

/// Batches of 4 in dataset order over FlakyDataset's 12 images.
LoaderOptions in_order_options() {
  LoaderOptions o;
  o.batch_size = 4;
  o.workers = 2;
  o.shuffle = false;
  return o;
}
}  // namespace

TEST(Loader, CorruptImageIsReplacedAndCounted) {
  auto ds = std::make_shared<FlakyDataset>();
  Loader loader(ds, Augmentation(AugmentOptions::eval(8)), in_order_options());
  loader.start_epoch(0);
  int batches = 0;
  while (auto b = loader.next()) {
    ++batches;
    for (int64_t i = 0; i < b->index.numel(); ++i) EXPECT_NE(b->index[i].item<int64_t>(), 3);
  }
  EXPECT_EQ(batches, 3);
  EXPECT_EQ(loader.failed_images(), 1);
}

// Catches: a failed image that takes another image's row (its feature would be a copy), or a
// row left as zeros without saying so, in the evaluation loader.
TEST(Loader, WithoutReplacementAFailedImageKeepsItsRowMarkedInvalid) {
  protoclr::data::clear_unreadable();
  auto ds = std::make_shared<FlakyDataset>();
  LoaderOptions o = in_order_options();
  o.drop_last = false;
  o.replace_failed = false;
  Loader loader(ds, Augmentation(AugmentOptions::eval(8)), o);
  for (int epoch = 0; epoch < 2; ++epoch) {
    loader.start_epoch(epoch);
    int64_t row = 0;
    while (auto b = loader.next()) {
      for (int64_t i = 0; i < b->index.numel(); ++i, ++row) {
        EXPECT_EQ(b->index[i].item<int64_t>(), row);
        EXPECT_EQ(b->valid[i].item<bool>(), row != 3);
        if (row == 3) {
          EXPECT_EQ(b->views[0][i].abs().sum().item<float>(), 0.0f);
        }
      }
    }
    EXPECT_EQ(row, 12);
  }
  EXPECT_EQ(loader.failed_images(), 2);  // once per epoch
  // Named once however often it is met.
  EXPECT_EQ(protoclr::data::unreadable_images(), std::vector<std::string>{"memory#3"});
}

// Catches: an excluded row that is decoded anyway or still delivered, or a replacement that
// lands on another excluded row.
TEST(Loader, ExcludedRowsAreReplacedByTheNextReadableRowWithoutADecode) {
  auto ds = std::make_shared<FlakyDataset>();
  Loader loader(ds, Augmentation(AugmentOptions::eval(8)), in_order_options());
  std::vector<uint8_t> excluded(12, 0);
  excluded[3] = excluded[4] = 1;  // 3 also fails to decode: excluded, it is never tried
  loader.set_excluded(excluded);
  loader.start_epoch(0);
  std::vector<int64_t> seen;
  while (auto b = loader.next())
    for (int64_t i = 0; i < b->index.numel(); ++i) seen.push_back(b->index[i].item<int64_t>());
  EXPECT_EQ(seen, (std::vector<int64_t>{0, 1, 2, 5, 5, 5, 6, 7, 8, 9, 10, 11}));
  EXPECT_EQ(loader.failed_images(), 0);
  EXPECT_THROW(loader.set_excluded(std::vector<uint8_t>(5, 0)), protoclr::Error);
  EXPECT_THROW(loader.set_excluded(std::vector<uint8_t>(12, 1)), protoclr::Error);
}

// Catches: a resumed epoch that starts from its first batch, or with other images.
TEST(Loader, StartingAnEpochAtABatchGivesTheRestOfThatEpoch) {
  auto ds = std::make_shared<protoclr::test_support::MemoryDataset>(20, 8, 2);
  LoaderOptions o;
  o.batch_size = 4;
  o.workers = 2;
  o.seed = 3;
  Loader loader(ds, Augmentation(AugmentOptions::from_name("mocov2", 8)), o);
  loader.start_epoch(1);
  std::vector<Batch> full;
  while (auto b = loader.next()) full.push_back(std::move(*b));
  ASSERT_EQ(full.size(), 5u);
  loader.start_epoch(1, 2);
  size_t k = 2;
  while (auto b = loader.next()) {
    ASSERT_LT(k, full.size());
    EXPECT_TRUE(torch::equal(b->index, full[k].index));
    EXPECT_TRUE(torch::equal(b->views[1], full[k].views[1]));
    ++k;
  }
  EXPECT_EQ(k, 5u);
  EXPECT_THROW(loader.start_epoch(1, 6), protoclr::Error);
}
