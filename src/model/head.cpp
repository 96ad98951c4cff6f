#include "protoclr/model/head.h"

#include <memory>

#include "protoclr/core/error.h"

namespace protoclr::model {

namespace nn = torch::nn;

nn::Sequential make_mlp_head(int64_t in_dim, int64_t hidden_dim, int64_t out_dim) {
  TORCH_CHECK(in_dim > 0 && hidden_dim > 0 && out_dim > 0,
              "make_mlp_head: dimensions must be positive, got ", in_dim, ", ", hidden_dim,
              ", ", out_dim);
  return nn::Sequential(nn::Linear(in_dim, hidden_dim), nn::ReLU(),
                        nn::Linear(hidden_dim, out_dim));
}

ResNet make_encoder(const EncoderOptions& options) {
  PROTOCLR_CHECK(options.low_dim > 0, "--low-dim must be positive, got ", options.low_dim);
  ResNet encoder(ResNetOptions(options.arch)
                     .num_classes(options.low_dim)
                     .cifar_stem(options.cifar_stem));
  if (options.mlp) {
    // MoCo v2: fc = Sequential(Linear(d, d), ReLU(), <original fc>).
    const int64_t d = encoder->feature_dim();
    auto original = std::dynamic_pointer_cast<nn::LinearImpl>(encoder->named_children()["fc"]);
    TORCH_INTERNAL_ASSERT(original != nullptr);
    encoder->replace_fc(nn::Sequential(nn::Linear(d, d), nn::ReLU(), nn::Linear(original)));
  }
  return encoder;
}

}  // namespace protoclr::model
