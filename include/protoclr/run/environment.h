#pragma once
/// What a run's speed and numerics depend on beyond its configuration, for run folders
/// (`environment.jsonl`, one line per start) and `protoclr --version`.
#include <nlohmann/json.hpp>

namespace protoclr::run {

/// {"libtorch", "cuda_devices", "cpu" (model name), "hardware_threads", "intra_op_threads",
/// "blas" (blas::describe(): the OpenBLAS kernels in use)}.
nlohmann::json runtime_environment();

}  // namespace protoclr::run
