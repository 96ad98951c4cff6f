// Linked into every protoclr executable (not into the libraries: a program embedding
// protoclr decides for itself). OpenBLAS picks its kernels in its constructor from
// OPENBLAS_CORETYPE (include/protoclr/core/blas.h says why that matters). Setting the
// variable from inside the process is too late or lost: glibc points `environ` back at the
// original block when libc initialises, after .preinit_array and before OpenBLAS. So the
// .preinit_array hook, which runs before any library constructor (LibTorch's included),
// re-executes the program once with the variable added; that costs one more program load
// and happens only when the variable is unset and the CPU has AVX2 or AVX-512.
#include <unistd.h>

#include <cstring>

#include "protoclr/core/blas.h"

namespace {

constexpr char kVariable[] = "OPENBLAS_CORETYPE=";

void reexec_with_openblas_kernel(int, char** argv, char** envp) {
  if (argv == nullptr || envp == nullptr) return;
  size_t n = 0;
  for (; envp[n] != nullptr; ++n) {
    if (std::strncmp(envp[n], kVariable, sizeof(kVariable) - 1) == 0) return;  // the user's (or our) choice
  }
  const char* kernel = protoclr::blas::kernel_for_cpu();
  if (kernel == nullptr) return;
  // Started through the dynamic loader (`ld.so build/protoclr ...`): /proc/self/exe is the
  // loader, which would read argv[0] as its own name. Leave that case alone.
  char self[4096];
  const ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (len <= 0) return;
  self[len] = '\0';
  if (std::strstr(self, "/ld-") != nullptr) return;
  // No allocation here: libc is not initialised yet. The stack holds the new environment.
  char entry[64];
  if (sizeof(kVariable) + std::strlen(kernel) > sizeof(entry)) return;
  std::strcpy(entry, kVariable);
  std::strcat(entry, kernel);
  char* env[n + 2];
  for (size_t i = 0; i < n; ++i) env[i] = envp[i];
  env[n] = entry;
  env[n + 1] = nullptr;
  execve("/proc/self/exe", argv, env);
  // execve returned: no /proc, or the binary vanished. Carry on with OpenBLAS's own choice;
  // blas::describe() will say how to fix it.
}

__attribute__((section(".preinit_array"), used)) void (*const kReexecWithOpenblasKernel)(int, char**, char**) =
    &reexec_with_openblas_kernel;

}  // namespace
