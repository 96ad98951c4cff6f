#include "protoclr/features/extract.h"

#include "protoclr/core/error.h"
#include "protoclr/model/autocast.h"
#include "protoclr/core/log.h"
#include "protoclr/core/progress.h"
#include "protoclr/data/loader.h"
#include "protoclr/data/transfer.h"

namespace protoclr::features {

DatasetFeatures extract_features(model::ResNet& encoder, std::shared_ptr<const data::Dataset> dataset,
                          const ExtractOptions& options) {
  auto loader_options = data::single_view_options(options.batch_size, options.workers, /*shuffle=*/false,
                                                   options.channels_last);
  loader_options.replace_failed = false;  // a failed image gets no row, not another image's
  data::Loader loader(dataset, data::Augmentation(data::AugmentOptions::eval(options.image_size)),
                      data::loader_options_for(loader_options, options.device));
  // Rows are written where they are computed unless the caller wants them on the host.
  const torch::Device out_device = options.keep_on_device ? options.device : torch::Device(torch::kCPU);

  const bool was_training = encoder->is_training();
  encoder->eval();
  torch::NoGradGuard no_grad;
  const int64_t n = static_cast<int64_t>(dataset->size());
  DatasetFeatures out;
  out.labels = torch::full({n}, -1, torch::kLong);
  auto valid = torch::zeros({n}, torch::kBool);
  Throughput meter(n);
  loader.start_epoch(0);
  while (auto batch = loader.next()) {
    const auto x = data::view_on_device(batch->views[0], options.device);
    torch::Tensor f;
    {
      model::AutocastGuard autocast(options.bf16, options.device);
      f = options.layer == FeatureLayer::kPool ? encoder->features(x) : encoder->forward(x);
    }
    f = f.to(torch::kFloat);
    if (options.layer == FeatureLayer::kEmbedding)
      f = torch::nn::functional::normalize(f, torch::nn::functional::NormalizeFuncOptions().dim(1));
    if (!out.features.defined())
      out.features = torch::zeros({n, f.size(1)}, torch::TensorOptions().dtype(torch::kFloat).device(out_device));
    out.features.index_copy_(0, data::to_device(batch->index, out_device), f.to(out_device));
    out.labels.index_copy_(0, batch->index, batch->label);
    valid.index_copy_(0, batch->index, batch->valid);
    meter.add(batch->index.size(0));
    log::progress(detail::concat(options.progress_label, " ", meter.done(), "/", n, "  ",
                                 static_cast<int64_t>(meter.per_second()), " img/s  ETA ",
                                 format_duration(meter.eta_seconds())));
  }
  log::progress_done();
  if (was_training) encoder->train();
  out.dataset_size = n;
  out.rows = valid.nonzero().view({-1});
  PROTOCLR_CHECK(out.rows.numel() > 0, "none of the ", n, " images could be read (the first is '",
                 dataset->name(0), "'; run `protoclr data inspect`)");
  if (out.rows.numel() < n) {  // keep only the rows of images that were read
    out.features = out.features.index_select(0, data::to_device(out.rows, out_device));
    out.labels = out.labels.index_select(0, out.rows);
  }
  out.seconds = meter.seconds();
  return out;
}

}  // namespace protoclr::features
