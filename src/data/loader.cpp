#include "protoclr/data/loader.h"

#include <algorithm>
#include <numeric>

#include <torch/torch.h>

#include "protoclr/core/error.h"
#include "protoclr/core/log.h"
#include "protoclr/core/rng.h"
#include "protoclr/data/unreadable.h"

namespace protoclr::data {
namespace {
// Failed decodes are replaced by the next image; give up after this many in a row.
constexpr int kMaxReplacements = 16;
}  // namespace

Loader::Loader(std::shared_ptr<const Dataset> dataset, Augmentation augmentation, LoaderOptions options)
    : dataset_(std::move(dataset)), augmentation_(std::move(augmentation)), options_(options) {
  PROTOCLR_CHECK(dataset_ && dataset_->size() > 0, "the dataset is empty: nothing to load");
  PROTOCLR_CHECK(options_.batch_size > 0, "--batch-size must be positive (got ", options_.batch_size, ")");
  PROTOCLR_CHECK(options_.views >= 1, "views must be >= 1");
  PROTOCLR_CHECK(options_.world_size >= 1 && options_.rank >= 0 && options_.rank < options_.world_size,
                 "rank ", options_.rank, " is outside world size ", options_.world_size);
  if (options_.workers <= 0) options_.workers = std::max(1u, std::thread::hardware_concurrency());
  if (options_.prefetch <= 0) options_.prefetch = 2 * options_.workers;
  PROTOCLR_CHECK(!options_.drop_last || samples_per_epoch() >= options_.batch_size,
                 "--batch-size ", options_.batch_size, " is larger than the ", samples_per_epoch(),
                 " images of this dataset shard (lower --batch-size or use more data)");
}

Loader::~Loader() { stop(); }

int64_t Loader::samples_per_epoch() const {
  const int64_t n = static_cast<int64_t>(dataset_->size());
  // DistributedSampler's count: the epoch padded to a multiple of world_size, shared evenly.
  return (n + options_.world_size - 1) / options_.world_size;
}

int64_t Loader::batches_per_epoch() const {
  const int64_t n = samples_per_epoch();
  return options_.drop_last ? n / options_.batch_size : (n + options_.batch_size - 1) / options_.batch_size;
}

std::vector<int64_t> Loader::epoch_order(int64_t epoch) const {
  const int64_t n = static_cast<int64_t>(dataset_->size());
  std::vector<int64_t> all(n);
  std::iota(all.begin(), all.end(), 0);
  if (options_.shuffle) {
    Rng rng(stream_seed(options_.seed, 0x5348554646ULL /*"SHUFF"*/, epoch));
    for (int64_t i = n - 1; i > 0; --i) std::swap(all[i], all[uniform_index(rng, i + 1)]);
  }
  const int64_t per_rank = samples_per_epoch();
  const int64_t padded = per_rank * options_.world_size;
  for (int64_t i = n; i < padded; ++i) all.push_back(all[i - n]);
  if (options_.world_size == 1) return all;
  // Rank r's batch j is the r-th slice of batch j of one process with batch world_size *
  // batch_size (a last, smaller batch is sliced the same way). So W processes of batch B
  // see the images, in the order, of one process of batch W B: the two train alike
  // (with --bn-splits W), and a run resumes at the same step with another process count.
  const int64_t w = options_.world_size;
  std::vector<int64_t> mine;
  mine.reserve(per_rank);
  for (int64_t start = 0; start < per_rank; start += options_.batch_size) {
    const int64_t rows = std::min<int64_t>(options_.batch_size, per_rank - start);
    const int64_t first = start * w + options_.rank * rows;
    mine.insert(mine.end(), all.begin() + first, all.begin() + first + rows);
  }
  return mine;
}

void Loader::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  space_cv_.notify_all();
  ready_cv_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
  std::lock_guard<std::mutex> lock(mutex_);
  stopping_ = false;
  ready_.clear();
  error_ = nullptr;
}

void Loader::set_excluded(std::vector<uint8_t> excluded) {
  PROTOCLR_CHECK(excluded.empty() || excluded.size() == dataset_->size(), "Loader::set_excluded: ", excluded.size(),
                 " flags for a dataset of ", dataset_->size(), " images");
  stop();
  if (std::find(excluded.begin(), excluded.end(), 1) == excluded.end()) excluded.clear();
  PROTOCLR_CHECK(excluded.empty() || std::find(excluded.begin(), excluded.end(), 0) != excluded.end(),
                 "every image of the dataset is excluded as unreadable (run `protoclr data inspect`)");
  excluded_ = std::move(excluded);
}

void Loader::start_epoch(int64_t epoch, int64_t first_batch) {
  stop();
  epoch_ = epoch;
  order_ = epoch_order(epoch);
  num_batches_ = batches_per_epoch();
  PROTOCLR_CHECK(first_batch >= 0 && first_batch <= num_batches_, "batch ", first_batch,
                 " is outside the epoch's ", num_batches_, " batches (a checkpoint of another --batch-size or data?)");
  next_to_make_ = first_batch;
  next_to_deliver_ = first_batch;
  for (int w = 0; w < options_.workers; ++w) threads_.emplace_back([this] { worker_loop(); });
}

void Loader::worker_loop() {
  // Torch ops inside the workers (tensor allocation) must not spawn their own pools.
  torch::set_num_threads(1);
  while (true) {
    int64_t b;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      space_cv_.wait(lock, [&] {
        return stopping_ || next_to_make_ >= num_batches_ || next_to_make_ < next_to_deliver_ + options_.prefetch;
      });
      if (stopping_ || next_to_make_ >= num_batches_) return;
      b = next_to_make_++;
    }
    try {
      Batch batch = make_batch(b);
      std::lock_guard<std::mutex> lock(mutex_);
      ready_.emplace(b, std::move(batch));
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
    ready_cv_.notify_all();
  }
}

std::optional<Batch> Loader::next() {
  std::unique_lock<std::mutex> lock(mutex_);
  if (threads_.empty() || next_to_deliver_ >= num_batches_) return std::nullopt;
  ready_cv_.wait(lock, [&] { return error_ || ready_.count(next_to_deliver_); });
  if (error_) {
    auto e = error_;
    lock.unlock();
    stop();
    std::rethrow_exception(e);
  }
  auto it = ready_.find(next_to_deliver_);
  Batch batch = std::move(it->second);
  ready_.erase(it);
  ++next_to_deliver_;
  lock.unlock();
  space_cv_.notify_all();
  return batch;
}

Batch Loader::make_batch(int64_t b) {
  const int64_t begin = b * options_.batch_size;
  const int64_t end = std::min<int64_t>(begin + options_.batch_size, static_cast<int64_t>(order_.size()));
  const int64_t rows = end - begin;
  const int64_t size = augmentation_.options().image_size;
  Batch batch;
  const auto view_options = torch::TensorOptions()
                                .dtype(options_.uint8_views ? torch::kByte : torch::kFloat)
                                .pinned_memory(options_.pin_memory)
                                .memory_format(options_.channels_last ? at::MemoryFormat::ChannelsLast
                                                                      : at::MemoryFormat::Contiguous);
  for (int v = 0; v < options_.views; ++v) batch.views.push_back(torch::empty({rows, 3, size, size}, view_options));
  batch.index = torch::empty({rows}, torch::TensorOptions().dtype(torch::kLong).pinned_memory(options_.pin_memory));
  batch.label = torch::empty({rows}, torch::kLong);
  batch.valid = torch::ones({rows}, torch::kBool);
  for (int64_t r = 0; r < rows; ++r) fill_sample(batch, r, order_[begin + r]);
  return batch;
}

void Loader::fill_sample(Batch& batch, int64_t row, int64_t sample) {
  const int64_t n = static_cast<int64_t>(dataset_->size());
  const auto excluded = [&](int64_t i) { return !excluded_.empty() && excluded_[static_cast<size_t>(i)] != 0; };
  int64_t source = sample;
  std::vector<cv::Mat> views;
  bool valid = true;
  for (int attempt = 0;; ++attempt) {
    if (excluded(source)) {  // known unreadable: replaced without a decode, already reported
      source = (source + 1) % n;
      continue;  // set_excluded keeps at least one row, so this ends
    }
    try {
      // The seed depends on the image actually used, so a replacement is reproducible too.
      Rng rng(stream_seed(options_.seed, epoch_, source));
      views = augmentation_.views(*dataset_, static_cast<size_t>(source), options_.views, rng);
      break;
    } catch (const Error& e) {
      ++failed_;
      report_unreadable(dataset_->name(static_cast<size_t>(source)), e.what());
      if (!options_.replace_failed) {
        valid = false;
        break;
      }
      PROTOCLR_CHECK(attempt + 1 < kMaxReplacements, kMaxReplacements,
                     " images in a row failed to decode near '", dataset_->name(sample),
                     "' (run `protoclr data inspect` on the dataset)");
      source = (source + 1) % n;
    }
  }
  const int64_t size = augmentation_.options().image_size;
  const int64_t pixels = 3 * size * size;
  for (int v = 0; v < options_.views; ++v) {
    if (!valid) {
      batch.views[v][row].zero_();
    } else if (options_.uint8_views) {
      to_uint8(views[v], batch.views[v].data_ptr<uint8_t>() + row * pixels, options_.channels_last);
    } else {
      to_normalized_float(views[v], batch.views[v].data_ptr<float>() + row * pixels, options_.channels_last);
    }
  }
  batch.index.data_ptr<int64_t>()[row] = source;
  batch.label.data_ptr<int64_t>()[row] = dataset_->label(static_cast<size_t>(source));
  batch.valid.data_ptr<bool>()[row] = valid;
}

LoaderOptions single_view_options(int64_t batch_size, int workers, bool shuffle, bool channels_last, uint64_t seed) {
  LoaderOptions o;
  o.batch_size = batch_size;
  o.workers = workers;
  o.views = 1;
  o.shuffle = shuffle;
  o.drop_last = false;
  o.channels_last = channels_last;
  o.seed = seed;
  return o;
}

}  // namespace protoclr::data
