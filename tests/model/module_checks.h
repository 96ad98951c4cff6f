#pragma once
// Shared checks of module trees against torchvision's expected keys (resnet_keys.h).
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "model/resnet_keys.h"
#include "protoclr/model/resnet.h"

namespace protoclr_test {

/// Names and shapes of `items` equal `expected`, in order.
inline void expect_keys(const torch::OrderedDict<std::string, torch::Tensor>& items,
                        const std::vector<TensorKey>& expected, const std::string& what) {
  ASSERT_EQ(items.size(), expected.size()) << what;
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(items[i].key(), expected[i].name) << what << " #" << i;
    EXPECT_EQ(items[i].value().sizes().vec(), expected[i].shape) << what << " " << expected[i].name;
  }
}

inline int64_t count_params(torch::nn::Module& module) {
  int64_t n = 0;
  for (const auto& p : module.parameters()) n += p.numel();
  return n;
}

/// `copy` has the same parameters as `original` in separate memory, and the same output.
inline void expect_equal_deep_copy(protoclr::model::ResNetImpl& original, protoclr::model::ResNetImpl& copy) {
  const auto a = original.named_parameters();
  const auto b = copy.named_parameters();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].key(), b[i].key());
    EXPECT_TRUE(torch::equal(a[i].value(), b[i].value())) << a[i].key();
    EXPECT_NE(a[i].value().data_ptr(), b[i].value().data_ptr()) << a[i].key();
  }
  original.eval();
  copy.eval();
  const auto x = torch::randn({2, 3, 32, 32});
  EXPECT_TRUE(torch::equal(original.forward(x), copy.forward(x)));
}

}  // namespace protoclr_test
