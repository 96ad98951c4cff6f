// The quickstart's run request: the "quickstart" preset with the user's options on top.
#include <gtest/gtest.h>

#include "protoclr/recipes/quickstart.h"

using namespace protoclr;

TEST(Quickstart, OptionsBecomeExplicitValuesOverThePreset) {
  recipes::QuickstartOptions o;
  o.out = "runs/q";
  o.seed = 3;
  auto c = run::resolve_config(recipes::quickstart_request(o));
  const auto preset = run::TrainConfig::from_preset("quickstart");
  EXPECT_EQ(c.preset, "quickstart");
  EXPECT_EQ(c.out, "runs/q");
  EXPECT_EQ(c.seed, 3u);
  EXPECT_EQ(c.epochs, preset.epochs);  // 0 = the budget's default
  EXPECT_EQ(c.limit, preset.limit);
  EXPECT_EQ(c.warmup_epochs, preset.warmup_epochs);

  o.epochs = 2;
  o.train_images = 500;
  o.bf16 = true;
  c = run::resolve_config(recipes::quickstart_request(o));
  EXPECT_EQ(c.epochs, 2);
  EXPECT_EQ(c.warmup_epochs, 1) << "a shorter run keeps at least one epoch of prototypes";
  EXPECT_EQ(c.limit, 500);
  EXPECT_TRUE(c.bf16);
}
