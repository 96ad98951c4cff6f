// Dataset features: what the E-step clusters and the probes train on.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "protoclr/core/error.h"
#include "protoclr/data/unreadable.h"
#include "protoclr/features/extract.h"
#include "protoclr/model/head.h"
#include "support/memory_dataset.h"

using namespace protoclr;

namespace {
// Images 2 and 5 cannot be decoded.
class BrokenDataset : public test_support::MemoryDataset {
 public:
  BrokenDataset() : MemoryDataset(9, 16, 3) {}
  data::DecodedImage load(size_t i, const data::ScalePlan& plan) const override {
    if (i == 2 || i == 5) throw Error("cannot decode 'memory#" + std::to_string(i) + "': truncated");
    return MemoryDataset::load(i, plan);
  }
};
}  // namespace

// Catches: an unreadable image that becomes a zero feature row (clustered, voted, probed)
// with label -1, or a row of features that no longer says which image it is.
TEST(ExtractFeatures, UnreadableImagesHaveNoRow) {
  torch::manual_seed(0);
  auto encoder = model::make_encoder(model::EncoderOptions{"resnet18", true, 8, false});
  auto dataset = std::make_shared<BrokenDataset>();
  features::ExtractOptions o;
  o.image_size = 16;
  o.batch_size = 4;
  o.workers = 2;
  const auto f = features::extract_features(encoder, dataset, o);
  EXPECT_EQ(f.dataset_size, 9);
  EXPECT_EQ(f.unreadable(), 2);
  EXPECT_TRUE(torch::equal(f.rows, torch::tensor({0, 1, 3, 4, 6, 7, 8}, torch::kLong)));
  ASSERT_EQ(f.features.size(0), 7);
  EXPECT_TRUE(torch::equal(f.labels, torch::tensor({0, 1, 0, 1, 0, 1, 2}, torch::kLong)));
  EXPECT_TRUE(f.features.norm(2, 1).gt(0.99).all().item<bool>()) << "no zero rows";
  // The same rows as the images alone would give.
  auto good = std::make_shared<test_support::MemoryDataset>(9, 16, 3);
  const auto all = features::extract_features(encoder, good, o);
  EXPECT_TRUE(torch::allclose(f.features, all.features.index_select(0, f.rows), 1e-5, 1e-6));
}
