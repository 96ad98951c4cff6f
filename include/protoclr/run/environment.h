#pragma once
/// What a run's speed and numerics depend on beyond its configuration, for run folders
/// (`environment.jsonl`, one line per start) and `protoclr --version`, and the thread
/// settings every entry point applies.
#include <nlohmann/json.hpp>

namespace protoclr::run {

/// {"libtorch", "cuda_devices", "cuda" (the CUDA runtime LibTorch was built with, "13.0", or
/// "not available"), "cpu" (model name), "hardware_threads", "intra_op_threads", "blas"
/// (blas::describe(): the OpenBLAS kernels in use)}; with CUDA also "cudnn" (the version
/// LibTorch was built with), "cuda_driver" (the CUDA version the driver supports) and "gpus"
/// (one "name, sm_XY, memory" per device).
nlohmann::json runtime_environment();

/// Sets the compute threads of LibTorch and OpenMP (faiss); 0 = every hardware thread.
/// Debian's LibTorch starts with one intra-op thread, so every entry point sets it
/// explicitly. Warns when OpenBLAS runs its generic kernels anyway (core/blas.h).
void set_threads(int threads);

}  // namespace protoclr::run
