#pragma once
/// `protoclr import`: a PyTorch checkpoint -> a protoclr checkpoint. Reads the published
/// PCL / MoCo layout ({'epoch', 'arch', 'state_dict': {'module.encoder_q.*',
/// 'module.encoder_k.*', 'module.queue', 'module.queue_ptr'}, 'optimizer'}), the same state
/// dict without `module.`, or a plain torchvision ResNet state dict, in either torch.save
/// format (see torch_file.h).
#include <cstdint>
#include <string>
#include <vector>

#include "protoclr/interop/torch_file.h"
#include "protoclr/model/head.h"

namespace protoclr::interop {

struct ImportOptions {
  std::string arch;             ///< --arch: resnet18/34/50; empty = inferred from keys and shapes
  bool allow_missing = false;   ///< --allow-missing: import although encoder_q weights are missing
};

/// What an import found and did; every field is also printed by the CLI.
struct ImportReport {
  TorchFileFormat format = TorchFileFormat::kZip;
  /// "pcl" (keys module.encoder_q.*, as the published PCL / MoCo code saves them), "moco"
  /// (encoder_q.* without module.) or "torchvision" (a plain ResNet state dict).
  std::string layout;
  model::EncoderOptions encoder;  ///< inferred (or --arch) architecture, stem and head
  std::string preset;             ///< pcl-v2 for an MLP head, pcl-v1 for a linear one
  int64_t queue_size = 0;         ///< columns of the imported (or fresh) queue
  int64_t epoch = 0;              ///< the file's `epoch` (0 when it has none)
  int64_t tensors_read = 0;       ///< tensors of the state dict in the file
  int64_t tensors_loaded = 0;     ///< of those, copied into the model
  int64_t momentum_buffers = 0;   ///< SGD momentum buffers taken from the file's optimizer
  std::vector<std::string> missing;     ///< model keys the file lacks (kept at their fresh values)
  std::vector<std::string> unexpected;  ///< file keys the model has no place for (ignored)
  std::vector<std::string> notes;       ///< fresh head, copied key encoder, fresh queue, ...
};

/// Reads the torch.save file `path`, builds the MoCo model it describes, copies the weights
/// and writes a protoclr checkpoint to `out` (accepted by every eval protocol and by
/// `train --resume` / `--init`). Throws protoclr::Error naming the file when it cannot be
/// read, the architecture cannot be inferred, a tensor's shape differs from the model's
/// (the key and both shapes), or encoder_q weights are missing and !allow_missing.
ImportReport import_checkpoint(const std::string& path, const std::string& out, const ImportOptions& options = {});

/// As above from a TorchFile already read (`name` stands for the file in messages).
ImportReport import_checkpoint(const TorchFile& file, const std::string& name, const std::string& out,
                               const ImportOptions& options = {});

}  // namespace protoclr::interop
