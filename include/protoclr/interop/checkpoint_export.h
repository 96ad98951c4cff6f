#pragma once
/// `protoclr export`: a protoclr checkpoint -> a file Python's torch.load reads (zip format).
#include <cstdint>
#include <string>

namespace protoclr::interop {

enum class ExportFormat {
  /// The query encoder's backbone as a torchvision ResNet state dict, without the projection
  /// head: `torchvision.models.resnetXX().load_state_dict(sd, strict=False)` reports only
  /// fc.weight and fc.bias missing. The input of Detectron2's / MMDetection's converters.
  kTorchvision,
  /// The published PCL / MoCo layout: {'epoch', 'arch', 'state_dict': {'module.encoder_q.*',
  /// 'module.encoder_k.*', 'module.queue', 'module.queue_ptr'}, 'optimizer'} (optimizer:
  /// SGD over all MoCo parameters as in main_pcl.py, momentum buffers for encoder_q's;
  /// omitted when the checkpoint has no optimiser state).
  kPcl,
};

/// "torchvision" or "pcl"; anything else: Error naming --format.
ExportFormat parse_export_format(const std::string& name);

struct ExportReport {
  std::string arch;
  int64_t epoch = 0;
  int64_t tensors = 0;           ///< tensors written
  int64_t momentum_buffers = 0;  ///< optimizer momentum buffers written (pcl format)
};

/// Exports the protoclr checkpoint (or run folder) `checkpoint` to `out`.
ExportReport export_checkpoint(const std::string& checkpoint, const std::string& out, ExportFormat format);

}  // namespace protoclr::interop
