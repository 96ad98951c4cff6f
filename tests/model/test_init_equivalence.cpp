// Initialisation against PyTorch: every parameter of a fresh encoder has the mean and
// standard deviation of the same parameter as the published code initialises it
// (tests/model/make_init_reference.py: torchvision's ResNet, the CIFAR stem put in after
// construction as MoCo's CIFAR demo does, MoCo v2's MLP head). An encoder that starts at
// another scale learns at another effective rate.
#include <cmath>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "protoclr/model/head.h"
#include "support/python.h"

namespace protoclr::model {
namespace {

TEST(InitEquivalence, EveryParameterStartsAtTorchvisionScale) {
  REQUIRE_TORCH();
  std::string out;
  ASSERT_EQ(test_support::run_python(test_support::source_path("tests/model/make_init_reference.py"), "", &out), 0)
      << out;
  std::istringstream lines(out);
  std::string line;
  int cases = 0;
  while (std::getline(lines, line)) {
    const auto ref = nlohmann::json::parse(line);
    torch::manual_seed(1);
    auto encoder = make_encoder(EncoderOptions{ref["arch"], ref["cifar_stem"], 128, ref["mlp"]});
    auto mine = encoder->named_parameters();
    const auto& params = ref["params"];
    ASSERT_EQ(mine.size(), params.size()) << line.substr(0, 80);
    for (const auto& [key, stats] : params.items()) {
      ASSERT_TRUE(mine.contains(key)) << key;
      const auto w = mine[key].detach().to(torch::kDouble);
      ASSERT_EQ(w.numel(), stats[2].get<int64_t>()) << key;
      const double mean = stats[0], std = stats[1];
      // The standard error of a sample std over n values is about std / sqrt(2n); 5 of them.
      const double slack = 5.0 / std::sqrt(2.0 * static_cast<double>(w.numel()));
      const double my_std = w.numel() > 1 ? w.std().item<double>() : 0.0;
      EXPECT_NEAR(my_std, std, std * slack + 1e-7) << key << " (cifar_stem " << ref["cifar_stem"] << ")";
      EXPECT_NEAR(w.mean().item<double>(), mean, std * slack * 2 + 1e-7) << key;
    }
    ++cases;
  }
  EXPECT_EQ(cases, 2);
}

}  // namespace
}  // namespace protoclr::model
