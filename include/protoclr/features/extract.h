#pragma once
/// Features of a whole dataset through an encoder, with the evaluation transform (resize +
/// centre crop), in eval mode: what the E-step clusters and what the probes train on.
#include <memory>
#include <string>

#include <torch/torch.h>

#include "protoclr/data/dataset.h"
#include "protoclr/model/resnet.h"

namespace protoclr::features {

enum class FeatureLayer {
  kPool,       ///< the backbone's pooled output [N, 512 or 2048] (linear/SVM probes)
  kEmbedding,  ///< the L2-normalised head output [N, low_dim] (what the E-step clusters)
};

struct ExtractOptions {
  FeatureLayer layer = FeatureLayer::kEmbedding;
  int64_t image_size = 224;
  int64_t batch_size = 256;
  int workers = 0;                 ///< loader threads (0 = all)
  torch::Device device = torch::kCPU;
  bool channels_last = false;
  bool bf16 = false;               ///< bf16 autocast for the forward pass
  bool keep_on_device = false;     ///< features stay on `device` (the E-step clusters them there); else the CPU
  std::string progress_label = "features";  ///< shown in the progress line
};

/// The features of the images that could be read, in dataset order. An image that fails to
/// decode has no row: it must not become a zero vector in a k-means, a kNN bank or a probe
/// (it is named once per process, data/unreadable.h).
struct DatasetFeatures {
  torch::Tensor features;  ///< [N', D] float32 on the CPU (on the device with keep_on_device)
  torch::Tensor labels;    ///< [N'] int64 (-1 when unlabeled)
  torch::Tensor rows;      ///< [N'] int64 on the CPU: the dataset row of each feature row
  int64_t dataset_size = 0;  ///< N; N - N' images could not be read
  double seconds = 0;

  /// Images of the dataset that could not be read.
  int64_t unreadable() const { return dataset_size - rows.size(0); }
};

/// Runs `encoder` (temporarily in eval mode) over every image of `dataset`.
DatasetFeatures extract_features(model::ResNet& encoder, std::shared_ptr<const data::Dataset> dataset,
                          const ExtractOptions& options);

}  // namespace protoclr::features
