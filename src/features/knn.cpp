#include "protoclr/features/knn.h"

#include "protoclr/core/error.h"
#include "protoclr/features/accuracy.h"

namespace protoclr::features {

KnnResult knn_classify(const torch::Tensor& train_features, const torch::Tensor& train_labels,
                       const torch::Tensor& test_features, const torch::Tensor& test_labels,
                       const KnnOptions& options) {
  namespace F = torch::nn::functional;
  PROTOCLR_CHECK(train_features.dim() == 2 && test_features.dim() == 2 &&
                     train_features.size(1) == test_features.size(1),
                 "kNN: train and test features must be [N, D] and [M, D] with the same D");
  PROTOCLR_CHECK(train_features.size(0) == train_labels.size(0) && test_features.size(0) == test_labels.size(0),
                 "kNN: one label per feature row expected");
  PROTOCLR_CHECK(train_labels.numel() > 0 && train_labels.min().item<int64_t>() >= 0,
                 "kNN needs labelled training data (labels >= 0)");
  const auto train = F::normalize(train_features.to(torch::kFloat), F::NormalizeFuncOptions().dim(1));
  const auto test = F::normalize(test_features.to(torch::kFloat), F::NormalizeFuncOptions().dim(1));
  const int64_t classes =
      options.num_classes > 0 ? options.num_classes : train_labels.max().item<int64_t>() + 1;
  const int64_t k = std::min<int64_t>(options.k, train.size(0));
  const auto train_t = train.t().contiguous();
  const auto labels_train = train_labels.to(torch::kLong).to(train.device());
  TopKAccuracy accuracy;
  for (int64_t begin = 0; begin < test.size(0); begin += options.chunk) {
    const auto block = test.slice(0, begin, begin + options.chunk);
    auto [sim, idx] = block.matmul(train_t).topk(k, /*dim=*/1);
    const auto neighbour_labels = labels_train.index({idx.flatten()}).view_as(idx);
    auto votes = torch::zeros({block.size(0), classes}, block.options());
    votes.scatter_add_(1, neighbour_labels, (sim / options.temperature).exp());
    accuracy.add(votes, test_labels.slice(0, begin, begin + options.chunk));
  }
  PROTOCLR_CHECK(accuracy.samples() > 0, "kNN needs labelled test data");
  KnnResult result;
  result.samples = accuracy.samples();
  result.top1 = accuracy.top1();
  result.top5 = accuracy.top5();
  return result;
}

}  // namespace protoclr::features
