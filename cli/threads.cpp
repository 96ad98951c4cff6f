#include <omp.h>

#include <thread>

#include <torch/torch.h>

#include "commands.h"

namespace protoclr::cli {

void set_threads(int threads) {
  // Debian's LibTorch starts with one intra-op thread: always set it explicitly.
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(threads);
  omp_set_num_threads(threads);
}

}  // namespace protoclr::cli
