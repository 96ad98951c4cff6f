// Run configuration: presets, JSON round trip, and resolve_config's order (preset or resumed
// configuration, then --init's model shape, then explicit values).
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "protoclr/core/error.h"
#include "protoclr/run/checkpoint.h"
#include "protoclr/run/config.h"
#include "support/error_of.h"
#include "support/temp_dir.h"

using namespace protoclr;
using test_support::error_of;

namespace {

/// A checkpoint of `config` (freshly initialised weights) at `epoch`, in run folder `dir`.
void write_checkpoint(const std::string& dir, const run::TrainConfig& config, int64_t epoch) {
  model::MoCo moco(config.moco_options());
  run::CheckpointMeta meta;
  meta.config = config;
  meta.epoch = epoch;
  run::save_checkpoint(run::checkpoint_path(dir), moco, nullptr, meta, nullptr);
}


}  // namespace

TEST(TrainConfig, PresetsAndJsonRoundTrip) {
  const auto v1 = run::TrainConfig::from_preset("pcl-v1");
  EXPECT_DOUBLE_EQ(v1.temperature, 0.1);
  EXPECT_FALSE(v1.mlp);
  EXPECT_EQ(v1.augmentation, "mocov1");
  EXPECT_EQ(v1.schedule, "step");
  EXPECT_TRUE(v1.prototypes);
  const auto moco = run::TrainConfig::from_preset("moco-v2");
  EXPECT_FALSE(moco.prototypes);
  EXPECT_TRUE(moco.mlp);
  EXPECT_EQ(moco.num_clusters, (std::vector<int64_t>{25000, 50000, 100000}));
  EXPECT_THROW(run::TrainConfig::from_preset("simclr"), Error);
  auto c = run::TrainConfig::from_preset("pcl-v2");
  c.num_clusters = {5, 7};
  c.seed = 42;
  const auto back = run::TrainConfig::from_json(c.to_json());
  EXPECT_EQ(back.to_json(), c.to_json());
  for (const auto& name : run::preset_names()) EXPECT_NO_THROW(run::TrainConfig::from_preset(name).validate()) << name;
}

TEST(TrainConfig, QuickstartPresetIsPclV2ShapedForALaptop) {
  const auto q = run::TrainConfig::from_preset("quickstart");
  EXPECT_TRUE(q.prototypes);
  EXPECT_EQ(q.augmentation, "mocov2");
  EXPECT_EQ(q.arch, "resnet18");
  EXPECT_EQ(q.image_size, 32);
  EXPECT_EQ(q.epochs, 8);
  EXPECT_EQ(q.warmup_epochs, 3);
  EXPECT_EQ(q.num_clusters, (std::vector<int64_t>{200, 400}));
  EXPECT_DOUBLE_EQ(q.moco_m, 0.99);
  EXPECT_EQ(q.out, "runs/quickstart");
}

TEST(TrainConfig, ValidateNamesTheFlag) {
  auto c = run::TrainConfig::from_preset("pcl-v2");
  c.kmeans_iterations = 0;
  EXPECT_NE(error_of([&] { c.validate(); }).find("--kmeans-iterations"), std::string::npos);
  c = run::TrainConfig::from_preset("pcl-v2");
  c.kmeans_redo = 0;
  EXPECT_NE(error_of([&] { c.validate(); }).find("--kmeans-redo"), std::string::npos);
  c = run::TrainConfig::from_preset("pcl-v2");
  c.kmeans_backend = "gpu";
  EXPECT_NE(error_of([&] { c.validate(); }).find("--kmeans-backend 'gpu'"), std::string::npos);
  c = run::TrainConfig::from_preset("pcl-v2");
  c.knn_k = 0;
  EXPECT_NE(error_of([&] { c.validate(); }).find("--knn-k"), std::string::npos);
}

TEST(ResolveConfig, PresetThenExplicitValues) {
  run::RunRequest request;
  request.preset = "pcl-v1";
  request.overrides = {{"lr", 0.06}, {"num_clusters", {10, 20}}, {"temperature", 0.3}};
  const auto c = run::resolve_config(request);
  EXPECT_EQ(c.preset, "pcl-v1");
  EXPECT_EQ(c.augmentation, "mocov1");  // from the preset
  EXPECT_DOUBLE_EQ(c.lr, 0.06);         // explicit values win over the preset
  EXPECT_DOUBLE_EQ(c.temperature, 0.3);
  EXPECT_EQ(c.num_clusters, (std::vector<int64_t>{10, 20}));

  request.overrides = {{"learning_rate", 0.1}};
  EXPECT_NE(error_of([&] { run::resolve_config(request); }).find("'learning_rate'"), std::string::npos);
  request.overrides = {{"epochs", "many"}};
  EXPECT_NE(error_of([&] { run::resolve_config(request); }).find("'epochs'"), std::string::npos);
  request.overrides = {{"epochs", 0}};
  EXPECT_NE(error_of([&] { run::resolve_config(request); }).find("--epochs"), std::string::npos);
  request.preset = "byol";
  request.overrides = nlohmann::json::object();
  EXPECT_NE(error_of([&] { run::resolve_config(request); }).find("--preset"), std::string::npos);
}

TEST(ResolveConfig, InitGivesTheModelShapeAndExplicitValuesStillWin) {
  test_support::TempDir tmp;
  auto trained = run::TrainConfig::from_preset("moco-v1");
  trained.arch = "resnet18";
  trained.cifar_stem = true;
  trained.low_dim = 8;
  trained.queue_size = 12;
  write_checkpoint(tmp.str(), trained, 5);

  run::RunRequest request;
  request.preset = "pcl-v2";
  request.overrides = {{"init", tmp.str()}, {"queue_size", 24}};
  const auto c = run::resolve_config(request);
  EXPECT_EQ(c.preset, "pcl-v2");  // the method is the new run's
  EXPECT_TRUE(c.prototypes);
  EXPECT_FALSE(c.mlp);            // the shape is the checkpoint's: head,
  EXPECT_EQ(c.arch, "resnet18");  // backbone,
  EXPECT_TRUE(c.cifar_stem);
  EXPECT_EQ(c.low_dim, 8);        // embedding size
  EXPECT_EQ(c.queue_size, 24);    // and queue, unless given explicitly
  EXPECT_DOUBLE_EQ(c.temperature, 0.2);  // the rest is the preset's
  EXPECT_EQ(c.init, tmp.str());

  request.overrides = {{"init", (tmp.path() / "missing").string()}};
  EXPECT_NE(error_of([&] { run::resolve_config(request); }).find("missing"), std::string::npos);
}

TEST(ResolveConfig, ResumeKeepsTheSavedConfigurationAndFolder) {
  test_support::TempDir tmp;
  auto saved = run::TrainConfig::from_preset("moco-v2");
  saved.lr = 0.5;
  saved.epochs = 3;
  saved.out = "somewhere/else";
  write_checkpoint(tmp.str(), saved, 3);

  run::RunRequest request;
  request.preset = "pcl-v1";  // ignored: the run already has its configuration
  request.resume = tmp.str();
  request.overrides = {{"epochs", 6}};
  auto c = run::resolve_config(request);
  EXPECT_EQ(c.preset, "moco-v2");
  EXPECT_FALSE(c.prototypes);
  EXPECT_DOUBLE_EQ(c.lr, 0.5);
  EXPECT_EQ(c.epochs, 6);
  EXPECT_EQ(c.out, tmp.str());  // a resumed run folder keeps writing into itself

  request.overrides = {{"out", "elsewhere"}};
  EXPECT_EQ(run::resolve_config(request).out, "elsewhere");
  // A checkpoint file (not a folder) keeps the saved output folder.
  request.resume = run::checkpoint_path(tmp.str());
  request.overrides = nlohmann::json::object();
  EXPECT_EQ(run::resolve_config(request).out, "somewhere/else");
  request.resume = (tmp.path() / "nothing").string();
  EXPECT_NE(error_of([&] { run::resolve_config(request); }).find("nothing"), std::string::npos);
}
