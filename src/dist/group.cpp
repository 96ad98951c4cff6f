#include "protoclr/dist/group.h"

#include <torch/csrc/distributed/c10d/HashStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/version.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

// Gloo: where its headers exist (Debian's libgloo-dev beside Debian's LibTorch; PyTorch 2.x's
// pip LibTorch builds Gloo in but ships none of its headers).
#if __has_include(<gloo/config.h>)
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#define PROTOCLR_HAVE_GLOO 1
#else
#define PROTOCLR_HAVE_GLOO 0
#endif
// NCCL: where LibTorch was built with it and nccl.h is on the include path.
#if defined(USE_C10D_NCCL) && __has_include(<nccl.h>)
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#define PROTOCLR_HAVE_NCCL 1
#else
#define PROTOCLR_HAVE_NCCL 0
#endif

#include "protoclr/core/error.h"

namespace protoclr::dist {
namespace {

// LibTorch 2.x split the process group into a dispatching front (ProcessGroup) and the
// backends that do the work (ProcessGroupGloo/NCCL derive from Backend); in 1.13 the
// backends are ProcessGroups. The collectives used here have one signature in both.
#if TORCH_VERSION_MAJOR >= 2
using BackendGroup = c10d::Backend;
#else
using BackendGroup = c10d::ProcessGroup;
#endif
/// A collective in flight: c10::intrusive_ptr to 1.13's ProcessGroup::Work, 2.x's c10d::Work.
using WorkHandle = decltype(std::declval<BackendGroup&>().allreduce(std::declval<std::vector<at::Tensor>&>()));

/// The first line of a c10 error without its C++ backtrace, or what() of another exception.
std::string first_line(const std::exception& error) {
  std::string text;
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&error)) {
    text = c10_error->what_without_backtrace();
  } else {
    text = error.what();
  }
  const auto newline = text.find('\n');
  return newline == std::string::npos ? text : text.substr(0, newline);
}

int read_int(const char* name, int fallback, int lowest, int highest) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return fallback;
  char* end = nullptr;
  errno = 0;
  const long parsed = std::strtol(value, &end, 10);
  if (errno != 0 || end == value || *end != '\0' || parsed < lowest || parsed > highest) {
    throw UsageError(detail::concat("environment variable ", name, "=", value, ": expected an integer in [",
                                    lowest, ", ", highest, "]"));
  }
  return static_cast<int>(parsed);
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1";
}

std::string arrival_key(int rank) { return "protoclr/arrived/" + std::to_string(rank); }
std::string heartbeat_key(int rank) { return "protoclr/heartbeat/" + std::to_string(rank); }

/// "rank 1" or "ranks 1, 3".
std::string ranks_text(const std::vector<int>& ranks) {
  std::string text = ranks.size() == 1 ? "rank " : "ranks ";
  for (size_t i = 0; i < ranks.size(); ++i) text += (i > 0 ? ", " : "") + std::to_string(ranks[i]);
  return text;
}

double seconds(std::chrono::milliseconds timeout) { return static_cast<double>(timeout.count()) / 1000.0; }

/// Each rank marks its arrival in the store, then waits for every other's: a rank that never
/// starts is named (c10d's own rendezvous would time out without saying which).
void await_every_rank(c10d::Store& store, int rank, int size, std::chrono::milliseconds timeout) {
  store.add(arrival_key(rank), 1);
  std::vector<std::string> keys;
  for (int r = 0; r < size; ++r) keys.push_back(arrival_key(r));
  try {
    store.wait(keys, timeout);
  } catch (const std::exception& error) {
    std::vector<int> missing;
    for (int r = 0; r < size; ++r)
      if (!store.check({arrival_key(r)})) missing.push_back(r);
    if (missing.empty()) throw;
    throw Error(detail::concat("rank ", rank, " of ", size, ": ", ranks_text(missing), " did not arrive within ",
                               seconds(timeout), " s (did ", missing.size() == 1 ? "it" : "they",
                               " start, with the same WORLD_SIZE, MASTER_ADDR and MASTER_PORT? --dist-timeout sets the wait)"));
  }
}

/// Each rank bumps its counter in the store once a second from a thread of its own, so a
/// rank whose collective fails can tell which peers went silent (Group::diagnosis): the
/// message names the rank that died even when no launcher of ours watches the processes.
class Heartbeat {
 public:
  static constexpr std::chrono::milliseconds kInterval{1000};

  Heartbeat(c10::intrusive_ptr<c10d::Store> store, int rank) : store_(std::move(store)), key_(heartbeat_key(rank)) {
    thread_ = std::thread([this] { beat(); });
  }
  ~Heartbeat() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  Heartbeat(const Heartbeat&) = delete;
  Heartbeat& operator=(const Heartbeat&) = delete;

 private:
  void beat() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stop_) {
      lock.unlock();
      try {
        store_->add(key_, 1);
      } catch (const std::exception&) {
        return;  // the store is gone (rank 0 ended): there is no one left to tell
      }
      lock.lock();
      wake_.wait_for(lock, kInterval, [this] { return stop_; });
    }
  }

  c10::intrusive_ptr<c10d::Store> store_;
  std::string key_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace

struct Group::StoreHandle {
  c10::intrusive_ptr<c10d::Store> store;
};

struct Group::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<BackendGroup> group;
  torch::Device device{torch::kCPU};  ///< where the backend wants tensors
  std::unique_ptr<Heartbeat> heartbeat;
};

bool backend_available(Backend backend) {
  return backend == Backend::kGloo ? PROTOCLR_HAVE_GLOO : PROTOCLR_HAVE_NCCL;
}

const char* backend_name(Backend backend) { return backend == Backend::kGloo ? "gloo" : "nccl"; }

LaunchInfo LaunchInfo::from_environment() {
  LaunchInfo info;
  info.world_size = read_int("WORLD_SIZE", 1, 1, 1 << 20);
  info.rank = read_int("RANK", 0, 0, info.world_size - 1);
  info.local_rank = read_int("LOCAL_RANK", 0, 0, info.world_size - 1);
  info.local_world_size = read_int("LOCAL_WORLD_SIZE", info.world_size, 1, info.world_size);
  info.master_port = read_int("MASTER_PORT", info.master_port, 1, 65535);
  if (const char* addr = std::getenv("MASTER_ADDR"); addr != nullptr && *addr != '\0') info.master_addr = addr;
  return info;
}

Shard shard_of(int64_t n, int rank, int size) {
  TORCH_INTERNAL_ASSERT(size >= 1 && rank >= 0 && rank < size && n >= 0);
  const int64_t base = n / size;
  const int64_t extra = n % size;
  Shard shard;
  shard.begin = rank * base + std::min<int64_t>(rank, extra);
  shard.end = shard.begin + base + (rank < extra ? 1 : 0);
  return shard;
}

Group::Group() = default;
Group::~Group() = default;

Group::Group(std::unique_ptr<Impl> impl, int rank, int size, GroupOptions options)
    : impl_(std::move(impl)), rank_(rank), size_(size), options_(options) {}

std::shared_ptr<Group::StoreHandle> Group::in_memory_store() {
  auto handle = std::make_shared<StoreHandle>();
  handle->store = c10::make_intrusive<c10d::HashStore>();
  return handle;
}

std::shared_ptr<Group> Group::on_store(const std::shared_ptr<StoreHandle>& store, int rank, int size,
                                       const GroupOptions& options) {
  PROTOCLR_CHECK(size >= 1 && rank >= 0 && rank < size, "process group: rank ", rank, " of ", size,
                 " is outside [0, size)");
  if (size == 1) return std::shared_ptr<Group>(new Group());
  PROTOCLR_CHECK(backend_available(options.backend), "process group: this build of protoclr has no ",
                 backend_name(options.backend), " backend (",
                 options.backend == Backend::kGloo ? "install libgloo-dev and rebuild"
                                                   : "build against a CUDA LibTorch with NCCL",
                 ")");
  auto impl = std::make_unique<Impl>();
  impl->store = store->store;
  impl->store->setTimeout(options.timeout);
  await_every_rank(*impl->store, rank, size, options.timeout);
  try {
    if (options.backend == Backend::kGloo) {
#if PROTOCLR_HAVE_GLOO
      auto gloo_options = c10d::ProcessGroupGloo::Options::create(options.timeout);
      const char* interface = std::getenv("GLOO_SOCKET_IFNAME");
      if (interface != nullptr && *interface != '\0') {
        gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(interface));
      } else if (!options.gloo_host.empty()) {
        gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(options.gloo_host));
      } else {
        gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      }
      impl->group = c10::make_intrusive<c10d::ProcessGroupGloo>(impl->store, rank, size, gloo_options);
#endif
    } else {
#if PROTOCLR_HAVE_NCCL
      auto nccl_options = c10d::ProcessGroupNCCL::Options::create();
      nccl_options->timeout = options.timeout;
      impl->group = c10::make_intrusive<c10d::ProcessGroupNCCL>(impl->store, rank, size, nccl_options);
      impl->device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(options.device_index));
#endif
    }
  } catch (const std::exception& error) {
    throw Error(detail::concat("rank ", rank, " of ", size, ": forming the ", backend_name(options.backend),
                               " process group failed: ", first_line(error),
                               " (did every rank start? the wait is bounded by --dist-timeout)"));
  }
  impl->heartbeat = std::make_unique<Heartbeat>(impl->store, rank);
  return std::shared_ptr<Group>(new Group(std::move(impl), rank, size, options));
}

std::shared_ptr<Group> Group::connect(const LaunchInfo& launch, const GroupOptions& options) {
  if (!launch.distributed()) return std::shared_ptr<Group>(new Group());
  c10d::TCPStoreOptions store_options;
  store_options.port = static_cast<std::uint16_t>(launch.master_port);
  store_options.isServer = launch.rank == 0;
  store_options.numWorkers = static_cast<std::size_t>(launch.world_size);
  store_options.waitWorkers = false;  // await_every_rank waits, and names a rank that never comes
  store_options.timeout = options.timeout;
  auto handle = std::make_shared<StoreHandle>();
  try {
    handle->store = c10::make_intrusive<c10d::TCPStore>(launch.master_addr, store_options);
  } catch (const std::exception& error) {
    throw Error(detail::concat("rank ", launch.rank, " of ", launch.world_size, ": rendezvous at ",
                               launch.master_addr, ":", launch.master_port, " failed: ", first_line(error),
                               launch.rank == 0 ? " (is the port free, and did every rank start?)"
                                                : " (is rank 0 running, and MASTER_ADDR/MASTER_PORT right?)"));
  }
  GroupOptions joined = options;
  if (!is_loopback(launch.master_addr)) joined.gloo_host.clear();
  joined.device_index = launch.local_rank;
  return on_store(handle, launch.rank, launch.world_size, joined);
}

void Group::fail(const char* operation, const std::exception& error) const {
  throw Error(detail::concat("rank ", rank_, " of ", size_, ": ", operation, " failed: ", first_line(error), " (",
                             diagnosis(), ")"));
}

std::string Group::diagnosis() const {
  const double timeout = seconds(options_.timeout);
  try {
    // The peers' heartbeats now and a few beats later: those that did not move are gone.
    std::vector<int64_t> before(static_cast<size_t>(size_));
    for (int r = 0; r < size_; ++r)
      if (r != rank_) before[r] = impl_->store->add(heartbeat_key(r), 0);
    std::this_thread::sleep_for(Heartbeat::kInterval * 7 / 2);
    std::vector<int> silent;
    for (int r = 0; r < size_; ++r)
      if (r != rank_ && impl_->store->add(heartbeat_key(r), 0) == before[r]) silent.push_back(r);
    if (!silent.empty())
      return detail::concat(ranks_text(silent), " stopped: see ", silent.size() == 1 ? "its" : "their", " log");
    return detail::concat("every other rank is still running: one is stuck or slower than the ", timeout,
                          " s --dist-timeout allows");
  } catch (const std::exception&) {
    if (rank_ != 0) return "rank 0, which hosts the rendezvous store, stopped: see its log";
    return detail::concat("another rank stopped, see its log, or did not arrive within ", timeout, " s");
  }
}

struct Group::PendingSum::State {
  const Group* group = nullptr;
  WorkHandle work;
  torch::Tensor staged;  ///< the backend's copy, when `target` lives on another device
  torch::Tensor target;
  bool finished = false;
};

Group::PendingSum::PendingSum(std::unique_ptr<State> state) : state_(std::move(state)) {}
Group::PendingSum::PendingSum(PendingSum&&) noexcept = default;
Group::PendingSum& Group::PendingSum::operator=(PendingSum&& other) noexcept {
  if (this != &other) {
    if (state_ && !state_->finished && state_->work) state_->work->wait(state_->group->options_.timeout);
    state_ = std::move(other.state_);
  }
  return *this;
}

Group::PendingSum::~PendingSum() {
  if (!state_ || state_->finished || !state_->work) return;
  try {
    state_->work->wait(state_->group->options_.timeout);
  } catch (...) {  // unwinding from another failure: the first one is the one to report
  }
}

void Group::PendingSum::wait() {
  if (!state_ || state_->finished) return;
  state_->finished = true;
  if (!state_->work) return;  // a group of one
  try {
    state_->work->wait(state_->group->options_.timeout);
  } catch (const std::exception& error) {
    state_->group->fail("all_reduce", error);
  }
  if (state_->staged.defined()) state_->target.copy_(state_->staged);
}

Group::PendingSum Group::all_reduce_sum_async(torch::Tensor& tensor) {
  auto state = std::make_unique<PendingSum::State>();
  state->group = this;
  if (size_ == 1) return PendingSum(std::move(state));
  TORCH_INTERNAL_ASSERT(tensor.is_contiguous(), "all_reduce_sum needs a contiguous tensor");
  std::vector<torch::Tensor> buffers{tensor};
  if (tensor.device() != impl_->device) {
    state->staged = tensor.to(impl_->device);
    state->target = tensor;
    buffers[0] = state->staged;
  }
  try {
    state->work = impl_->group->allreduce(buffers);
  } catch (const std::exception& error) {
    fail("all_reduce", error);
  }
  traffic_.all_reduce_bytes += static_cast<uint64_t>(2.0 * (size_ - 1) / size_ * tensor.nbytes());
  ++traffic_.calls;
  return PendingSum(std::move(state));
}

void Group::all_reduce_sum(torch::Tensor& tensor) { all_reduce_sum_async(tensor).wait(); }

void Group::all_reduce_sum(std::vector<torch::Tensor>& tensors) {
  if (size_ == 1 || tensors.empty()) return;
  std::vector<torch::Tensor> flat;
  flat.reserve(tensors.size());
  for (const auto& t : tensors) flat.push_back(t.reshape({-1}));
  torch::Tensor bucket = torch::cat(flat);
  all_reduce_sum(bucket);
  int64_t offset = 0;
  for (auto& t : tensors) {  // back into each tensor, whatever its strides (channels-last grads)
    const int64_t n = t.numel();
    t.copy_(bucket.slice(0, offset, offset + n).view(t.sizes()));
    offset += n;
  }
}

void Group::broadcast(torch::Tensor& tensor, int root) {
  if (size_ == 1) return;
  TORCH_INTERNAL_ASSERT(tensor.is_contiguous() && root >= 0 && root < size_);
  const bool staged = tensor.device() != impl_->device;
  std::vector<torch::Tensor> buffers{staged ? tensor.to(impl_->device) : tensor};
  c10d::BroadcastOptions opts;
  opts.rootRank = root;
  try {
    impl_->group->broadcast(buffers, opts)->wait(options_.timeout);
  } catch (const std::exception& error) {
    fail("broadcast", error);
  }
  if (staged) tensor.copy_(buffers[0]);
  if (rank_ == root) traffic_.broadcast_bytes += tensor.nbytes();
  ++traffic_.calls;
}

torch::Tensor Group::all_gather(const torch::Tensor& tensor) {
  if (size_ == 1) return tensor.clone();
  std::vector<torch::Tensor> inputs{tensor.to(impl_->device).contiguous()};
  std::vector<std::vector<torch::Tensor>> outputs(1);
  for (int r = 0; r < size_; ++r) outputs[0].push_back(torch::empty_like(inputs[0]));
  try {
    impl_->group->allgather(outputs, inputs)->wait(options_.timeout);
  } catch (const std::exception& error) {
    fail("all_gather", error);
  }
  traffic_.all_gather_bytes += static_cast<uint64_t>(size_ - 1) * inputs[0].nbytes();
  ++traffic_.calls;
  return torch::cat(outputs[0]).to(tensor.device());
}

std::vector<int64_t> Group::all_gather_value(int64_t value) {
  const torch::Tensor all = all_gather(torch::tensor({value}, torch::kLong)).cpu();
  return std::vector<int64_t>(all.data_ptr<int64_t>(), all.data_ptr<int64_t>() + all.numel());
}

torch::Tensor Group::all_gather_rows(const torch::Tensor& tensor) {
  if (size_ == 1) return tensor.clone();
  TORCH_INTERNAL_ASSERT(tensor.dim() >= 1);
  const std::vector<int64_t> rows = all_gather_value(tensor.size(0));
  const int64_t most = *std::max_element(rows.begin(), rows.end());
  torch::Tensor padded = tensor;
  if (tensor.size(0) < most) {
    std::vector<int64_t> shape = tensor.sizes().vec();
    shape[0] = most - tensor.size(0);
    padded = torch::cat({tensor, torch::zeros(shape, tensor.options())});
  }
  const torch::Tensor gathered = all_gather(padded);
  std::vector<torch::Tensor> parts;
  for (int r = 0; r < size_; ++r) parts.push_back(gathered.slice(0, r * most, r * most + rows[r]));
  return torch::cat(parts);
}

void Group::barrier() {
  if (size_ == 1) return;
  try {
    impl_->group->barrier()->wait(options_.timeout);
  } catch (const std::exception& error) {
    fail("barrier", error);
  }
  ++traffic_.calls;
}

}  // namespace protoclr::dist
