#include "protoclr/model/moco.h"

#include <numeric>

#include "protoclr/core/error.h"
#include "protoclr/model/split_batch_norm.h"

namespace protoclr::model {
torch::Tensor forward_in_groups(ResNet& encoder, const torch::Tensor& x, int64_t groups, bool share_formula) {
  BatchNormGroups scope(groups, share_formula);
  return encoder->forward(x);
}

torch::Tensor shuffle_permutation(int64_t n, Rng& rng, const torch::Device& device) {
  std::vector<int64_t> perm(n);
  std::iota(perm.begin(), perm.end(), 0);
  for (int64_t i = n - 1; i > 0; --i) std::swap(perm[i], perm[uniform_index(rng, i + 1)]);
  return torch::tensor(perm, torch::kLong).to(device);
}

torch::Tensor SplitBatchShuffle::encode(ResNet& encoder, const torch::Tensor& x, Rng& rng) {
  const auto shuffle = shuffle_permutation(x.size(0), rng, x.device());
  const auto out = forward_in_groups(encoder, x.index_select(0, shuffle), groups_);
  // Undo the permutation: row shuffle[i] of the input is row i of `out`.
  return torch::empty_like(out).index_copy_(0, shuffle, out);
}

MoCoImpl::MoCoImpl(MoCoOptions options) : options_(std::move(options)) {
  PROTOCLR_CHECK(options_.queue_size() > 0, "--queue-size must be positive (got ", options_.queue_size(), ")");
  PROTOCLR_CHECK(options_.query_bn_groups() >= 1, "--query-bn-splits must be >= 1 (got ", options_.query_bn_groups(),
                 ")");
  PROTOCLR_CHECK(options_.momentum() >= 0 && options_.momentum() <= 1, "--moco-m must be in [0, 1] (got ",
                 options_.momentum(), ")");
  encoder_q = register_module("encoder_q", make_encoder(options_.encoder()));
  encoder_k = register_module("encoder_k", make_encoder(options_.encoder()));
  torch::NoGradGuard no_grad;
  for (auto& p : encoder_q->parameters()) params_q_.push_back(p);
  for (auto& p : encoder_k->parameters()) params_k_.push_back(p);
  for (size_t i = 0; i < params_q_.size(); ++i) {
    params_k_[i].copy_(params_q_[i]);
    params_k_[i].set_requires_grad(false);
  }
  auto named_q = encoder_q->named_buffers();
  auto named_k = encoder_k->named_buffers();
  for (const auto& item : named_q) named_k[item.key()].copy_(item.value());
  const int64_t dim = options_.encoder().low_dim;
  queue = register_buffer("queue", torch::nn::functional::normalize(torch::randn({dim, options_.queue_size()}),
                                                                    torch::nn::functional::NormalizeFuncOptions().dim(0)));
  queue_ptr = register_buffer("queue_ptr", torch::zeros({1}, torch::kLong));
}

void MoCoImpl::momentum_update() {
  torch::NoGradGuard no_grad;
  const double m = options_.momentum();
  at::_foreach_mul_(params_k_, m);
  at::_foreach_add_(params_k_, params_q_, 1.0 - m);
}

torch::Tensor MoCoImpl::encode_query(const torch::Tensor& x) {
  const auto q = forward_in_groups(encoder_q, x, options_.query_bn_groups(), options_.batch_norm_share_formula());
  // Normalised in float32, as the keys are (under bf16 autocast the head's output is bf16).
  return torch::nn::functional::normalize(q.to(torch::kFloat), torch::nn::functional::NormalizeFuncOptions().dim(1));
}

torch::Tensor MoCoImpl::encode_key(const torch::Tensor& x, KeyBatchShuffle& shuffle, Rng& rng) {
  torch::NoGradGuard no_grad;
  auto k = shuffle.encode(encoder_k, x, rng);
  return torch::nn::functional::normalize(k.to(torch::kFloat), torch::nn::functional::NormalizeFuncOptions().dim(1));
}

void MoCoImpl::enqueue(const torch::Tensor& keys) {
  torch::NoGradGuard no_grad;
  const int64_t q = queue.size(1);
  int64_t b = keys.size(0);
  auto k = keys.detach().to(queue.dtype());
  if (b > q) {  // a batch larger than the queue: keep its newest keys only
    k = k.slice(0, b - q);
    b = q;
  }
  if (queue_ptr._version() != queue_ptr_version_) queue_ptr_host_ = queue_ptr.item<int64_t>();
  const int64_t ptr = queue_ptr_host_;
  const int64_t first = std::min(b, q - ptr);
  queue.slice(1, ptr, ptr + first).copy_(k.slice(0, 0, first).t());
  if (first < b) queue.slice(1, 0, b - first).copy_(k.slice(0, first).t());
  queue_ptr_host_ = (ptr + b) % q;
  queue_ptr.fill_(queue_ptr_host_);  // on the device, no wait
  queue_ptr_version_ = static_cast<int64_t>(queue_ptr._version());
}

}  // namespace protoclr::model
