// protoclr checkpoint <-> PyTorch layouts, without Python: export/import round trips are
// bit-exact, inference of arch/stem/head, and the errors for mismatched files.
#include <gtest/gtest.h>

#include "interop_helpers.h"
#include "protoclr/core/error.h"
#include "protoclr/interop/checkpoint_export.h"
#include "protoclr/interop/checkpoint_import.h"
#include "protoclr/run/checkpoint.h"
#include "support/temp_dir.h"

namespace protoclr::interop {
namespace {

using test_support::load_protoclr;
using test_support::TempDir;

struct Saved {
  run::TrainConfig config;
  model::MoCo net{nullptr};
};

/// A trained-looking protoclr checkpoint: random BN statistics, a moved queue pointer and
/// SGD momentum buffers.
Saved save_protoclr(const std::string& path, const std::string& arch, bool cifar, bool mlp, int64_t low_dim = 32) {
  Saved s;
  s.config = run::TrainConfig::from_preset(mlp ? "pcl-v2" : "pcl-v1");
  s.config.arch = arch;
  s.config.cifar_stem = cifar;
  s.config.mlp = mlp;
  s.config.low_dim = low_dim;
  s.config.queue_size = 48;
  torch::manual_seed(3);
  model::EncoderOptions enc{arch, cifar, low_dim, mlp};
  s.net = model::MoCo(model::MoCoOptions(enc).queue_size(48));
  test_support::randomize_bn(*s.net->encoder_q, 11);
  test_support::randomize_bn(*s.net->encoder_k, 12);
  s.net->queue_ptr.fill_(5);
  auto params = s.net->encoder_q->parameters();
  torch::optim::SGD sgd(params, torch::optim::SGDOptions(0.03).momentum(0.9).weight_decay(1e-4));
  for (auto& p : params) p.mutable_grad() = torch::randn_like(p);
  sgd.step();
  run::CheckpointMeta meta{s.config, 7};
  run::save_checkpoint(path, s.net, &sgd, meta, nullptr);
  return s;
}

TEST(CheckpointConvert, PclExportImportExportIsBitExact) {
  TempDir dir;
  const auto a = (dir.path() / "a.pt").string(), b = (dir.path() / "b.pt").string();
  const auto pcl1 = (dir.path() / "a.pth.tar").string(), pcl2 = (dir.path() / "b.pth.tar").string();
  auto saved = save_protoclr(a, "resnet18", /*cifar=*/true, /*mlp=*/true);
  const auto ex = export_checkpoint(a, pcl1, ExportFormat::kPcl);
  EXPECT_EQ(ex.epoch, 7);
  EXPECT_EQ(ex.momentum_buffers, static_cast<int64_t>(saved.net->encoder_q->parameters().size()));

  const auto r = import_checkpoint(pcl1, b);
  EXPECT_EQ(r.layout, "pcl");
  EXPECT_EQ(r.format, TorchFileFormat::kZip);
  EXPECT_EQ(r.encoder.arch, "resnet18");
  EXPECT_TRUE(r.encoder.cifar_stem);
  EXPECT_TRUE(r.encoder.mlp);
  EXPECT_EQ(r.encoder.low_dim, 32);
  EXPECT_EQ(r.queue_size, 48);
  EXPECT_EQ(r.epoch, 7);
  EXPECT_EQ(r.preset, "pcl-v2");
  EXPECT_TRUE(r.missing.empty());
  EXPECT_TRUE(r.unexpected.empty());
  EXPECT_TRUE(r.notes.empty());
  EXPECT_EQ(r.momentum_buffers, ex.momentum_buffers);
  EXPECT_EQ(r.tensors_loaded, r.tensors_read);

  auto reloaded = load_protoclr(b);
  EXPECT_TRUE(test_support::same_state(*saved.net, *reloaded));
  EXPECT_EQ(run::read_checkpoint_meta(b).epoch, 7);

  export_checkpoint(b, pcl2, ExportFormat::kPcl);
  const auto f1 = read_torch_file(pcl1), f2 = read_torch_file(pcl2);
  ASSERT_EQ(f1.tensors.size(), f2.tensors.size());
  for (size_t i = 0; i < f1.tensors.size(); ++i) {
    EXPECT_EQ(f1.tensors[i].first, f2.tensors[i].first);
    EXPECT_EQ(f1.tensors[i].second.scalar_type(), f2.tensors[i].second.scalar_type());
    EXPECT_TRUE(torch::equal(f1.tensors[i].second, f2.tensors[i].second)) << f1.tensors[i].first;
  }
  EXPECT_EQ(f1.scalars, f2.scalars);
  EXPECT_EQ(f1.scalars["arch"], "resnet18");
}

TEST(CheckpointConvert, TorchvisionExportImportsAsBackbone) {
  TempDir dir;
  const auto a = (dir.path() / "a.pt").string(), b = (dir.path() / "b.pt").string();
  const auto tv = (dir.path() / "tv.pth").string();
  auto saved = save_protoclr(a, "resnet18", /*cifar=*/false, /*mlp=*/false);
  const auto ex = export_checkpoint(a, tv, ExportFormat::kTorchvision);
  const auto f = read_torch_file(tv);
  EXPECT_EQ(ex.tensors, static_cast<int64_t>(f.tensors.size()));
  for (const auto& [key, t] : f.tensors) EXPECT_NE(key.rfind("fc.", 0), 0u) << key << ": the head is not exported";
  EXPECT_EQ(f.tensors.front().first, "conv1.weight");
  EXPECT_EQ(f.tensors[1].first, "bn1.weight");  // PyTorch's order: per module, parameters then buffers

  const auto r = import_checkpoint(tv, b);
  EXPECT_EQ(r.layout, "torchvision");
  EXPECT_EQ(r.encoder.arch, "resnet18");
  EXPECT_FALSE(r.encoder.cifar_stem);
  EXPECT_TRUE(r.encoder.mlp);  // fresh pcl-v2 head
  EXPECT_EQ(r.notes.size(), 3u);  // fresh head, fresh queue, encoder_k copied
  EXPECT_TRUE(r.missing.empty());
  EXPECT_TRUE(r.unexpected.empty());
  auto net = load_protoclr(b);
  torch::NoGradGuard no_grad;
  saved.net->encoder_q->eval();
  net->encoder_q->eval();
  net->encoder_k->eval();
  const auto x = torch::randn({2, 3, 32, 32});
  EXPECT_TRUE(torch::equal(saved.net->encoder_q->features(x), net->encoder_q->features(x)));
  EXPECT_TRUE(torch::equal(net->encoder_k->features(x), net->encoder_q->features(x)));
}

TEST(CheckpointConvert, MismatchesAreNamed) {
  TempDir dir;
  const auto a = (dir.path() / "a.pt").string(), out = (dir.path() / "out.pt").string();
  const auto tv = (dir.path() / "tv.pth").string();
  save_protoclr(a, "resnet18", false, true);
  export_checkpoint(a, tv, ExportFormat::kTorchvision);
  const auto good = read_torch_file(tv);

  // A wrong --arch: the missing blocks are named, with the way out.
  ImportOptions r34;
  r34.arch = "resnet34";
  try {
    import_checkpoint(good, "tv.pth", out, r34);
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("layer1.2"), std::string::npos) << msg;
    EXPECT_NE(msg.find("--allow-missing"), std::string::npos) << msg;
  }
  r34.allow_missing = true;
  const auto forced = import_checkpoint(good, "tv.pth", out, r34);
  EXPECT_FALSE(forced.missing.empty());

  // A shape mismatch names the key and both shapes.
  auto bad = good;
  for (auto& [key, t] : bad.tensors)
    if (key == "layer2.0.conv1.weight") t = torch::zeros({128, 64, 5, 5});
  try {
    import_checkpoint(bad, "bad.pth", out);
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("'layer2.0.conv1.weight'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[128, 64, 5, 5]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[128, 64, 3, 3]"), std::string::npos) << msg;
  }

  // Unexpected keys are listed, not fatal; an unknown architecture is an error.
  auto extra = good;
  extra.tensors.emplace_back("extra.weight", torch::zeros({3}));
  EXPECT_EQ(import_checkpoint(extra, "extra.pth", out).unexpected, std::vector<std::string>{"extra.weight"});
  auto cut = good;
  cut.tensors.erase(std::remove_if(cut.tensors.begin(), cut.tensors.end(),
                                   [](const auto& e) { return e.first.rfind("layer4.1.", 0) == 0; }),
                    cut.tensors.end());
  try {
    import_checkpoint(cut, "cut.pth", out);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[2, 2, 2, 1]"), std::string::npos) << e.what();
  }
}

TEST(CheckpointConvert, ExportFormatFlag) {
  EXPECT_EQ(parse_export_format("pcl"), ExportFormat::kPcl);
  EXPECT_EQ(parse_export_format("torchvision"), ExportFormat::kTorchvision);
  EXPECT_THROW(parse_export_format("onnx"), Error);
}

}  // namespace
}  // namespace protoclr::interop
