#include "protoclr/core/blas.h"

#include <dlfcn.h>
#include <strings.h>

namespace protoclr::blas {
namespace {

// The generic x86 kernels OpenBLAS falls back to when it does not know the CPU model.
bool is_generic(const std::string& kernel) {
  static const char* const kGeneric[] = {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom"};
  for (const char* g : kGeneric) {
    if (strcasecmp(kernel.c_str(), g) == 0) return true;
  }
  return false;
}

// Generic kernels although the CPU runs better ones: what describe() and the CLI warn about.
bool generic_on_capable_cpu(const std::string& in_use, const char* best_for_cpu) {
  return best_for_cpu != nullptr && is_generic(in_use);
}

}  // namespace

const char* kernel_for_cpu() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
                      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
                      __builtin_cpu_supports("avx512vl");
  if (avx512) return "SkylakeX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
  return nullptr;
}

std::string kernel_in_use() {
  // Looked up at run time: OpenBLAS arrives through LibTorch and faiss, and a build against
  // another BLAS (MKL in a pip LibTorch) has no such function.
  using CorenameFn = char* (*)();
  const auto corename = reinterpret_cast<CorenameFn>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  if (corename == nullptr) return "";
  const char* name = corename();
  return name ? name : "";
}

std::string describe_kernel(const std::string& in_use, const char* best_for_cpu) {
  if (in_use.empty()) return "not OpenBLAS";
  std::string line = "OpenBLAS " + in_use;
  if (generic_on_capable_cpu(in_use, best_for_cpu)) {
    line += std::string(" (generic kernels on a CPU that runs ") + best_for_cpu + "'s: set OPENBLAS_CORETYPE=" +
            best_for_cpu + " for 4-5x faster matrix products)";
  }
  return line;
}

std::string describe() { return describe_kernel(kernel_in_use(), kernel_for_cpu()); }

bool runs_generic_kernels() { return generic_on_capable_cpu(kernel_in_use(), kernel_for_cpu()); }

}  // namespace protoclr::blas
