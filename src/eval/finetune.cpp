#include "protoclr/eval/finetune.h"

#include "protoclr/core/error.h"
#include "protoclr/core/log.h"
#include "protoclr/core/progress.h"
#include "protoclr/core/schedule.h"
#include "protoclr/data/loader.h"
#include "protoclr/features/accuracy.h"
#include "protoclr/model/autocast.h"
#include "protoclr/model/memory_format.h"

namespace protoclr::eval {

FinetuneResult finetune(model::ResNet& network, std::shared_ptr<const data::Dataset> train,
                        std::shared_ptr<const data::Dataset> test, const FinetuneOptions& o) {
  PROTOCLR_CHECK(o.epochs > 0, "--epochs must be positive, got ", o.epochs);
  PROTOCLR_CHECK(o.batch_size > 0, "--batch-size must be positive, got ", o.batch_size);
  const auto train_labels = train->labels();
  PROTOCLR_CHECK(!train_labels.empty() && *std::min_element(train_labels.begin(), train_labels.end()) >= 0,
                 "fine-tuning needs a labelled training split");
  const int64_t classes = static_cast<int64_t>(train->classes().size());
  PROTOCLR_CHECK(classes > 0, "fine-tuning needs class names in the training split");

  torch::manual_seed(o.seed);
  torch::nn::Linear classifier(network->feature_dim(), classes);
  torch::nn::init::normal_(classifier->weight, 0.0, 0.01);
  torch::nn::init::zeros_(classifier->bias);
  network->replace_fc(torch::nn::AnyModule(classifier));
  network->to(o.device);

  // Two parameter groups: the pretrained trunk learns slowly, the new classifier fast.
  std::vector<torch::Tensor> trunk, head;
  for (auto& item : network->named_parameters())
    (item.key().rfind("fc.", 0) == 0 ? head : trunk).push_back(item.value());
  const double base[2] = {o.lr_backbone, o.lr_head};
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(trunk, std::make_unique<torch::optim::SGDOptions>(
                                 torch::optim::SGDOptions(base[0]).momentum(o.momentum).weight_decay(o.weight_decay)));
  groups.emplace_back(head, std::make_unique<torch::optim::SGDOptions>(
                                torch::optim::SGDOptions(base[1]).momentum(o.momentum).weight_decay(o.weight_decay)));
  torch::optim::SGD sgd(std::move(groups), torch::optim::SGDOptions(o.lr_head));

  const auto lo = data::single_view_options(o.batch_size, o.workers, /*shuffle=*/true, o.channels_last, o.seed);
  data::Loader loader(train, data::Augmentation(data::AugmentOptions::from_name(o.augmentation, static_cast<int>(o.image_size))),
                      lo);
  if (o.channels_last) model::to_channels_last(*network);

  FinetuneResult result;
  Throughput clock(o.epochs * loader.samples_per_epoch());
  for (int64_t epoch = 0; epoch < o.epochs; ++epoch) {
    for (size_t g = 0; g < sgd.param_groups().size(); ++g)
      static_cast<torch::optim::SGDOptions&>(sgd.param_groups()[g].options())
          .lr(learning_rate("step", base[g], epoch, o.epochs, o.milestones, o.gamma));
    network->train();
    features::TopKAccuracy seen;
    double loss_sum = 0;
    int64_t batches = 0;
    loader.start_epoch(epoch);
    while (auto batch = loader.next()) {
      const auto x = batch->views[0].to(o.device);
      const auto y = batch->label.to(o.device);
      torch::Tensor logits;
      {
        model::AutocastGuard autocast(o.bf16, o.device);
        logits = network->forward(x);
      }
      logits = logits.to(torch::kFloat);
      const auto loss = torch::nn::functional::cross_entropy(logits, y);
      sgd.zero_grad();
      loss.backward();
      sgd.step();
      seen.add(logits.detach(), y);
      loss_sum += loss.item<double>();
      ++batches;
      clock.add(x.size(0));
      log::progress(detail::concat("finetune: epoch ", epoch + 1, "/", o.epochs, "  loss ", loss_sum / batches,
                                   "  top-1 ", seen.top1(), "%  ", static_cast<int64_t>(clock.per_second()),
                                   " img/s  ETA ", format_duration(clock.eta_seconds())));
    }
    result.final_loss = batches ? loss_sum / batches : 0.0;
    result.train_top1 = seen.top1();
  }
  log::progress_done();

  // Test: the evaluation transform, eval mode.
  auto test_options = data::single_view_options(o.batch_size, o.workers, /*shuffle=*/false, o.channels_last);
  test_options.replace_failed = false;  // an unreadable test image is left out, not counted twice
  data::Loader test_loader(test, data::Augmentation(data::AugmentOptions::eval(static_cast<int>(o.image_size))),
                           test_options);
  network->eval();
  torch::NoGradGuard no_grad;
  features::TopKAccuracy accuracy;
  test_loader.start_epoch(0);
  while (auto batch = test_loader.next()) {
    torch::Tensor logits;
    {
      model::AutocastGuard autocast(o.bf16, o.device);
      logits = network->forward(batch->views[0].to(o.device));
    }
    const auto valid = batch->valid.to(logits.device());
    accuracy.add(logits.to(torch::kFloat).index({valid}), batch->label.index({batch->valid}));
  }
  PROTOCLR_CHECK(accuracy.samples() > 0, "fine-tuning needs a labelled test split");
  result.top1 = accuracy.top1();
  result.top5 = accuracy.top5();
  result.train_samples = static_cast<int64_t>(train->size());
  result.test_samples = accuracy.samples();
  result.seconds = clock.seconds();
  return result;
}

}  // namespace protoclr::eval
