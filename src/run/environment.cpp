#include "protoclr/run/environment.h"

#include <fstream>
#include <string>
#include <thread>

#include <torch/cuda.h>
#include <torch/torch.h>
#include <torch/version.h>

#include "protoclr/core/blas.h"

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

}  // namespace protoclr::run
