#pragma once
/// Weighted k-nearest-neighbour classification on normalised features (Wu et al., CVPR
/// 2018, InstDisc, eq. 7): each of the k most similar training samples votes for its
/// class with weight exp(s / tau). The training monitor and `eval knn` both use it.
#include <torch/torch.h>

namespace protoclr::features {

struct KnnOptions {
  int64_t k = 200;            ///< neighbours
  double temperature = 0.07;  ///< tau of the vote weights
  int64_t num_classes = 0;    ///< 0 = 1 + the largest training label
  int64_t chunk = 512;        ///< test rows per similarity block (memory: chunk * N floats)
};

struct KnnResult {
  double top1 = 0;  ///< percent
  double top5 = 0;  ///< percent
  int64_t samples = 0;
};

/// train: [N, D], test: [M, D] (L2-normalised; normalised here again to be safe);
/// labels int64 [N], [M].
KnnResult knn_classify(const torch::Tensor& train_features, const torch::Tensor& train_labels,
                       const torch::Tensor& test_features, const torch::Tensor& test_labels,
                       const KnnOptions& options = {});

}  // namespace protoclr::features
