// Projection heads as the encoder's fc (MoCo v1 linear / v2 MLP): torchvision/MoCo keys,
// shapes, errors, clone.
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "model/module_checks.h"
#include "protoclr/core/error.h"
#include "protoclr/model/head.h"

namespace protoclr::model {
namespace {

using protoclr_test::count_params;
using protoclr_test::expect_equal_deep_copy;
using protoclr_test::expect_keys;
using protoclr_test::TensorKey;

TEST(Head, Resnet18CifarMlpKeysMatchMoco) {
  EncoderOptions options;
  options.arch = "resnet18";
  options.cifar_stem = true;
  options.low_dim = 128;
  options.mlp = true;
  ResNet encoder = make_encoder(options);
  expect_keys(encoder->named_parameters(), protoclr_test::kResnet18CifarMlpParams, "params");
  expect_keys(encoder->named_buffers(), protoclr_test::kResnet18CifarMlpBuffers, "buffers");
  EXPECT_EQ(count_params(*encoder), protoclr_test::kResnet18CifarMlpNumParams);

  // fc is a Sequential with children 0 (Linear), 1 (ReLU), 2 (Linear).
  auto fc = std::dynamic_pointer_cast<torch::nn::SequentialImpl>(encoder->named_children()["fc"]);
  ASSERT_NE(fc, nullptr);
  ASSERT_EQ(fc->size(), 3u);
  EXPECT_NE(fc->ptr(0)->as<torch::nn::Linear>(), nullptr);
  EXPECT_NE(fc->ptr(1)->as<torch::nn::ReLU>(), nullptr);
  EXPECT_NE(fc->ptr(2)->as<torch::nn::Linear>(), nullptr);

  encoder->eval();
  const auto y = encoder->forward(torch::randn({2, 3, 32, 32}));
  EXPECT_EQ(y.sizes().vec(), (std::vector<int64_t>{2, 128}));
}

TEST(Head, Resnet50MlpKeysMatchMoco) {
  EncoderOptions options;  // resnet50, ImageNet stem
  options.mlp = true;
  ResNet encoder = make_encoder(options);
  expect_keys(encoder->named_parameters(), protoclr_test::kResnet50MlpParams, "params");
  expect_keys(encoder->named_buffers(), protoclr_test::kResnet50MlpBuffers, "buffers");
  EXPECT_EQ(count_params(*encoder), protoclr_test::kResnet50MlpNumParams);
}

TEST(Head, Resnet50LinearKeysMatchMoco) {
  ResNet encoder = make_encoder(EncoderOptions{});
  expect_keys(encoder->named_parameters(), protoclr_test::kResnet50LinearParams, "params");
  expect_keys(encoder->named_buffers(), protoclr_test::kResnet50LinearBuffers, "buffers");
  EXPECT_EQ(count_params(*encoder), protoclr_test::kResnet50LinearNumParams);
  encoder->eval();
  torch::NoGradGuard no_grad;
  EXPECT_EQ(encoder->forward(torch::randn({1, 3, 64, 64})).sizes().vec(),
            (std::vector<int64_t>{1, 128}));
}

TEST(Head, BadOptionsThrow) {
  EncoderOptions options;
  options.arch = "alexnet";
  EXPECT_THROW(make_encoder(options), Error);
  options.arch = "resnet18";
  options.low_dim = 0;
  try {
    make_encoder(options);
    FAIL() << "expected protoclr::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--low-dim"), std::string::npos) << e.what();
  }
}

TEST(Head, MlpEncoderCloneIsDeepAndEqual) {
  torch::manual_seed(0);
  EncoderOptions options;
  options.arch = "resnet18";
  options.cifar_stem = true;
  options.low_dim = 16;
  options.mlp = true;
  ResNet encoder = make_encoder(options);
  auto copy = std::dynamic_pointer_cast<ResNetImpl>(encoder->clone());
  ASSERT_NE(copy, nullptr);
  expect_equal_deep_copy(*encoder, *copy);
  // Changing the copy's head does not touch the original, and forward() uses the copy's.
  {
    torch::NoGradGuard no_grad;
    copy->named_parameters()["fc.2.bias"].fill_(100.0);
  }
  const auto x = torch::randn({2, 3, 32, 32});
  EXPECT_FALSE(torch::equal(encoder->forward(x), copy->forward(x)));
  EXPECT_TRUE(torch::all(encoder->named_parameters()["fc.2.bias"] != 100.0).item<bool>());
}

TEST(Head, MakeMlpHead) {
  auto head = make_mlp_head(8, 16, 4);
  const auto params = head->named_parameters();
  std::vector<std::string> keys;
  for (const auto& item : params) keys.push_back(item.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"}));
  EXPECT_EQ(head->forward(torch::randn({3, 8})).sizes().vec(), (std::vector<int64_t>{3, 4}));
  EXPECT_THROW(make_mlp_head(0, 16, 4), c10::Error);
}

}  // namespace
}  // namespace protoclr::model
