#include "protoclr/train/group_collectives.h"

#include <utility>

#include "protoclr/cluster/e_step.h"
#include "protoclr/core/error.h"
#include "protoclr/data/dataset.h"

namespace protoclr::train {
namespace {

/// MoCo's batch_shuffle_ddp / batch_unshuffle_ddp for the key encoder.
class ProcessShuffle : public model::KeyBatchShuffle {
 public:
  ProcessShuffle(dist::Group& group, int64_t groups) : group_(group), groups_(groups) {}

  torch::Tensor encode(model::ResNet& encoder, const torch::Tensor& x, Rng& rng) override {
    const int64_t b = x.size(0);
    const int64_t r = group_.rank();
    const bool channels_last = x.is_contiguous(at::MemoryFormat::ChannelsLast) && !x.is_contiguous();
    torch::Tensor all = group_.all_gather(x.contiguous());  // [W B, 3, S, S], rank order
    TORCH_INTERNAL_ASSERT(all.size(0) == b * group_.size(), "key shuffle: ranks hold batches of different sizes");
    // One permutation of the whole batch: every rank draws it from the same stream.
    const torch::Tensor perm = model::shuffle_permutation(all.size(0), rng, x.device());
    torch::Tensor mine = all.index_select(0, perm.slice(0, r * b, (r + 1) * b));
    if (channels_last) mine = mine.contiguous(at::MemoryFormat::ChannelsLast);
    const torch::Tensor out = model::forward_in_groups(encoder, mine, groups_, /*share_formula=*/true).contiguous();
    const torch::Tensor shuffled = group_.all_gather(out);  // row i: image perm[i]
    return torch::empty_like(shuffled).index_copy_(0, perm, shuffled).slice(0, r * b, (r + 1) * b);
  }

 private:
  dist::Group& group_;
  int64_t groups_;
};

}  // namespace

int64_t groups_per_process(int64_t splits, int world_size, const char* flag) {
  if (splits <= world_size) return 1;
  if (splits % world_size != 0) {
    throw UsageError(detail::concat(flag, " ", splits, " must be a multiple of the ", world_size,
                                    " processes (or at most their number)"));
  }
  return splits / world_size;
}

GroupCollectives::GroupCollectives(std::shared_ptr<dist::Group> group, int64_t bucket_bytes)
    : group_(std::move(group)), bucket_bytes_(bucket_bytes) {
  TORCH_INTERNAL_ASSERT(group_ && bucket_bytes_ > 0);
}

std::unique_ptr<model::KeyBatchShuffle> GroupCollectives::key_shuffle(int bn_splits) {
  return std::make_unique<ProcessShuffle>(*group_, groups_per_process(bn_splits, group_->size(), "--bn-splits"));
}

void GroupCollectives::reduce_gradients(const std::vector<torch::Tensor>& parameters) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> bucket;
  int64_t bytes = 0;
  const double scale = 1.0 / group_->size();
  auto flush = [&] {
    if (bucket.empty()) return;
    group_->all_reduce_sum(bucket);
    for (auto& g : bucket) g.mul_(scale);
    bucket.clear();
    bytes = 0;
  };
  for (auto it = parameters.rbegin(); it != parameters.rend(); ++it) {
    torch::Tensor grad = it->grad();
    // A parameter without a gradient on this rank takes part as zeros, so every rank
    // reduces the same buffers (a mismatch would deadlock).
    if (!grad.defined()) {
      it->mutable_grad() = torch::zeros_like(*it);
      grad = it->grad();
    }
    bucket.push_back(grad);
    bytes += static_cast<int64_t>(grad.nbytes());
    if (bytes >= bucket_bytes_) flush();
  }
  flush();
}

void GroupCollectives::broadcast_from_first(const std::vector<torch::Tensor>& tensors) {
  torch::NoGradGuard no_grad;
  for (const auto& t : tensors) {
    torch::Tensor target = t;
    if (target.is_contiguous()) {
      group_->broadcast(target, 0);
    } else {
      torch::Tensor copy = target.contiguous();
      group_->broadcast(copy, 0);
      target.copy_(copy);
    }
  }
}

bool GroupCollectives::any_rank(bool flag) {
  torch::Tensor votes = torch::tensor({flag ? 1.0f : 0.0f});
  group_->all_reduce_sum(votes);
  return votes.item<float>() > 0;
}

void GroupCollectives::sum_over_ranks(std::vector<double>& values) {
  if (values.empty()) return;
  torch::Tensor t = torch::tensor(values, torch::kDouble);
  group_->all_reduce_sum(t);
  for (size_t i = 0; i < values.size(); ++i) values[i] = t[static_cast<int64_t>(i)].item<double>();
}

features::DatasetFeatures GroupCollectives::embed(model::ResNet& encoder, std::shared_ptr<const data::Dataset> dataset,
                                                  const features::ExtractOptions& options) {
  const auto n = static_cast<int64_t>(dataset->size());
  const dist::Shard shard = dist::shard_of(n, group_->rank(), group_->size());
  features::DatasetFeatures mine =
      features::extract_features(encoder, data::row_range(dataset, shard.begin, shard.end), options);
  mine.rows = mine.rows + shard.begin;
  mine.dataset_size = n;
  return mine;
}

features::DatasetFeatures GroupCollectives::gather_features(const features::DatasetFeatures& mine) {
  features::DatasetFeatures all;
  all.features = group_->all_gather_rows(mine.features.contiguous());
  all.labels = group_->all_gather_rows(mine.labels.contiguous());
  all.rows = group_->all_gather_rows(mine.rows.contiguous());
  all.dataset_size = mine.dataset_size;
  all.seconds = mine.seconds;
  return all;
}

cluster::EStepResult GroupCollectives::cluster_features(const features::DatasetFeatures& features,
                                                        const cluster::EStepOptions& options) {
  cluster::EStepResult result = cluster::run_e_step(features.features, options, *group_);
  if (result.levels.empty()) return result;
  // The negative sampler needs the prototype of any row a batch holds: every level's
  // assignments of every rank, with their dataset rows, in one gather of [N_r, M + 1].
  std::vector<torch::Tensor> columns{features.rows.to(torch::kLong).cpu()};
  for (const auto& level : result.levels) columns.push_back(level.assignments.cpu());
  const torch::Tensor gathered = group_->all_gather_rows(torch::stack(columns, 1).contiguous());
  const torch::Tensor rows = gathered.select(1, 0).contiguous();
  for (size_t m = 0; m < result.levels.size(); ++m)
    result.levels[m].assignments = gathered.select(1, static_cast<int64_t>(m) + 1).contiguous();
  cluster::assign_dataset_rows(result, rows, features.dataset_size);
  return result;
}

}  // namespace protoclr::train
