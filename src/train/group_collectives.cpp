#include "protoclr/train/group_collectives.h"

#include <algorithm>
#include <exception>
#include <optional>
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

GroupCollectives::GroupCollectives(std::shared_ptr<dist::Group> group, int64_t bucket_bytes, bool overlap)
    : group_(std::move(group)), bucket_bytes_(bucket_bytes), overlap_enabled_(overlap) {
  TORCH_INTERNAL_ASSERT(group_ && bucket_bytes_ > 0);
}

std::unique_ptr<model::KeyBatchShuffle> GroupCollectives::key_shuffle(int bn_splits) {
  return std::make_unique<ProcessShuffle>(*group_, groups_per_process(bn_splits, group_->size(), "--bn-splits"));
}

GroupCollectives::~GroupCollectives() = default;

namespace {

/// Parameter indices in buckets: reverse parameter order (the order backward produces the
/// gradients in), a bucket closed once it holds bucket_bytes (DDP's bucketing). Every rank
/// computes the same buckets from the same model.
std::vector<std::vector<size_t>> gradient_buckets(const std::vector<torch::Tensor>& parameters, int64_t bucket_bytes) {
  std::vector<std::vector<size_t>> buckets(1);
  int64_t bytes = 0;
  for (size_t i = parameters.size(); i-- > 0;) {
    buckets.back().push_back(i);
    bytes += static_cast<int64_t>(parameters[i].nbytes());
    if (bytes >= bucket_bytes && i > 0) {
      buckets.emplace_back();
      bytes = 0;
    }
  }
  if (buckets.back().empty()) buckets.pop_back();
  return buckets;
}

}  // namespace

/// DDP's reducer, as far as this step needs it. A hook on each parameter copies its gradient
/// into its bucket's flat buffer as backward produces it; a full bucket's all-reduce begins at
/// once, while backward computes the layers below. Buckets begin strictly in order, the same
/// on every rank: a collective out of order would pair with another rank's different bucket.
/// finish() begins the rest (a parameter backward did not reach takes part as zeros, as in
/// the synchronous path), waits, and writes the mean into each .grad.
///
/// The hooks see the gradient before it is accumulated into .grad, so this expects gradients
/// zeroed before backward (the trainer's step): .grad is then exactly the gradient hooked.
class GroupCollectives::OverlappedGradients {
 public:
  OverlappedGradients(dist::Group& group, std::vector<torch::Tensor> parameters, int64_t bucket_bytes)
      : group_(group), parameters_(std::move(parameters)) {
    const auto buckets = gradient_buckets(parameters_, bucket_bytes);
    bucket_of_.resize(parameters_.size());
    offset_of_.resize(parameters_.size());
    arrived_.assign(parameters_.size(), 0);
    for (size_t b = 0; b < buckets.size(); ++b) {
      Bucket bucket;
      int64_t numel = 0;
      for (size_t i : buckets[b]) {
        bucket_of_[i] = b;
        offset_of_[i] = numel;
        numel += parameters_[i].numel();
      }
      bucket.members = buckets[b];
      const auto& first = parameters_[buckets[b].front()];
      bucket.flat = torch::zeros({numel}, first.options().requires_grad(false));
      buckets_.push_back(std::move(bucket));
    }
    for (size_t i = 0; i < parameters_.size(); ++i) {
      if (!parameters_[i].requires_grad()) continue;
      hooks_.emplace_back(i, parameters_[i].register_hook([this, i](const torch::Tensor& grad) { arrive(i, grad); }));
    }
  }

  ~OverlappedGradients() {
    for (const auto& [i, hook] : hooks_) parameters_[i].remove_hook(hook);
  }

  /// Whether these are the parameters watched (the optimiser's, in its order).
  bool watches(const std::vector<torch::Tensor>& parameters) const {
    if (parameters.size() != parameters_.size()) return false;
    for (size_t i = 0; i < parameters.size(); ++i)
      if (!parameters[i].is_same(parameters_[i])) return false;
    return true;
  }

  void finish() {
    torch::NoGradGuard no_grad;
    if (error_) {
      reset();
      std::rethrow_exception(std::exchange(error_, nullptr));
    }
    for (size_t i = 0; i < parameters_.size(); ++i)
      if (!arrived_[i]) slot(i).zero_();  // not reached this step: zeros, not last step's values
    while (next_to_begin_ < buckets_.size()) begin(next_to_begin_++);
    const double scale = 1.0 / group_.size();
    for (auto& bucket : buckets_) {
      bucket.pending->wait();
      bucket.flat.mul_(scale);
      for (size_t i : bucket.members) {
        torch::Tensor& grad = parameters_[i].mutable_grad();
        if (!grad.defined()) grad = torch::zeros_like(parameters_[i]);
        grad.copy_(slot(i));
      }
    }
    reset();
  }

 private:
  struct Bucket {
    std::vector<size_t> members;
    torch::Tensor flat;
    size_t arrived = 0;
    std::optional<dist::Group::PendingSum> pending;
  };

  torch::Tensor slot(size_t i) {
    const auto& p = parameters_[i];
    return buckets_[bucket_of_[i]].flat.slice(0, offset_of_[i], offset_of_[i] + p.numel()).view(p.sizes());
  }

  /// The hook: runs inside backward (on CUDA, on the autograd engine's device thread). A
  /// failure is kept for finish() rather than thrown through the autograd engine.
  void arrive(size_t i, const torch::Tensor& grad) {
    if (error_) return;
    try {
      torch::NoGradGuard no_grad;
      TORCH_INTERNAL_ASSERT(!arrived_[i], "a gradient arrived twice in one backward (reduce_gradients not called?)");
      arrived_[i] = 1;
      slot(i).copy_(grad);
      Bucket& bucket = buckets_[bucket_of_[i]];
      ++bucket.arrived;
      while (next_to_begin_ < buckets_.size() &&
             buckets_[next_to_begin_].arrived == buckets_[next_to_begin_].members.size())
        begin(next_to_begin_++);
    } catch (...) {
      error_ = std::current_exception();
    }
  }

  void begin(size_t b) { buckets_[b].pending = group_.all_reduce_sum_async(buckets_[b].flat); }

  void reset() {
    for (auto& bucket : buckets_) {
      bucket.pending.reset();  // waits for one still in flight (after a failure)
      bucket.arrived = 0;
    }
    std::fill(arrived_.begin(), arrived_.end(), 0);
    next_to_begin_ = 0;
  }

  dist::Group& group_;
  std::vector<torch::Tensor> parameters_;
  std::vector<std::pair<size_t, unsigned>> hooks_;  ///< parameter, hook id
  std::vector<size_t> bucket_of_;
  std::vector<int64_t> offset_of_;
  std::vector<uint8_t> arrived_;
  std::vector<Bucket> buckets_;
  size_t next_to_begin_ = 0;
  std::exception_ptr error_;
};

void GroupCollectives::watch_gradients(const std::vector<torch::Tensor>& parameters) {
  overlap_.reset();
  if (!overlap_enabled_ || group_->size() == 1 || parameters.empty()) return;
  // One flat buffer per bucket needs one dtype and device in it; else the synchronous path.
  for (const auto& p : parameters)
    if (p.scalar_type() != parameters.front().scalar_type() || p.device() != parameters.front().device()) return;
  overlap_ = std::make_unique<OverlappedGradients>(*group_, parameters, bucket_bytes_);
}

void GroupCollectives::reduce_gradients(const std::vector<torch::Tensor>& parameters) {
  if (overlap_ && overlap_->watches(parameters)) {
    overlap_->finish();
    return;
  }
  torch::NoGradGuard no_grad;
  const double scale = 1.0 / group_->size();
  for (const auto& members : gradient_buckets(parameters, bucket_bytes_)) {
    std::vector<torch::Tensor> bucket;
    for (size_t i : members) {
      torch::Tensor& grad = parameters[i].mutable_grad();
      // A parameter without a gradient on this rank takes part as zeros, so every rank
      // reduces the same buffers (a mismatch would deadlock).
      if (!grad.defined()) grad = torch::zeros_like(parameters[i]);
      bucket.push_back(grad);
    }
    group_->all_reduce_sum(bucket);
    for (auto& g : bucket) g.mul_(scale);
  }
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
