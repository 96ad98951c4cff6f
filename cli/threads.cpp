#include <omp.h>

#include <thread>

#include <torch/torch.h>

#include "commands.h"
#include "protoclr/core/blas.h"
#include "protoclr/core/log.h"

namespace protoclr::cli {

void set_threads(int threads) {
  // Debian's LibTorch starts with one intra-op thread: always set it explicitly.
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(threads);
  omp_set_num_threads(threads);
  // Generic kernels here mean the start-up hook could not act (no /proc, started via ld.so).
  if (blas::runs_generic_kernels()) log::warn(blas::describe());
  log::debug("threads: ", threads, ", BLAS: ", blas::describe());
}

}  // namespace protoclr::cli
