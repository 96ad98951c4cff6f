#pragma once
/// Reading and writing the files Python's `torch.save` writes, without Python:
///   zip    - PyTorch >= 1.6: a zip archive with `data.pkl` and one record per storage;
///   legacy - PyTorch <= 1.5 (and `_use_new_zipfile_serialization=False`): magic number,
///            protocol and system-info pickles, the main pickle, the list of storage keys,
///            then each storage's raw bytes after an int64 element count.
/// Files are untrusted input: the reader accepts only the pickle globals `torch.save` emits
/// for tensors, storages and plain containers (PyTorch's `weights_only=True` set), refuses
/// anything else by name, and bounds every read, so a truncated or hostile file ends in a
/// one-line protoclr::Error naming the file, never a crash.
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace protoclr::interop {

enum class TorchFileFormat {
  kZip,     ///< torch.save of PyTorch >= 1.6 (the default)
  kLegacy,  ///< torch.save(..., _use_new_zipfile_serialization=False), PyTorch <= 1.5
};

/// "zip" or "legacy".
std::string to_string(TorchFileFormat format);

/// What a torch.save file holds, flattened.
struct TorchFile {
  TorchFileFormat format = TorchFileFormat::kZip;
  /// Every tensor, in file order, keyed by its path of dict keys (and list indices) joined
  /// with '.': {'state_dict': {'module.conv1.weight': t}} -> "state_dict.module.conv1.weight".
  /// Tensors keep their dtype (BN's num_batches_tracked stays int64) and are CPU tensors.
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  /// The top-level dict's scalar entries (int, float, bool, str, None): {"epoch": 200, "arch": "resnet50"}.
  nlohmann::json scalars = nlohmann::json::object();
};

/// Reads a torch.save file of either format whose top-level object is a dict. Throws
/// protoclr::Error naming `path` for a missing, truncated, malformed or refused file.
TorchFile read_torch_file(const std::string& path);

/// As read_torch_file() from bytes in memory; `name` stands for the file in messages.
TorchFile read_torch_bytes(const std::string& bytes, const std::string& name);

/// The bytes `torch.save(value)` would write: `value` is built of GenericDicts (str or int
/// keys), lists, tuples, None, bool, int, float, str and tensors (written contiguous, on the
/// CPU, one storage each). `torch.load(f, weights_only=True)` reads either format.
std::string torch_file_bytes(const c10::IValue& value, TorchFileFormat format = TorchFileFormat::kZip);

/// Writes torch_file_bytes() to `path` atomically.
void write_torch_file(const std::string& path, const c10::IValue& value,
                      TorchFileFormat format = TorchFileFormat::kZip);

}  // namespace protoclr::interop
