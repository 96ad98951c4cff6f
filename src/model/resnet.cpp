#include "protoclr/model/resnet.h"

#include <array>
#include <utility>

#include "protoclr/core/error.h"
#include "protoclr/model/split_batch_norm.h"

namespace protoclr::model {
namespace {

namespace nn = torch::nn;

/// Depth per stage and block type of one architecture.
struct ArchSpec {
  bool bottleneck;
  std::array<int64_t, 4> blocks;
};

ArchSpec arch_spec(const std::string& arch) {
  if (arch == "resnet18") return {false, {2, 2, 2, 2}};
  if (arch == "resnet34") return {false, {3, 4, 6, 3}};
  if (arch == "resnet50") return {true, {3, 4, 6, 3}};
  throw Error(detail::concat("unknown --arch '", arch, "' (use resnet18, resnet34 or resnet50)"));
}

nn::Conv2d conv3x3(int64_t in, int64_t out, int64_t stride) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, 3).stride(stride).padding(1).bias(false));
}

nn::Conv2d conv1x1(int64_t in, int64_t out, int64_t stride) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, 1).stride(stride).bias(false));
}

/// torchvision's shortcut: Sequential(conv1x1(stride), BatchNorm2d) -> downsample.0 / .1.
nn::Sequential make_downsample(int64_t in, int64_t out, int64_t stride) {
  return nn::Sequential(conv1x1(in, out, stride), nn::BatchNorm2d(out));
}

/// The shortcut projection, its BatchNorm through batch_norm() (split-BN aware).
torch::Tensor project(nn::Sequential& downsample, const torch::Tensor& x) {
  auto* conv = downsample->ptr(0)->as<nn::Conv2dImpl>();
  auto* bn = downsample->ptr(1)->as<nn::BatchNorm2dImpl>();
  TORCH_INTERNAL_ASSERT(conv != nullptr && bn != nullptr);
  return batch_norm(*bn, conv->forward(x));
}

/// One stage: `blocks` blocks, the first with `stride` and a shortcut projection when the
/// shape changes. Children are named "0", "1", ... as in torchvision's nn.Sequential.
template <typename Block>
nn::Sequential make_layer(int64_t& in_planes, int64_t planes, int64_t blocks, int64_t stride) {
  nn::Sequential layer;
  const int64_t out_planes = planes * Block::Impl::kExpansion;
  const bool downsample = stride != 1 || in_planes != out_planes;
  layer->push_back(Block(in_planes, planes, stride, downsample));
  in_planes = out_planes;
  for (int64_t i = 1; i < blocks; ++i) layer->push_back(Block(in_planes, planes, 1, false));
  return layer;
}

}  // namespace

bool is_resnet_arch(const std::string& arch) {
  return arch == "resnet18" || arch == "resnet34" || arch == "resnet50";
}

// ---------------------------------------------------------------------------------------
// BasicBlock

BasicBlockImpl::BasicBlockImpl(int64_t in_planes, int64_t planes, int64_t stride,
                               bool downsample)
    : in_planes_(in_planes), planes_(planes), stride_(stride), has_downsample_(downsample) {
  reset();
}

void BasicBlockImpl::reset() {
  // Registration order = torchvision's __init__ order (conv1, bn1, relu, conv2, bn2, ...).
  conv1 = register_module("conv1", conv3x3(in_planes_, planes_, stride_));
  bn1 = register_module("bn1", nn::BatchNorm2d(planes_));
  relu = register_module("relu", nn::ReLU(nn::ReLUOptions(/*inplace=*/true)));
  conv2 = register_module("conv2", conv3x3(planes_, planes_, 1));
  bn2 = register_module("bn2", nn::BatchNorm2d(planes_));
  if (has_downsample_) {
    downsample = register_module("downsample",
                                 make_downsample(in_planes_, planes_ * kExpansion, stride_));
  }
}

torch::Tensor BasicBlockImpl::forward(torch::Tensor x) {
  torch::Tensor out = relu(batch_norm(*bn1, conv1(x)));
  out = batch_norm(*bn2, conv2(out));
  torch::Tensor identity = has_downsample_ ? project(downsample, x) : x;
  out = out + identity;
  return relu(out);
}

// ---------------------------------------------------------------------------------------
// Bottleneck

BottleneckImpl::BottleneckImpl(int64_t in_planes, int64_t planes, int64_t stride,
                               bool downsample)
    : in_planes_(in_planes), planes_(planes), stride_(stride), has_downsample_(downsample) {
  reset();
}

void BottleneckImpl::reset() {
  // torchvision v1.5: the stride sits on the 3x3 conv2, not on conv1.
  conv1 = register_module("conv1", conv1x1(in_planes_, planes_, 1));
  bn1 = register_module("bn1", nn::BatchNorm2d(planes_));
  conv2 = register_module("conv2", conv3x3(planes_, planes_, stride_));
  bn2 = register_module("bn2", nn::BatchNorm2d(planes_));
  conv3 = register_module("conv3", conv1x1(planes_, planes_ * kExpansion, 1));
  bn3 = register_module("bn3", nn::BatchNorm2d(planes_ * kExpansion));
  relu = register_module("relu", nn::ReLU(nn::ReLUOptions(/*inplace=*/true)));
  if (has_downsample_) {
    downsample = register_module("downsample",
                                 make_downsample(in_planes_, planes_ * kExpansion, stride_));
  }
}

torch::Tensor BottleneckImpl::forward(torch::Tensor x) {
  torch::Tensor out = relu(batch_norm(*bn1, conv1(x)));
  out = relu(batch_norm(*bn2, conv2(out)));
  out = batch_norm(*bn3, conv3(out));
  torch::Tensor identity = has_downsample_ ? project(downsample, x) : x;
  out = out + identity;
  return relu(out);
}

// ---------------------------------------------------------------------------------------
// ResNet

ResNetImpl::ResNetImpl(ResNetOptions options) : options_(std::move(options)) { reset(); }

void ResNetImpl::reset() {
  const ArchSpec spec = arch_spec(options_.arch());
  PROTOCLR_CHECK(options_.num_classes() >= 0, "ResNet num_classes must be >= 0, got ",
                 options_.num_classes());

  if (options_.cifar_stem()) {
    conv1 = register_module("conv1", conv3x3(3, 64, 1));
  } else {
    conv1 = register_module(
        "conv1", nn::Conv2d(nn::Conv2dOptions(3, 64, 7).stride(2).padding(3).bias(false)));
  }
  bn1 = register_module("bn1", nn::BatchNorm2d(64));
  relu = register_module("relu", nn::ReLU(nn::ReLUOptions(/*inplace=*/true)));
  if (options_.cifar_stem()) {
    maxpool = nn::AnyModule(nn::Identity());
  } else {
    maxpool = nn::AnyModule(nn::MaxPool2d(nn::MaxPool2dOptions(3).stride(2).padding(1)));
  }
  register_module("maxpool", maxpool.ptr());

  int64_t in_planes = 64;
  const std::array<int64_t, 4> planes = {64, 128, 256, 512};
  const std::array<int64_t, 4> strides = {1, 2, 2, 2};
  std::array<nn::Sequential*, 4> layers = {&layer1, &layer2, &layer3, &layer4};
  for (size_t i = 0; i < 4; ++i) {
    nn::Sequential layer =
        spec.bottleneck
            ? make_layer<Bottleneck>(in_planes, planes[i], spec.blocks[i], strides[i])
            : make_layer<BasicBlock>(in_planes, planes[i], spec.blocks[i], strides[i]);
    *layers[i] = register_module("layer" + std::to_string(i + 1), layer);
  }
  TORCH_INTERNAL_ASSERT(in_planes == feature_dim());
  avgpool = register_module("avgpool", nn::AdaptiveAvgPool2d(nn::AdaptiveAvgPool2dOptions({1, 1})));

  // torchvision's init loop over the trunk (before fc exists, so a head is left alone).
  for (const auto& module : modules(/*include_self=*/false)) {
    if (auto* conv = module->as<nn::Conv2d>()) {
      nn::init::kaiming_normal_(conv->weight, /*a=*/0, torch::kFanOut, torch::kReLU);
    } else if (auto* bn = module->as<nn::BatchNorm2d>()) {
      nn::init::ones_(bn->weight);
      nn::init::zeros_(bn->bias);
    }
  }
  if (options_.cifar_stem()) {
    // The CIFAR stem is not torchvision's: the published CIFAR code (MoCo's CIFAR demo)
    // swaps conv1 in after construction, so it keeps PyTorch's default Conv2d init
    // (kaiming_uniform, a = sqrt(5): std 0.111 here, against 0.059 from the loop above).
    // Behind BatchNorm only the scale's effect on the learning rate remains, which is what
    // an equal-budget comparison sees (issue 12, tests/model/test_init_equivalence.cpp).
    conv1->reset_parameters();
  }
  if (options_.zero_init_residual()) {
    for (const auto& module : modules(/*include_self=*/false)) {
      if (auto* block = module->as<Bottleneck>()) {
        nn::init::zeros_(block->bn3->weight);
      } else if (auto* block = module->as<BasicBlock>()) {
        nn::init::zeros_(block->bn2->weight);
      }
    }
  }

  if (fc_replaced_) {
    // A head from replace_fc() survives reset(); clone() relies on this: it copy-constructs,
    // clears the children, calls reset() and then copies every child's values over.
    if (fc_seq_) {
      fc_seq_ = register_module(
          "fc", nn::Sequential(std::dynamic_pointer_cast<nn::SequentialImpl>(fc_seq_->clone())));
    } else {
      fc_any_ = fc_any_.clone();
      register_module("fc", fc_any_.ptr());
    }
  } else if (options_.num_classes() > 0) {
    fc_any_ = nn::AnyModule(nn::Linear(feature_dim(), options_.num_classes()));
    register_module("fc", fc_any_.ptr());
  } else {
    fc_any_ = nn::AnyModule();
  }
}

int64_t ResNetImpl::feature_dim() const {
  return arch_spec(options_.arch()).bottleneck ? 512 * BottleneckImpl::kExpansion
                                               : 512 * BasicBlockImpl::kExpansion;
}

torch::Tensor ResNetImpl::features(torch::Tensor x) {
  TORCH_CHECK(x.dim() == 4 && x.size(1) == 3, "ResNet expects [B, 3, H, W] input, got ",
              x.sizes());
  x = relu(batch_norm(*bn1, conv1(x)));
  x = maxpool.forward(x);
  x = layer1->forward(x);
  x = layer2->forward(x);
  x = layer3->forward(x);
  x = layer4->forward(x);
  x = avgpool(x);
  return torch::flatten(x, /*start_dim=*/1);
}

torch::Tensor ResNetImpl::apply_fc(torch::Tensor x) {
  if (fc_seq_) return fc_seq_->forward(x);
  if (!fc_any_.is_empty()) return fc_any_.forward(x);
  return x;
}

torch::Tensor ResNetImpl::forward(torch::Tensor x) { return apply_fc(features(x)); }

bool ResNetImpl::has_fc() const { return fc_seq_ || !fc_any_.is_empty(); }

namespace {
/// Registers `module` as "fc", in place of the old one (keeping its position) if any, on
/// the device of the trunk.
void set_fc(nn::Module& self, const std::shared_ptr<nn::Module>& module,
            const torch::Device& device) {
  module->to(device);
  if (self.named_children().contains("fc")) {
    self.replace_module("fc", module);
  } else {
    self.register_module("fc", module);
  }
}
}  // namespace

void ResNetImpl::replace_fc(nn::AnyModule fc) {
  TORCH_CHECK(!fc.is_empty(), "ResNet::replace_fc: empty module");
  set_fc(*this, fc.ptr(), conv1->weight.device());
  fc_seq_ = nullptr;
  fc_any_ = std::move(fc);
  fc_replaced_ = true;
}

void ResNetImpl::replace_fc(nn::Sequential fc) {
  TORCH_CHECK(!fc.is_empty(), "ResNet::replace_fc: empty module");
  set_fc(*this, fc.ptr(), conv1->weight.device());
  fc_seq_ = std::move(fc);
  fc_any_ = nn::AnyModule();
  fc_replaced_ = true;
}

}  // namespace protoclr::model
