#include "protoclr/recipes/quickstart.h"

#include <algorithm>

#include "protoclr/core/log.h"
#include "protoclr/core/progress.h"
#include "protoclr/eval/cluster_metrics.h"
#include "protoclr/features/knn.h"
#include "protoclr/run/environment.h"
#include "protoclr/train/trainer.h"

namespace protoclr::recipes {
namespace {

QuickstartScores score(model::ResNet& encoder, const run::TrainConfig& config,
                       std::shared_ptr<const data::Dataset> train_set, std::shared_ptr<const data::Dataset> test_set) {
  auto options = train::key_feature_options(config, torch::Device(config.device));
  options.progress_label = "features (train)";
  const auto bank = features::extract_features(encoder, train_set, options);
  options.progress_label = "features (test)";
  const auto test = features::extract_features(encoder, test_set, options);
  QuickstartScores s;
  s.knn_top1 = features::knn_classify(bank.features, bank.labels, test.features, test.labels).top1;
  eval::ClusteringOptions copt;
  copt.k = static_cast<int64_t>(test_set->classes().size());
  copt.seed = config.seed;
  const auto clustering = eval::evaluate_clustering(test.features, test.labels, copt);
  s.ami = clustering.agreement.ami;
  s.nmi = clustering.agreement.nmi;
  return s;
}

}  // namespace

run::RunRequest quickstart_request(const QuickstartOptions& options) {
  run::RunRequest request;
  request.preset = "quickstart";
  auto& o = request.overrides;
  o = {{"data", options.data}, {"out", options.out}, {"threads", options.threads}, {"seed", options.seed},
       {"bf16", options.bf16}};
  if (options.train_images > 0) o["limit"] = options.train_images;
  if (options.epochs > 0) {
    o["epochs"] = options.epochs;
    o["warmup_epochs"] = std::min<int64_t>(run::TrainConfig::from_preset("quickstart").warmup_epochs, options.epochs - 1);
  }
  return request;
}

QuickstartReport run_quickstart(const QuickstartOptions& options) {
  Throughput clock;
  QuickstartReport report;
  report.config = run::resolve_config(quickstart_request(options));
  run::set_threads(report.config.threads);
  const auto& c = report.config;
  auto test_options = c.dataset_options();
  test_options.split = "test";
  test_options.limit = options.test_images > 0 ? options.test_images : 2000;
  const auto test_set = data::open_dataset(c.data, test_options);
  report.test_images = static_cast<int64_t>(test_set->size());

  train::Trainer trainer(c);
  const auto& train_set = trainer.state().dataset;
  // Before the first step the momentum encoder is the network exactly as training starts it.
  log::info("quickstart: scoring the randomly initialised network");
  report.random_init = score(trainer.state().moco->encoder_k, c, train_set, test_set);
  trainer.run();
  log::info("quickstart: scoring the trained network");
  report.trained = score(trainer.state().moco->encoder_k, c, train_set, test_set);
  report.seconds = clock.seconds();
  return report;
}

}  // namespace protoclr::recipes
