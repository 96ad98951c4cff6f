#include "protoclr/eval/linear_probe.h"

#include <functional>

#include "protoclr/core/error.h"
#include "protoclr/core/log.h"
#include "protoclr/core/progress.h"
#include "protoclr/core/schedule.h"
#include "protoclr/data/loader.h"
#include "protoclr/features/accuracy.h"
#include "protoclr/model/autocast.h"

namespace protoclr::eval {
namespace {

/// Feeds one epoch's (features [B, D], labels [B]) batches to `step`.
using EpochFeeder = std::function<void(int64_t epoch, const std::function<void(torch::Tensor, torch::Tensor)>& step)>;

void check_labels(const torch::Tensor& features, const torch::Tensor& labels, const char* split) {
  PROTOCLR_CHECK(features.dim() == 2 && labels.dim() == 1 && features.size(0) == labels.size(0),
                 "linear probe: ", split, " features must be [N, D] with one label per row");
  PROTOCLR_CHECK(labels.numel() > 0 && labels.min().item<int64_t>() >= 0, "linear probe needs labelled ", split,
                 " data (every label >= 0)");
}

/// The probe itself, whatever produces the training features.
LinearProbeResult train_probe(int64_t dim, int64_t classes, int64_t train_samples, const EpochFeeder& feed,
                              const torch::Tensor& test_features, const torch::Tensor& test_labels,
                              const LinearProbeOptions& o) {
  PROTOCLR_CHECK(o.epochs > 0, "--epochs must be positive, got ", o.epochs);
  PROTOCLR_CHECK(o.batch_size > 0, "--batch-size must be positive, got ", o.batch_size);
  PROTOCLR_CHECK(o.lr > 0, "--lr must be positive, got ", o.lr);
  check_labels(test_features, test_labels, "test");
  PROTOCLR_CHECK(test_features.size(1) == dim, "linear probe: test features have ", test_features.size(1),
                 " dimensions, training features ", dim);
  torch::manual_seed(o.seed);
  torch::nn::Linear linear(dim, classes);
  // MoCo's lincls initialisation.
  torch::nn::init::normal_(linear->weight, 0.0, 0.01);
  torch::nn::init::zeros_(linear->bias);
  // With standardize, a BatchNorm without affine parameters in front (MAE's linear probe):
  // batch statistics while training, running statistics at test. It has no parameters, so
  // the classifier stays linear in the features, and one learning rate suits any feature
  // scale (a random initialisation's pooled features are orders of magnitude off a trained one's).
  torch::nn::Sequential fc;
  if (o.standardize) fc->push_back(torch::nn::BatchNorm1d(torch::nn::BatchNorm1dOptions(dim).affine(false).eps(1e-6)));
  fc->push_back(linear);
  fc->to(o.device);
  fc->train();
  torch::optim::SGD sgd(fc->parameters(),
                        torch::optim::SGDOptions(o.lr).momentum(o.momentum).weight_decay(o.weight_decay));
  Throughput clock(o.epochs);
  LinearProbeResult result;
  for (int64_t epoch = 0; epoch < o.epochs; ++epoch) {
    const double lr = learning_rate(o.schedule, o.lr, epoch, o.epochs, o.milestones);
    for (auto& group : sgd.param_groups()) static_cast<torch::optim::SGDOptions&>(group.options()).lr(lr);
    features::TopKAccuracy seen;
    double loss_sum = 0;
    int64_t batches = 0;
    feed(epoch, [&](torch::Tensor x, torch::Tensor y) {
      // Batch statistics need two samples: a last batch of one is left out of this epoch
      // (the order changes every epoch, so not always the same sample).
      if (o.standardize && x.size(0) < 2) return;
      x = x.to(o.device, torch::kFloat);
      y = y.to(o.device);
      const auto logits = fc->forward(x);
      const auto loss = torch::nn::functional::cross_entropy(logits, y);
      sgd.zero_grad();
      loss.backward();
      sgd.step();
      seen.add(logits.detach(), y);
      loss_sum += loss.item<double>();
      ++batches;
    });
    PROTOCLR_CHECK(batches > 0, "linear probe: no training batch (is the training split empty?)");
    result.final_loss = loss_sum / batches;
    result.train_top1 = seen.top1();
    clock.add(1);
    log::progress(detail::concat("linear probe: epoch ", epoch + 1, "/", o.epochs, "  loss ", result.final_loss,
                                 "  train top-1 ", seen.top1(), "%  lr ", lr, "  ETA ",
                                 format_duration(clock.eta_seconds())));
  }
  log::progress_done();
  fc->eval();
  torch::NoGradGuard no_grad;
  features::TopKAccuracy test;
  for (int64_t begin = 0; begin < test_features.size(0); begin += 4096) {
    const auto x = test_features.slice(0, begin, begin + 4096).to(o.device, torch::kFloat);
    test.add(fc->forward(x), test_labels.slice(0, begin, begin + 4096));
  }
  result.top1 = test.top1();
  result.top5 = test.top5();
  result.train_samples = train_samples;
  result.test_samples = test.samples();
  result.seconds = clock.seconds();
  return result;
}

int64_t class_count(const torch::Tensor& train_labels, int64_t requested) {
  return requested > 0 ? requested : train_labels.max().item<int64_t>() + 1;
}

}  // namespace

LinearProbeResult linear_probe(const torch::Tensor& train_features, const torch::Tensor& train_labels,
                               const torch::Tensor& test_features, const torch::Tensor& test_labels,
                               const LinearProbeOptions& options) {
  check_labels(train_features, train_labels, "training");
  const int64_t n = train_features.size(0);
  const auto features = train_features.to(options.device, torch::kFloat);
  const auto labels = train_labels.to(options.device, torch::kLong);
  const EpochFeeder feed = [&](int64_t epoch, const std::function<void(torch::Tensor, torch::Tensor)>& step) {
    // A new order every epoch, fixed by (seed, epoch); the last, smaller batch is kept.
    auto gen = at::detail::createCPUGenerator(options.seed * 1000003 + static_cast<uint64_t>(epoch));
    const auto order = torch::randperm(n, gen, torch::kLong).to(options.device);
    for (int64_t begin = 0; begin < n; begin += options.batch_size) {
      const auto idx = order.slice(0, begin, begin + options.batch_size);
      step(features.index_select(0, idx), labels.index_select(0, idx));
    }
  };
  return train_probe(train_features.size(1), class_count(train_labels, options.num_classes), n, feed, test_features,
                     test_labels, options);
}

LinearProbeResult linear_probe_augmented(model::ResNet& encoder, std::shared_ptr<const data::Dataset> train,
                                         const torch::Tensor& test_features, const torch::Tensor& test_labels,
                                         const LinearProbeOptions& options, const AugmentedProbeOptions& augmented) {
  const auto labels = torch::tensor(train->labels(), torch::kLong);
  PROTOCLR_CHECK(labels.numel() > 0 && labels.min().item<int64_t>() >= 0,
                 "linear probe with --augment needs a labelled training split");
  data::Loader loader(train, data::Augmentation(data::AugmentOptions::crop_flip(static_cast<int>(augmented.image_size))),
                      data::single_view_options(options.batch_size, augmented.workers, /*shuffle=*/true,
                                                augmented.channels_last, options.seed));
  // The backbone is frozen and stays in eval mode (running BN statistics), as in MoCo's lincls.
  const bool was_training = encoder->is_training();
  encoder->eval();
  const EpochFeeder feed = [&](int64_t epoch, const std::function<void(torch::Tensor, torch::Tensor)>& step) {
    loader.start_epoch(epoch);
    while (auto batch = loader.next()) {
      torch::Tensor f;
      {
        torch::NoGradGuard no_grad;
        model::AutocastGuard autocast(augmented.bf16, options.device);
        f = encoder->features(batch->views[0].to(options.device)).to(torch::kFloat);
      }
      step(f, batch->label);
    }
  };
  auto result = train_probe(encoder->feature_dim(), class_count(labels, options.num_classes),
                            static_cast<int64_t>(train->size()), feed, test_features, test_labels, options);
  if (was_training) encoder->train();
  return result;
}

}  // namespace protoclr::eval
