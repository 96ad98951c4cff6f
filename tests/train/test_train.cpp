#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <torch/torch.h>

#include "protoclr/core/error.h"
#include "protoclr/train/checkpoint.h"
#include "protoclr/train/curves.h"
#include "protoclr/data/image.h"
#include "protoclr/core/schedule.h"
#include "protoclr/train/trainer.h"
#include "support/temp_dir.h"

using namespace protoclr;
namespace fs = std::filesystem;

namespace {

void write_be32(std::ofstream& out, uint32_t v) {
  const unsigned char b[4] = {uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)};
  out.write(reinterpret_cast<const char*>(b), 4);
}

/// A tiny IDX dataset (like MNIST): n images of 16x16, 4 classes of distinct patterns.
std::string write_idx_dataset(const fs::path& dir, int n) {
  fs::create_directories(dir);
  std::ofstream img(dir / "train-images-idx3-ubyte", std::ios::binary);
  std::ofstream lab(dir / "train-labels-idx1-ubyte", std::ios::binary);
  write_be32(img, 0x803); write_be32(img, n); write_be32(img, 16); write_be32(img, 16);
  write_be32(lab, 0x801); write_be32(lab, n);
  for (int i = 0; i < n; ++i) {
    const int c = i % 4;
    for (int y = 0; y < 16; ++y)
      for (int x = 0; x < 16; ++x) {
        const bool on = c == 0 ? x < 8 : c == 1 ? y < 8 : c == 2 ? (x + y) % 4 < 2 : (x - 8) * (x - 8) + (y - 8) * (y - 8) < 20;
        img.put(static_cast<char>(on ? 200 + (i % 50) : (i * 3) % 40));
      }
    lab.put(static_cast<char>(c));
  }
  return dir.string();
}

train::TrainConfig tiny_config(const std::string& data, const std::string& out) {
  auto c = train::TrainConfig::from_preset("pcl-v2");
  c.data = data;
  c.val = data;
  c.val_split = "train";
  c.out = out;
  c.arch = "resnet18";
  c.cifar_stem = true;
  c.image_size = 16;
  c.low_dim = 16;
  c.batch_size = 8;
  c.epochs = 2;
  c.warmup_epochs = 1;
  c.num_clusters = {8, 12};
  c.neg_prototypes = 3;
  c.queue_size = 16;
  c.bn_splits = 2;
  c.workers = 2;
  c.knn_k = 5;
  c.save_every = 1;
  return c;
}

using train::read_metrics;

}  // namespace

TEST(Schedule, CosineAndStep) {
  EXPECT_DOUBLE_EQ(learning_rate("cosine", 0.03, 0, 200, {}), 0.03);
  EXPECT_NEAR(learning_rate("cosine", 0.03, 100, 200, {}), 0.015, 1e-12);
  EXPECT_NEAR(learning_rate("step", 0.03, 119, 200, {120, 160}), 0.03, 1e-12);
  EXPECT_NEAR(learning_rate("step", 0.03, 120, 200, {120, 160}), 0.003, 1e-12);
  EXPECT_NEAR(learning_rate("step", 0.03, 199, 200, {120, 160}), 0.0003, 1e-12);
  // The fine-tuning protocol decays by 0.2.
  EXPECT_NEAR(learning_rate("step", 0.01, 16, 20, {12, 16}, 0.2), 0.01 * 0.2 * 0.2, 1e-15);
}

TEST(TrainConfig, PresetsAndJsonRoundTrip) {
  const auto v1 = train::TrainConfig::from_preset("pcl-v1");
  EXPECT_DOUBLE_EQ(v1.temperature, 0.1);
  EXPECT_FALSE(v1.mlp);
  EXPECT_EQ(v1.augmentation, "mocov1");
  EXPECT_EQ(v1.schedule, "step");
  EXPECT_TRUE(v1.prototypes);
  const auto moco = train::TrainConfig::from_preset("moco-v2");
  EXPECT_FALSE(moco.prototypes);
  EXPECT_TRUE(moco.mlp);
  EXPECT_EQ(moco.num_clusters, (std::vector<int64_t>{25000, 50000, 100000}));
  EXPECT_THROW(train::TrainConfig::from_preset("simclr"), Error);
  auto c = train::TrainConfig::from_preset("pcl-v2");
  c.num_clusters = {5, 7};
  c.seed = 42;
  const auto back = train::TrainConfig::from_json(c.to_json());
  EXPECT_EQ(back.to_json(), c.to_json());
  EXPECT_EQ(train::parse_int_list("25000,50000", "--num-clusters"), (std::vector<int64_t>{25000, 50000}));
  EXPECT_THROW(train::parse_int_list("25k", "--num-clusters"), Error);
}

TEST(Train, TinyRunReportsProtoNCEAndResumeMatches) {
  test_support::TempDir tmp;
  const auto data = write_idx_dataset(tmp.path() / "data", 48);
  torch::set_num_threads(2);

  // Uninterrupted: 2 epochs (1 warm-up).
  const auto full_dir = (tmp.path() / "full").string();
  train::train(tiny_config(data, full_dir));
  const auto full = read_metrics(full_dir);
  ASSERT_EQ(full.size(), 2u);
  EXPECT_TRUE(full[0]["acc_proto"].is_null());
  ASSERT_TRUE(full[1]["acc_proto"].is_number());
  EXPECT_TRUE(std::isfinite(full[1]["loss"].get<double>()));
  EXPECT_GE(full[1]["acc_proto"].get<double>(), 0.0);
  EXPECT_TRUE(full[1].contains("knn_top1"));
  EXPECT_EQ(full[1]["clusters"].size(), 2u);
  // 6 steps: throughput after the 2 settling steps is reported beside the whole epoch's.
  ASSERT_TRUE(full[1]["settled_img_per_s"].is_number());
  EXPECT_GT(full[1]["settled_img_per_s"].get<double>(), 0.0);
  ASSERT_TRUE(full[1]["key_cosine"].is_number());
  EXPECT_LE(std::abs(full[1]["key_cosine"].get<double>()), 1.0 + 1e-6);
  // The run folder holds its curves, redrawn every epoch: a real picture, not an empty file.
  const auto curves = data::decode_image_file((fs::path(full_dir) / "curves.png").string());
  EXPECT_EQ(curves.rgb.rows, 900);
  EXPECT_GT(cv::countNonZero(curves.rgb.reshape(1) != 255), 1000);
  EXPECT_THROW(train::write_training_curves((tmp.path() / "no_run").string()), Error);

  // Interrupted after epoch 1, then resumed: the same metrics.
  const auto cut_dir = (tmp.path() / "cut").string();
  auto first = tiny_config(data, cut_dir);
  first.epochs = 1;
  train::train(first);
  // The resumed run keeps the saved configuration but for the number of epochs.
  auto resumed = train::read_checkpoint_meta(train::checkpoint_path(cut_dir)).config;
  EXPECT_EQ(resumed.epochs, 1);
  resumed.epochs = 2;
  train::train(resumed, cut_dir);
  const auto cut = read_metrics(cut_dir);
  ASSERT_EQ(cut.size(), 2u);
  for (const char* key : {"loss", "acc_inst", "acc_proto", "knn_top1"}) {
    EXPECT_NEAR(cut[1][key].get<double>(), full[1][key].get<double>(), 1e-4) << key;
  }
  // One environment line per start: the first run's, then the resumed one's.
  std::ifstream env_file(fs::path(cut_dir) / "environment.jsonl");
  std::vector<nlohmann::json> starts;
  for (std::string line; std::getline(env_file, line);) starts.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(starts.size(), 2u);
  EXPECT_EQ(starts[0]["start_epoch"], 0);
  EXPECT_EQ(starts[1]["start_epoch"], 1);
  EXPECT_EQ(starts[1]["device"], "cpu");
  EXPECT_EQ(starts[1]["intra_op_threads"], 2);
  EXPECT_FALSE(starts[1]["blas"].get<std::string>().empty());
  EXPECT_FALSE(starts[1]["libtorch"].get<std::string>().empty());
}

TEST(Checkpoint, RoundTripGivesIdenticalTensors) {
  test_support::TempDir tmp;
  torch::manual_seed(3);
  model::EncoderOptions e{"resnet18", true, 8, true};
  model::MoCo a(model::MoCoOptions(e).queue_size(12));
  torch::optim::SGD sgd(a->encoder_q->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  // One step so the optimiser has momentum buffers to save.
  a->train();
  auto loss = a->encode_query(torch::randn({4, 3, 16, 16})).sum();
  loss.backward();
  sgd.step();
  cluster::EStepResult estep;
  cluster::ClusterLevel level;
  level.k = 3;
  level.prototypes = torch::randn({3, 8});
  level.assignments = torch::tensor({0, 2, 1, 1}, torch::kLong);
  level.phi = torch::rand({3});
  level.counts = torch::tensor({1, 2, 1}, torch::kLong);
  estep.levels.push_back(level);
  train::CheckpointMeta meta;
  meta.epoch = 7;
  meta.config.seed = 99;
  const auto path = (tmp.path() / "ck" / "checkpoint.pt").string();
  train::save_checkpoint(path, a, &sgd, meta, &estep);
  EXPECT_FALSE(fs::exists(tmp.path() / "ck" / ".checkpoint.pt.tmp"));

  torch::manual_seed(4);
  model::MoCo b(model::MoCoOptions(e).queue_size(12));
  torch::optim::SGD sgd_b(b->encoder_q->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  std::optional<cluster::EStepResult> back;
  const auto got = train::load_checkpoint(path, b, &sgd_b, &back);
  EXPECT_EQ(got.epoch, 7);
  EXPECT_EQ(got.config.seed, 99u);
  auto pa = a->named_parameters(), pb = b->named_parameters();
  for (const auto& item : pa) EXPECT_TRUE(torch::equal(item.value(), pb[item.key()])) << item.key();
  auto ba = a->named_buffers(), bb = b->named_buffers();
  for (const auto& item : ba) EXPECT_TRUE(torch::equal(item.value(), bb[item.key()])) << item.key();
  ASSERT_TRUE(back.has_value());
  EXPECT_TRUE(torch::equal(back->levels[0].prototypes, level.prototypes));
  EXPECT_TRUE(torch::equal(back->levels[0].assignments, level.assignments));
  // Optimiser momentum buffers restored, parameter by parameter.
  const auto& params_a = sgd.param_groups()[0].params();
  const auto& params_b = sgd_b.param_groups()[0].params();
  ASSERT_EQ(sgd_b.state().size(), sgd.state().size());
  for (size_t i = 0; i < params_a.size(); ++i) {
    const auto key_a = c10::guts::to_string(params_a[i].unsafeGetTensorImpl());
    const auto key_b = c10::guts::to_string(params_b[i].unsafeGetTensorImpl());
    const auto& sa = static_cast<const torch::optim::SGDParamState&>(*sgd.state().at(key_a));
    const auto& sb = static_cast<const torch::optim::SGDParamState&>(*sgd_b.state().at(key_b));
    EXPECT_TRUE(torch::equal(sa.momentum_buffer(), sb.momentum_buffer()));
  }

  // A checkpoint of another architecture: a clear error naming a key and both shapes.
  model::EncoderOptions other{"resnet18", true, 16, true};
  model::MoCo c(model::MoCoOptions(other).queue_size(12));
  try {
    train::load_checkpoint(path, c, nullptr, nullptr);
    FAIL() << "expected a shape error";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("shape"), std::string::npos) << err.what();
  }
  // Not a checkpoint at all.
  std::ofstream(tmp.path() / "junk.pt") << "not a zip";
  EXPECT_THROW(train::read_checkpoint_meta((tmp.path() / "junk.pt").string()), Error);
}

TEST(Checkpoint, LoadEncoderGivesEitherEncoderOrARandomInit) {
  test_support::TempDir tmp;
  train::CheckpointMeta meta;
  meta.epoch = 3;
  meta.config.arch = "resnet18";
  meta.config.cifar_stem = true;
  meta.config.low_dim = 8;
  meta.config.mlp = true;
  meta.config.queue_size = 12;
  torch::manual_seed(5);
  model::MoCo moco(model::MoCoOptions(model::EncoderOptions{"resnet18", true, 8, true}).queue_size(12));
  {
    // Make the two encoders differ, as after training.
    torch::NoGradGuard no_grad;
    for (auto& p : moco->encoder_q->parameters()) p.add_(0.5);
  }
  train::save_checkpoint(train::checkpoint_path(tmp.path().string()), moco, nullptr, meta, nullptr);

  const auto q = train::load_encoder(tmp.path().string(), train::EncoderRole::kQuery);
  const auto k = train::load_encoder(tmp.path().string(), train::EncoderRole::kKey);
  EXPECT_EQ(q.epoch, 3);
  EXPECT_FALSE(q.random_init);
  EXPECT_EQ(q.config.low_dim, 8);
  EXPECT_FALSE(q.encoder->is_training());
  auto expect_same = [](const model::ResNet& a, const model::ResNet& b, bool same) {
    auto pb = b->named_parameters();
    bool all = true;
    for (const auto& item : a->named_parameters()) all = all && torch::equal(item.value(), pb[item.key()]);
    EXPECT_EQ(all, same);
  };
  expect_same(q.encoder, moco->encoder_q, true);
  expect_same(k.encoder, moco->encoder_k, true);
  expect_same(q.encoder, k.encoder, false);

  // --random-init: the checkpoint's architecture, untrained, seeded.
  auto r1 = train::load_encoder(tmp.path().string(), train::EncoderRole::kQuery, /*random_init=*/true, 7);
  const auto r2 = train::load_encoder(tmp.path().string(), train::EncoderRole::kQuery, /*random_init=*/true, 7);
  EXPECT_TRUE(r1.random_init);
  EXPECT_EQ(r1.epoch, 0);
  expect_same(r1.encoder, r2.encoder, true);
  expect_same(r1.encoder, q.encoder, false);
  EXPECT_EQ(r1.encoder->forward(torch::randn({2, 3, 16, 16})).size(1), 8);

  EXPECT_THROW(train::parse_encoder_role("momentum"), Error);
  EXPECT_THROW(train::load_encoder((tmp.path() / "nothing").string(), train::EncoderRole::kQuery), Error);
}
