// Equivalence with PyTorch (needs /usr/bin/python3 with torch and torchvision: CI installs
// them with scripts/setup.sh --with-python; elsewhere these tests skip, in CI they fail).
// tests/interop/make_torch_fixtures.py writes torchvision / published-PCL checkpoints with
// their eval-mode outputs; protoclr imports them and must reproduce the outputs, and Python
// must reproduce protoclr's outputs from protoclr's exports.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include <unistd.h>

#include "interop_helpers.h"
#include "protoclr/core/error.h"
#include "protoclr/interop/checkpoint_export.h"
#include "protoclr/interop/checkpoint_import.h"
#include "protoclr/core/blas.h"
#include "protoclr/run/checkpoint.h"
#include "support/python.h"
#include "support/temp_dir.h"

namespace protoclr::interop {
namespace {

namespace fs = std::filesystem;
using test_support::load_protoclr;
using test_support::max_relative_diff;
using test_support::read_io;
/// Largest difference allowed, relative to the largest reference value (at least 1): a
/// randomly initialised ResNet-50 gives pooled features up to ~2,300, where one float ulp
/// is 2.4e-4, and BLAS kernels that sum in another order differ by an ulp or so.
constexpr double kTolerance = 1e-4;
std::string script() { return test_support::source_path("tests/interop/make_torch_fixtures.py"); }

int run_python(const std::string& args, std::string* output) { return test_support::run_python(script(), args, output); }

/// The fixtures, made once per script version and shared by every test process (ctest runs
/// each test in its own): written to a private folder, then renamed into place.
const fs::path& fixtures() {
  static fs::path dir = [] {
    std::ifstream in(script(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    // Keyed by the script and by the BLAS kernels the fixtures are computed with (Python
    // inherits this process's OPENBLAS_CORETYPE), so a cache from other kernels is not reused.
    const auto version = std::to_string(std::hash<std::string>{}(ss.str() + blas::kernel_in_use()));
    const fs::path final_dir = fs::temp_directory_path() / ("protoclr_torch_fixtures_" + version);
    if (fs::exists(final_dir / "done")) return final_dir;
    const fs::path tmp = final_dir.string() + ".tmp" + std::to_string(::getpid());
    std::string out;
    const int status = run_python("make " + tmp.string(), &out);
    if (status != 0) throw std::runtime_error("make_torch_fixtures.py make failed: " + out);
    std::ofstream(tmp / "done") << "ok\n";
    std::error_code ec;
    fs::rename(tmp, final_dir, ec);
    if (ec) fs::remove_all(tmp, ec);  // another test process was first
    return final_dir;
  }();
  return dir;
}

std::string fixture(const std::string& name) { return (fixtures() / name).string(); }

struct TorchvisionCase {
  std::string file, io, arch;
  bool cifar;
};

void PrintTo(const TorchvisionCase& c, std::ostream* os) { *os << c.file; }

class ImportTorchvision : public ::testing::TestWithParam<TorchvisionCase> {};

TEST_P(ImportTorchvision, ReproducesTorchvisionFeatures) {
  REQUIRE_TORCH();
  const auto& c = GetParam();
  test_support::TempDir dir;
  const auto out = (dir.path() / "imported.pt").string();
  const auto r = import_checkpoint(fixture(c.file), out);
  EXPECT_EQ(r.layout, "torchvision");
  EXPECT_EQ(r.format, c.file.find("legacy") != std::string::npos ? TorchFileFormat::kLegacy : TorchFileFormat::kZip);
  EXPECT_EQ(r.encoder.arch, c.arch);
  EXPECT_EQ(r.encoder.cifar_stem, c.cifar);
  EXPECT_TRUE(r.missing.empty());
  EXPECT_EQ(r.unexpected, (std::vector<std::string>{"fc.bias", "fc.weight"}));  // the 1000-class classifier
  auto net = load_protoclr(out);
  auto io = read_io(fixture(c.io));
  torch::NoGradGuard no_grad;
  const double diff = max_relative_diff(net->encoder_q->features(io.at("x")), io.at("features"));
  std::cout << "[ diff ] " << c.file << ": max relative diff " << diff << "\n";
  RecordProperty("max_relative_diff", std::to_string(diff));
  EXPECT_LE(diff, kTolerance);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ImportTorchvision,
                         ::testing::Values(TorchvisionCase{"resnet18.pth", "resnet18_io.pt", "resnet18", false},
                                           TorchvisionCase{"resnet18_legacy.pth", "resnet18_io.pt", "resnet18", false},
                                           TorchvisionCase{"resnet18_cifar.pth", "resnet18_cifar_io.pt", "resnet18", true},
                                           TorchvisionCase{"resnet18_cifar_legacy.pth", "resnet18_cifar_io.pt", "resnet18", true},
                                           TorchvisionCase{"resnet50.pth", "resnet50_io.pt", "resnet50", false},
                                           TorchvisionCase{"resnet50_legacy.pth", "resnet50_io.pt", "resnet50", false}),
                         [](const auto& info) {
                           auto name = info.param.file.substr(0, info.param.file.find('.'));
                           return name;
                         });

TEST(TorchEquivalence, PublishedPclCheckpointImportsEvaluatesAndExportsBitExact) {
  REQUIRE_TORCH();
  test_support::TempDir dir;
  const auto ckpt = (dir.path() / "pcl.pt").string();
  const auto r = import_checkpoint(fixture("pcl_v2_resnet18.pth.tar"), ckpt);
  EXPECT_EQ(r.format, TorchFileFormat::kLegacy);
  EXPECT_EQ(r.layout, "pcl");
  EXPECT_EQ(r.encoder.arch, "resnet18");
  EXPECT_TRUE(r.encoder.mlp);
  EXPECT_EQ(r.encoder.low_dim, 128);
  EXPECT_EQ(r.queue_size, 64);
  EXPECT_EQ(r.epoch, 200);
  EXPECT_TRUE(r.missing.empty());
  EXPECT_TRUE(r.unexpected.empty());
  EXPECT_TRUE(r.notes.empty());

  auto net = load_protoclr(ckpt);
  EXPECT_EQ(r.momentum_buffers, static_cast<int64_t>(net->encoder_q->parameters().size()));
  EXPECT_EQ(net->queue_ptr.item<int64_t>(), 17);
  auto io = read_io(fixture("pcl_v2_resnet18_io.pt"));
  const auto x = io.at("x");
  torch::Tensor eq, ek;
  {
    torch::NoGradGuard no_grad;
    eq = net->encoder_q->forward(x);
    ek = net->encoder_k->forward(x);
    for (const auto& [name, mine, theirs] :
         {std::tuple{"features", net->encoder_q->features(x), io.at("features")},
          std::tuple{"encoder_q", eq, io.at("embedding_q")}, std::tuple{"encoder_k", ek, io.at("embedding_k")}}) {
      const double diff = max_relative_diff(mine, theirs);
      std::cout << "[ diff ] published PCL v2 " << name << ": max relative diff " << diff << "\n";
      EXPECT_LE(diff, kTolerance) << name;
    }
  }

  // Export back to the published layout: Python finds every tensor bit-identical to the
  // original and reproduces protoclr's embeddings from it.
  const auto exported = (dir.path() / "exported.pth.tar").string();
  export_checkpoint(ckpt, exported, ExportFormat::kPcl);
  std::string out;
  EXPECT_EQ(run_python("check-equal " + fixture("pcl_v2_resnet18.pth.tar") + " " + exported, &out), 0) << out;
  std::cout << out;
  auto mine = c10::impl::GenericDict(c10::StringType::get(), c10::AnyType::get());
  mine.insert("x", x);
  mine.insert("embedding_q", eq);
  mine.insert("embedding_k", ek);
  const auto io_path = (dir.path() / "io.pt").string();
  write_torch_file(io_path, mine);
  EXPECT_EQ(run_python("check-pcl " + exported + " " + io_path, &out), 0) << out;
  std::cout << out;
}

class ExportTorchvision : public ::testing::TestWithParam<std::tuple<std::string, bool>> {};

TEST_P(ExportTorchvision, PythonReproducesProtoclrFeatures) {
  REQUIRE_TORCH();
  const auto& [arch, cifar] = GetParam();
  test_support::TempDir dir;
  // A protoclr-initialised model (not torchvision's weights) with non-trivial BN state.
  torch::manual_seed(5);
  auto config = run::TrainConfig::from_preset("pcl-v2");
  config.arch = arch;
  config.cifar_stem = cifar;
  config.queue_size = 16;
  model::MoCo net(model::MoCoOptions(model::EncoderOptions{arch, cifar, config.low_dim, true}).queue_size(16));
  test_support::randomize_bn(*net->encoder_q, 21);
  const auto ckpt = (dir.path() / "ours.pt").string();
  run::save_checkpoint(ckpt, net, nullptr, run::CheckpointMeta{config, 3}, nullptr);

  const auto tv = (dir.path() / "backbone.pth").string();
  export_checkpoint(ckpt, tv, ExportFormat::kTorchvision);
  net->eval();
  const auto x = torch::randn({2, 3, cifar ? 32 : 64, cifar ? 32 : 64});
  auto io = c10::impl::GenericDict(c10::StringType::get(), c10::AnyType::get());
  io.insert("x", x);
  {
    torch::NoGradGuard no_grad;
    io.insert("features", net->encoder_q->features(x));
  }
  const auto io_path = (dir.path() / "io.pt").string();
  write_torch_file(io_path, io);
  std::string out;
  EXPECT_EQ(run_python("check-torchvision " + tv + " " + io_path, &out), 0) << out;
  std::cout << out;
}

INSTANTIATE_TEST_SUITE_P(Archs, ExportTorchvision,
                         ::testing::Values(std::tuple{std::string("resnet18"), false},
                                           std::tuple{std::string("resnet18"), true},
                                           std::tuple{std::string("resnet50"), false}),
                         [](const auto& info) {
                           return std::get<0>(info.param) + (std::get<1>(info.param) ? "_cifar" : "");
                         });

}  // namespace
}  // namespace protoclr::interop
