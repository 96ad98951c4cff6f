#pragma once
/// ResNet-18/34/50 backbones with torchvision's exact module tree, so that
/// named_parameters() / named_buffers() keys equal torchvision's state_dict keys
/// (`conv1.weight`, `layer2.0.downsample.1.running_mean`, `fc.weight`, ...) and MoCo / PCL
/// checkpoints map onto them key for key. He et al., "Deep Residual Learning for Image
/// Recognition" (CVPR 2016); Bottleneck strides on conv2 (torchvision's "ResNet v1.5").
#include <cstdint>
#include <string>

#include <torch/torch.h>

namespace protoclr::model {

/// Options of one ResNet. Required: the architecture name.
struct ResNetOptions {
  /* implicit */ ResNetOptions(std::string arch) : arch_(std::move(arch)) {}
  /// "resnet18", "resnet34" or "resnet50" (anything else: protoclr::Error naming --arch).
  TORCH_ARG(std::string, arch);
  /// Output size of `fc`; 0 = no fc, forward() returns the pooled features.
  TORCH_ARG(int64_t, num_classes) = 1000;
  /// CIFAR stem: conv1 is 3x3 stride 1 padding 1 and maxpool is the identity.
  TORCH_ARG(bool, cifar_stem) = false;
  /// Zero the last BN weight of every residual branch (Goyal et al. 2017), as torchvision.
  TORCH_ARG(bool, zero_init_residual) = false;
};

/// Whether `arch` names a supported ResNet (resnet18, resnet34, resnet50).
bool is_resnet_arch(const std::string& arch);

/// Basic residual block of ResNet-18/34: conv3x3-bn-relu-conv3x3-bn (+ downsample) -relu.
/// Children: conv1, bn1, relu, conv2, bn2[, downsample = Sequential(conv1x1, bn)].
class BasicBlockImpl : public torch::nn::Cloneable<BasicBlockImpl> {
 public:
  static constexpr int64_t kExpansion = 1;
  /// `downsample`: add a 1x1 conv + BN on the shortcut (stride or width change).
  BasicBlockImpl(int64_t in_planes, int64_t planes, int64_t stride, bool downsample);
  void reset() override;
  /// [B, in_planes, H, W] -> [B, planes, H/stride, W/stride].
  torch::Tensor forward(torch::Tensor x);

  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
  torch::nn::ReLU relu{nullptr};
  torch::nn::Sequential downsample{nullptr};

 private:
  int64_t in_planes_, planes_, stride_;
  bool has_downsample_;
};
TORCH_MODULE(BasicBlock);

/// Bottleneck block of ResNet-50: conv1x1-bn-relu-conv3x3(stride)-bn-relu-conv1x1-bn
/// (+ downsample) -relu; output width planes * 4.
/// Children: conv1, bn1, conv2, bn2, conv3, bn3, relu[, downsample].
class BottleneckImpl : public torch::nn::Cloneable<BottleneckImpl> {
 public:
  static constexpr int64_t kExpansion = 4;
  BottleneckImpl(int64_t in_planes, int64_t planes, int64_t stride, bool downsample);
  void reset() override;
  /// [B, in_planes, H, W] -> [B, 4 * planes, H/stride, W/stride].
  torch::Tensor forward(torch::Tensor x);

  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  torch::nn::ReLU relu{nullptr};
  torch::nn::Sequential downsample{nullptr};

 private:
  int64_t in_planes_, planes_, stride_;
  bool has_downsample_;
};
TORCH_MODULE(Bottleneck);

/// torchvision ResNet. Children, in torchvision's order: conv1, bn1, relu, maxpool,
/// layer1..layer4 (Sequential of blocks), avgpool, fc. Initialisation as torchvision: conv
/// kaiming_normal_(fan_out, relu), BN weight 1 / bias 0, Linear LibTorch's (= PyTorch's)
/// default. Device- and memory-format-agnostic (channels_last, CPU bf16 autocast).
/// clone() deep-copies, including an fc set by replace_fc() (MoCo's encoder_k).
class ResNetImpl : public torch::nn::Cloneable<ResNetImpl> {
 public:
  explicit ResNetImpl(ResNetOptions options);
  /// Builds and initialises all layers from options(); called by the constructor and by
  /// clone() (on a copy whose children were cleared). An fc from replace_fc() is kept.
  void reset() override;

  /// [B, 3, H, W] -> fc(features(x)): [B, num_classes] (or [B, feature_dim()] without fc).
  torch::Tensor forward(torch::Tensor x);
  /// [B, 3, H, W] -> pooled, flattened trunk output [B, feature_dim()].
  torch::Tensor features(torch::Tensor x);
  /// Width of features(): 512 (resnet18/34) or 2048 (resnet50).
  int64_t feature_dim() const;

  /// Re-registers `fc` (e.g. a projection head); it maps [B, feature_dim()] -> [B, *].
  void replace_fc(torch::nn::AnyModule fc);
  /// As above for a Sequential head (Sequential cannot live in an AnyModule); its children
  /// are named "0", "1", ... so keys read fc.0.weight, fc.2.bias, ...
  void replace_fc(torch::nn::Sequential fc);
  /// Whether the model has an fc (false for num_classes 0 and no replace_fc()).
  bool has_fc() const;

  const ResNetOptions& options() const { return options_; }

  torch::nn::Conv2d conv1{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr};
  torch::nn::ReLU relu{nullptr};
  torch::nn::AnyModule maxpool;  ///< MaxPool2d(3, 2, 1), or Identity with cifar_stem.
  torch::nn::Sequential layer1{nullptr}, layer2{nullptr}, layer3{nullptr}, layer4{nullptr};
  torch::nn::AdaptiveAvgPool2d avgpool{nullptr};

 private:
  torch::Tensor apply_fc(torch::Tensor x);

  ResNetOptions options_;
  bool fc_replaced_ = false;       ///< fc came from replace_fc(): reset() keeps a copy.
  torch::nn::AnyModule fc_any_;    ///< fc when it is not a Sequential (or empty).
  torch::nn::Sequential fc_seq_{nullptr};  ///< fc when it is a Sequential.
};
TORCH_MODULE(ResNet);

}  // namespace protoclr::model
