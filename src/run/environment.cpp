#include "protoclr/run/environment.h"

#include <fstream>
#include <string>
#include <thread>

#include <torch/cuda.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <omp.h>

#include "protoclr/core/blas.h"
#include "protoclr/core/log.h"

namespace protoclr::run {

nlohmann::json runtime_environment() {
  std::string cpu;
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; cpu.empty() && std::getline(cpuinfo, line);) {
    if (line.rfind("model name", 0) == 0) cpu = line.substr(line.find(':') + 2);
  }
  return {{"libtorch", TORCH_VERSION},
          {"cuda_devices", torch::cuda::device_count()},
          {"cpu", cpu},
          {"hardware_threads", std::thread::hardware_concurrency()},
          {"intra_op_threads", at::get_num_threads()},
          {"blas", blas::describe()}};
}

void set_threads(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(threads);
  omp_set_num_threads(threads);
  // Generic kernels here mean the start-up hook could not act (no /proc, started via ld.so).
  if (blas::runs_generic_kernels()) log::warn(blas::describe());
  log::debug("threads: ", threads, ", BLAS: ", blas::describe());
}

}  // namespace protoclr::run
