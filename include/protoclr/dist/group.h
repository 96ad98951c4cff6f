#pragma once
/// Several processes working as one: a thin layer over LibTorch's c10d process groups
/// (ProcessGroupGloo on the CPU, ProcessGroupNCCL on CUDA), the collectives the data-parallel
/// step and the sharded E-step need, and the bytes each one sends. c10d does the
/// communication; this layer picks the backend, names the failing operation and rank in one
/// line, and makes a group of one process free (every collective a no-op, no socket opened).
/// The published PCL code does the same through torch.distributed (init_process_group,
/// all_reduce, all_gather, broadcast).
#include <torch/torch.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace protoclr::dist {

/// Which c10d backend a group runs on.
enum class Backend {
  kGloo,  ///< ProcessGroupGloo: CPU tensors, TCP (where LibTorch was built with Gloo)
  kNccl,  ///< ProcessGroupNCCL: CUDA tensors (where LibTorch was built with NCCL)
};

/// Whether this build of protoclr (and the LibTorch it was compiled against) has the backend.
bool backend_available(Backend backend);
/// "gloo" or "nccl".
const char* backend_name(Backend backend);

/// Bytes this rank sent through the group's collectives, per kind. A collective's count is
/// what a ring algorithm sends from one rank (all-reduce 2 (W-1)/W of the buffer, all-gather
/// (W-1)/W of the output, broadcast the buffer from the root): the payload, not c10d's framing.
struct Traffic {
  uint64_t all_reduce_bytes = 0;
  uint64_t all_gather_bytes = 0;
  uint64_t broadcast_bytes = 0;
  uint64_t calls = 0;
  uint64_t total() const { return all_reduce_bytes + all_gather_bytes + broadcast_bytes; }
};

/// How a group connects.
struct GroupOptions {
  Backend backend = Backend::kGloo;
  /// The longest any rendezvous or collective may wait for the other ranks before it fails,
  /// naming the operation (a rank that dies fails its peers' next collective at once, as its
  /// sockets close; this bounds a rank that hangs or never arrives).
  std::chrono::milliseconds timeout{60'000};
  /// The address Gloo listens on: loopback for ranks on one machine; empty for this
  /// machine's hostname (ranks on several machines). GLOO_SOCKET_IFNAME, if set, names the
  /// network interface instead, as in PyTorch. connect() sets it from MASTER_ADDR.
  std::string gloo_host = "127.0.0.1";
  /// The CUDA device of an NCCL group (LOCAL_RANK; connect() sets it).
  int device_index = 0;
};

/// Where this process sits in a job: the variables torchrun (and `protoclr train
/// --nproc-per-node`) set.
struct LaunchInfo {
  int rank = 0;                           ///< RANK
  int world_size = 1;                     ///< WORLD_SIZE
  int local_rank = 0;                     ///< LOCAL_RANK: the GPU this process uses
  int local_world_size = 1;               ///< LOCAL_WORLD_SIZE: processes on this machine
  std::string master_addr = "127.0.0.1";  ///< MASTER_ADDR: the host of rank 0 (the store)
  int master_port = 29500;                ///< MASTER_PORT
  bool distributed() const { return world_size > 1; }
  /// Reads the variables; none set means one process. A malformed or inconsistent value
  /// (RANK >= WORLD_SIZE, a port outside 1..65535) throws UsageError naming the variable.
  static LaunchInfo from_environment();
};

/// A group of processes, each holding one Group with the same size. All ranks must call the
/// same collectives in the same order with tensors of the same shape and dtype (as in
/// torch.distributed). Collectives are synchronous: they return when the result is in place.
/// A failure (a peer gone, a timeout) throws protoclr::Error naming this rank, the operation
/// and what c10d reported.
class Group {
 public:
  /// One process: rank 0 of 1, every collective a no-op.
  Group();
  ~Group();
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;

  /// Joins the job `launch` describes: rank 0 hosts a c10d TCPStore at master_addr:port, the
  /// others connect to it (retrying until options.timeout), then the backend's group forms.
  /// A world of one returns Group() without opening a socket.
  static std::shared_ptr<Group> connect(const LaunchInfo& launch, const GroupOptions& options = {});
  /// A group on a store made elsewhere (tests: a c10d HashStore shared by threads). `store`
  /// is a c10::intrusive_ptr<c10d::Store>, passed opaquely so this header needs no c10d.
  struct StoreHandle;
  static std::shared_ptr<Group> on_store(const std::shared_ptr<StoreHandle>& store, int rank, int size,
                                         const GroupOptions& options = {});
  /// An in-memory store (c10d HashStore) that threads of one process can share: tests.
  static std::shared_ptr<StoreHandle> in_memory_store();

  int rank() const { return rank_; }
  int size() const { return size_; }
  Backend backend() const { return options_.backend; }
  bool distributed() const { return size_ > 1; }

  /// A collective begun and not yet finished: its result is in place once wait() returns.
  /// Destroying one unfinished waits for it (ignoring its failure), so c10d never writes
  /// into a freed buffer.
  class PendingSum {
   public:
    PendingSum(PendingSum&&) noexcept;
    PendingSum& operator=(PendingSum&&) noexcept;
    ~PendingSum();
    /// Returns when the sum is in place; a failure throws as the synchronous call would.
    void wait();

   private:
    friend class Group;
    struct State;
    explicit PendingSum(std::unique_ptr<State> state);
    std::unique_ptr<State> state_;
  };

  /// Sum over ranks, in place. The tensor must be contiguous (and on the backend's device).
  void all_reduce_sum(torch::Tensor& tensor);
  /// all_reduce_sum begun in the background: the caller computes on while c10d's threads
  /// (or NCCL's stream) reduce, and must not touch `tensor` until wait() (a gradient bucket
  /// reduced while backward produces the next, as DDP overlaps them).
  PendingSum all_reduce_sum_async(torch::Tensor& tensor);
  /// Sum over ranks of several tensors in one collective (flattened into one buffer of their
  /// common dtype and back): a gradient bucket.
  void all_reduce_sum(std::vector<torch::Tensor>& tensors);
  /// root's tensor to every rank, in place.
  void broadcast(torch::Tensor& tensor, int root = 0);
  /// Every rank's tensor (all of one shape), concatenated along dim 0 in rank order.
  torch::Tensor all_gather(const torch::Tensor& tensor);
  /// Every rank's rows concatenated in rank order, when ranks hold different row counts
  /// (dims after the first equal): counts are exchanged, rows padded to the largest.
  torch::Tensor all_gather_rows(const torch::Tensor& tensor);
  /// Every rank's value of one integer, in rank order.
  std::vector<int64_t> all_gather_value(int64_t value);
  /// Returns when every rank has called it.
  void barrier();

  const Traffic& traffic() const { return traffic_; }

 private:
  struct Impl;
  Group(std::unique_ptr<Impl> impl, int rank, int size, GroupOptions options);
  [[noreturn]] void fail(const char* operation, const std::exception& error) const;
  /// After a failed collective: which peers stopped (their heartbeats in the store stood
  /// still), rank 0 gone (the store with it), or all alive (a timeout).
  std::string diagnosis() const;

  std::unique_ptr<Impl> impl_;
  int rank_ = 0;
  int size_ = 1;
  GroupOptions options_;
  Traffic traffic_;
};

/// Rows [begin, end) of an n-row dataset that rank `rank` of `size` holds: contiguous,
/// balanced shards (the first n % size ranks one row more), in rank order.
struct Shard {
  int64_t begin = 0;
  int64_t end = 0;
  int64_t size() const { return end - begin; }
};
Shard shard_of(int64_t n, int rank, int size);

}  // namespace protoclr::dist
