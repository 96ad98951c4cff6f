#pragma once
/// NumPy's .npy format (version 1.0 written, 1.0-3.0 read), so features extracted by
/// protoclr load with `numpy.load` and features from Python load back into protoclr.
#include <string>

#include <torch/torch.h>

namespace protoclr::eval {

/// Writes `tensor` (float32, float64, int64, int32, uint8, int8 or bool; any shape) in C
/// order, little-endian, atomically (temporary file + rename). Throws Error naming `path`.
void write_npy(const std::string& path, const torch::Tensor& tensor);

/// Reads a C-order little-endian .npy of one of the dtypes above into a CPU tensor.
/// Fortran order, big-endian data, object arrays and truncated files are refused with a
/// one-line Error naming `path`.
torch::Tensor read_npy(const std::string& path);

}  // namespace protoclr::eval
