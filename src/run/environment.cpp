#include "protoclr/run/environment.h"

#include <dlfcn.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <ATen/detail/CUDAHooksInterface.h>
#include <torch/cuda.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <omp.h>

#include "protoclr/core/blas.h"
#include "protoclr/core/log.h"

namespace protoclr::run {
namespace {

/// "13.0" from CUDART_VERSION / cuDriverGetVersion's 1000 * major + 10 * minor.
std::string cuda_version_text(long v) { return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10); }

/// "9.10.2" from CUDNN_VERSION: 10000 * major + 100 * minor + patch from cuDNN 9 on,
/// 1000 * major + 100 * minor + patch before.
std::string cudnn_version_text(long v) {
  const long major_unit = v >= 10000 ? 10000 : 1000;
  return std::to_string(v / major_unit) + "." + std::to_string(v % major_unit / 100) + "." + std::to_string(v % 100);
}

/// Adds "cuda_driver" and "gpus" (["NVIDIA H200, sm_90, 139.8 GiB", ...]) from the CUDA driver
/// API, opened at run time: neither LibTorch's C++ API nor at::detail::getCUDAHooks() names
/// the devices without CUDA's own headers, which a CPU build lacks.
void add_cuda_devices(nlohmann::json& environment, int count) {
  // Never closed: LibTorch holds the driver loaded anyway once CUDA is initialised.
  void* driver = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
  if (!driver) return;
  // CUresult is an enum (0 = CUDA_SUCCESS) and CUdevice an int, in every CUDA version.
  const auto init = reinterpret_cast<int (*)(unsigned)>(dlsym(driver, "cuInit"));
  const auto driver_version = reinterpret_cast<int (*)(int*)>(dlsym(driver, "cuDriverGetVersion"));
  const auto name = reinterpret_cast<int (*)(char*, int, int)>(dlsym(driver, "cuDeviceGetName"));
  const auto memory = reinterpret_cast<int (*)(size_t*, int)>(dlsym(driver, "cuDeviceTotalMem_v2"));
  const auto attribute = reinterpret_cast<int (*)(int*, int, int)>(dlsym(driver, "cuDeviceGetAttribute"));
  if (!init || !name || init(0) != 0) return;
  int version = 0;
  if (driver_version && driver_version(&version) == 0) environment["cuda_driver"] = cuda_version_text(version);
  constexpr int kComputeCapabilityMajor = 75, kComputeCapabilityMinor = 76;  // CUdevice_attribute
  auto gpus = nlohmann::json::array();
  for (int i = 0; i < count; ++i) {
    char text[256] = {};
    if (name(text, sizeof(text), i) != 0) continue;
    std::string gpu = text;
    int major = 0, minor = 0;
    if (attribute && attribute(&major, kComputeCapabilityMajor, i) == 0 &&
        attribute(&minor, kComputeCapabilityMinor, i) == 0)
      gpu += ", sm_" + std::to_string(major) + std::to_string(minor);
    size_t bytes = 0;
    if (memory && memory(&bytes, i) == 0) {
      char gib[32];
      std::snprintf(gib, sizeof(gib), ", %.1f GiB", static_cast<double>(bytes) / (1 << 30));
      gpu += gib;
    }
    gpus.push_back(gpu);
  }
  environment["gpus"] = gpus;
}

}  // namespace

nlohmann::json runtime_environment() {
  std::string cpu;
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; cpu.empty() && std::getline(cpuinfo, line);) {
    if (line.rfind("model name", 0) == 0) cpu = line.substr(line.find(':') + 2);
  }
  nlohmann::json environment = {{"libtorch", TORCH_VERSION}, {"cuda_devices", torch::cuda::device_count()}};
  if (torch::cuda::is_available()) {
    const auto& hooks = at::detail::getCUDAHooks();
    environment["cuda"] = cuda_version_text(hooks.versionCUDART());
    environment["cudnn"] = hooks.hasCuDNN() ? cudnn_version_text(hooks.versionCuDNN()) : "not available";
    add_cuda_devices(environment, static_cast<int>(torch::cuda::device_count()));
  } else {
    environment["cuda"] = "not available";
  }
  environment["cpu"] = cpu;
  environment["hardware_threads"] = std::thread::hardware_concurrency();
  environment["intra_op_threads"] = at::get_num_threads();
  environment["blas"] = blas::describe();
  return environment;
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
