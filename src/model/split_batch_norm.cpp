#include "protoclr/model/split_batch_norm.h"

#include "protoclr/core/error.h"

namespace protoclr::model {
namespace {
thread_local int64_t batch_norm_groups = 1;
thread_local bool share_formula_in_force = false;
}  // namespace

BatchNormGroups::BatchNormGroups(int64_t groups, bool share_formula)
    : saved_(batch_norm_groups), saved_share_formula_(share_formula_in_force) {
  PROTOCLR_CHECK(groups >= 1, "BatchNorm groups must be >= 1 (got ", groups, ")");
  batch_norm_groups = groups;
  share_formula_in_force = share_formula;
}

BatchNormGroups::~BatchNormGroups() {
  batch_norm_groups = saved_;
  share_formula_in_force = saved_share_formula_;
}

int64_t BatchNormGroups::current() { return batch_norm_groups; }

torch::Tensor batch_norm(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x) {
  const int64_t groups = batch_norm_groups;
  if ((groups == 1 && !share_formula_in_force) || !bn.is_training()) return bn.forward(x);
  TORCH_CHECK(x.dim() == 4, "batch_norm: expected [B, C, H, W], got ", x.sizes());
  const int64_t b = x.size(0), c = x.size(1);
  PROTOCLR_CHECK(b % groups == 0, "a batch of ", b, " images cannot be split into ", groups,
                 " equal BatchNorm groups (--batch-size must be a multiple of --bn-splits and --query-bn-splits)");
  const auto& options = bn.options;
  TORCH_CHECK(options.affine() && options.track_running_stats() && options.momentum().has_value(),
              "batch_norm in groups needs an affine BatchNorm2d with running statistics and a momentum");
  // [G, B/G, C, H, W]: a view in both memory formats (the batch is the outermost dimension).
  const torch::Tensor grouped = x.view({groups, b / groups, c, x.size(2), x.size(3)});
  const torch::Tensor xf = grouped.to(torch::kFloat);  // statistics in float32, also under bf16
  const auto [var, mean] = torch::var_mean(xf, {1, 3, 4}, /*unbiased=*/false, /*keepdim=*/true);  // [G, 1, C, 1, 1]
  const torch::Tensor scale = (var + options.eps()).rsqrt() * bn.weight.to(torch::kFloat).view({1, 1, c, 1, 1});
  const torch::Tensor shift = bn.bias.to(torch::kFloat).view({1, 1, c, 1, 1}) - mean * scale;
  torch::Tensor out = (xf * scale + shift).to(x.scalar_type()).reshape(x.sizes());
  {
    // Once per pass, the mean of the groups' statistics (the variance unbiased, as BN's).
    torch::NoGradGuard no_grad;
    const double m = *options.momentum();
    const double n = static_cast<double>(grouped.numel() / (groups * c));
    const auto group_mean = mean.detach().mean(0).view({c}).to(bn.running_mean.scalar_type());
    const auto group_var = (var.detach() * (n / std::max(1.0, n - 1.0))).mean(0).view({c}).to(bn.running_var.scalar_type());
    bn.running_mean.mul_(1.0 - m).add_(group_mean, m);
    bn.running_var.mul_(1.0 - m).add_(group_var, m);
    bn.num_batches_tracked.add_(1);
  }
  return out.contiguous(x.suggest_memory_format());
}

}  // namespace protoclr::model
