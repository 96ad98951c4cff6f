#pragma once
// Shared checks of module trees against torchvision's expected keys (resnet_keys.h).
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "model/resnet_keys.h"

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

}  // namespace protoclr_test
