#pragma once
/// Which OpenBLAS kernels do the matrix products (faiss k-means, prototype logits, linear
/// layers, kNN). OpenBLAS picks them from the CPU model when it loads, and Debian 12's
/// 0.3.21 does not know recent Intel models (e.g. family 6 model 207): it falls back to its
/// SSE3 "Prescott" kernels, 4-5x slower than the AVX-512 ones the CPU can run
/// (docs/BENCHMARKS.md, "OpenBLAS kernels"). Every protoclr executable links a start-up
/// hook (src/startup/openblas_kernel.cpp) that, unless the user set OPENBLAS_CORETYPE,
/// starts the program with it set to kernel_for_cpu().
#include <string>

namespace protoclr::blas {

/// The OpenBLAS kernel family for this CPU's instruction sets: "SkylakeX" (AVX-512
/// F/CD/BW/DQ/VL), "Haswell" (AVX2 + FMA), or nullptr when neither applies (older or
/// non-x86 CPUs: OpenBLAS's own choice stands). Newer families (Cooperlake, Sapphire
/// Rapids) add bf16 routines protoclr does not call; their sgemm is SkylakeX's. Safe to
/// call before static initialisation (no allocation, no statics).
const char* kernel_for_cpu();

/// The kernel family OpenBLAS is using ("SkylakeX"), or "" when the BLAS is not OpenBLAS.
std::string kernel_in_use();

/// One line for logs and benchmark records: "OpenBLAS SkylakeX", or "not OpenBLAS"; when
/// OpenBLAS runs kernels weaker than the CPU allows, the line says so and how to fix it.
std::string describe();
/// describe() for a given kernel in use ("" = not OpenBLAS) and kernel_for_cpu() value.
std::string describe_kernel(const std::string& in_use, const char* best_for_cpu);
/// Whether OpenBLAS runs generic kernels although the CPU has AVX2 or AVX-512.
bool runs_generic_kernels();

}  // namespace protoclr::blas
