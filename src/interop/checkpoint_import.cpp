#include "protoclr/interop/checkpoint_import.h"

#include <map>
#include <set>

#include "protoclr/core/error.h"
#include "protoclr/model/moco.h"
#include "protoclr/run/checkpoint.h"
#include "protoclr/run/config.h"
#include "protoclr/run/optimizer_state.h"

namespace protoclr::interop {
namespace {

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

std::string shape(const torch::Tensor& t) { return c10::str(t.sizes()); }

using TensorMap = std::map<std::string, torch::Tensor>;

/// The state dict inside the file: the entries under 'state_dict' (the published layout),
/// else every tensor outside 'optimizer'; keys without DataParallel's `module.` prefix.
TensorMap find_state_dict(const TorchFile& file, const std::string& name, bool* had_module_prefix) {
  bool nested = false;
  for (const auto& entry : file.tensors) nested = nested || starts_with(entry.first, "state_dict.");
  TensorMap sd;
  *had_module_prefix = false;
  for (const auto& [path, tensor] : file.tensors) {
    std::string key = path;
    if (nested) {
      if (!starts_with(key, "state_dict.")) continue;
      key = key.substr(11);
    } else if (starts_with(key, "optimizer.")) {
      continue;
    }
    if (starts_with(key, "module.")) {
      key = key.substr(7);
      *had_module_prefix = true;
    }
    PROTOCLR_CHECK(sd.emplace(key, tensor).second, "'", name, "' holds the key '", key,
                   "' twice (with and without `module.`?); clean the state dict in Python first");
  }
  PROTOCLR_CHECK(!sd.empty(), "'", name, "' holds no tensors (expected a state dict or {'state_dict': ...})");
  return sd;
}

/// resnet18/34/50 from the blocks per layer and the block type of a backbone state dict.
std::string infer_arch(const TensorMap& q, const std::string& name) {
  std::vector<int64_t> blocks;
  for (int layer = 1; layer <= 4; ++layer) {
    int64_t n = 0;
    while (q.count("layer" + std::to_string(layer) + "." + std::to_string(n) + ".conv1.weight")) ++n;
    blocks.push_back(n);
  }
  const bool bottleneck = q.count("layer1.0.conv3.weight") > 0;
  const std::vector<int64_t> r18 = {2, 2, 2, 2}, r34 = {3, 4, 6, 3};
  if (!bottleneck && blocks == r18) return "resnet18";
  if (!bottleneck && blocks == r34) return "resnet34";
  if (bottleneck && blocks == r34) return "resnet50";
  throw Error("cannot infer the architecture of '" + name + "': blocks per layer " + c10::str(c10::IntArrayRef(blocks)) +
              (bottleneck ? " (bottleneck)" : " (basic)") +
              "; protoclr has resnet18, resnet34 and resnet50 (give --arch if the keys are named differently)");
}

}  // namespace

ImportReport import_checkpoint(const std::string& path, const std::string& out, const ImportOptions& options) {
  return import_checkpoint(read_torch_file(path), path, out, options);
}

ImportReport import_checkpoint(const TorchFile& file, const std::string& name, const std::string& out,
                               const ImportOptions& options) {
  ImportReport report;
  report.format = file.format;
  bool module_prefix = false;
  const TensorMap sd = find_state_dict(file, name, &module_prefix);
  report.tensors_read = static_cast<int64_t>(sd.size());

  // Layout: MoCo / PCL (encoder_q.*, encoder_k.*, queue) or a plain torchvision backbone.
  bool moco = false, has_k = false;
  for (const auto& entry : sd) {
    moco = moco || starts_with(entry.first, "encoder_q.");
    has_k = has_k || starts_with(entry.first, "encoder_k.");
  }
  report.layout = moco ? (module_prefix ? "pcl" : "moco") : "torchvision";
  const std::string q_prefix = moco ? "encoder_q." : "";
  TensorMap q;
  for (const auto& [key, tensor] : sd)
    if (starts_with(key, q_prefix)) q.emplace(key.substr(q_prefix.size()), tensor);

  // Architecture, stem and head from the keys and shapes.
  auto& enc = report.encoder;
  enc.arch = options.arch.empty() ? infer_arch(q, name) : options.arch;
  PROTOCLR_CHECK(model::is_resnet_arch(enc.arch), "unknown --arch '", enc.arch, "' (use resnet18, resnet34 or resnet50)");
  auto conv1 = q.find("conv1.weight");
  PROTOCLR_CHECK(conv1 != q.end() && conv1->second.dim() == 4, "'", name, "' has no ", q_prefix,
                 "conv1.weight: not a ResNet state dict (expected torchvision's key names)");
  enc.cifar_stem = conv1->second.size(-1) == 3;
  bool fresh_head = false;
  if (q.count("fc.0.weight") && q.count("fc.2.weight")) {
    enc.mlp = true;
    enc.low_dim = q.at("fc.2.weight").size(0);
  } else if (moco && q.count("fc.weight")) {
    enc.mlp = false;
    enc.low_dim = q.at("fc.weight").size(0);
  } else {
    fresh_head = true;
    enc.mlp = true;
    enc.low_dim = 128;
    report.notes.push_back(
        q.count("fc.weight") ? "fc.* is a classifier of a plain torchvision state dict, not a projection head: "
                               "backbone imported, fresh pcl-v2 MLP head (low_dim 128)"
                             : "no projection head in the file: fresh pcl-v2 MLP head (low_dim 128)");
  }
  report.preset = enc.mlp ? "pcl-v2" : "pcl-v1";
  auto config = run::TrainConfig::from_preset(report.preset);
  auto queue = sd.find("queue");
  const bool has_queue = moco && queue != sd.end() && queue->second.dim() == 2;
  report.queue_size = has_queue ? queue->second.size(1) : config.queue_size;
  if (!has_queue) report.notes.push_back("no queue in the file: fresh random queue of " +
                                         std::to_string(report.queue_size) + " keys");
  if (!has_k) report.notes.push_back("no encoder_k in the file: the key encoder is a copy of encoder_q");

  model::MoCo net(model::MoCoOptions(enc).queue_size(report.queue_size));
  std::set<std::string> used;
  auto source_of = [&](const std::string& key) -> std::string {
    if (key == "queue" || key == "queue_ptr") return moco ? key : "";
    const bool is_q = starts_with(key, "encoder_q."), is_k = starts_with(key, "encoder_k.");
    TORCH_INTERNAL_ASSERT(is_q || is_k, "unexpected MoCo key ", key);
    const std::string sub = key.substr(10);
    if (fresh_head && starts_with(sub, "fc.")) return "";
    if (is_k && has_k) return key;
    return q_prefix + sub;  // encoder_q, or encoder_k copied from it
  };
  {
    torch::NoGradGuard no_grad;
    auto copy = [&](const std::string& key, torch::Tensor& target) {
      const std::string src = source_of(key);
      if (src.empty()) return;
      auto it = sd.find(src);
      if (it == sd.end()) {
        report.missing.push_back(key);
        return;
      }
      PROTOCLR_CHECK(it->second.sizes() == target.sizes(), "'", name, "': '", src, "' has shape ", shape(it->second),
                     " in the file but ", target.sizes(), " in the ", enc.arch, enc.cifar_stem ? " (CIFAR stem)" : "",
                     " model (check --arch)");
      target.copy_(it->second);
      used.insert(src);
      ++report.tensors_loaded;
    };
    for (auto& item : net->named_parameters(/*recurse=*/true)) copy(item.key(), item.value());
    for (auto& item : net->named_buffers(/*recurse=*/true)) copy(item.key(), item.value());
  }
  for (const auto& entry : sd)
    if (!used.count(entry.first)) report.unexpected.push_back(entry.first);

  // encoder_q weights are what every protocol evaluates: missing ones make a useless import
  // (num_batches_tracked, absent before PyTorch 0.4.1, only counts BN updates).
  std::vector<std::string> missing_q;
  for (const auto& key : report.missing)
    if (starts_with(key, "encoder_q.") && key.find("num_batches_tracked") == std::string::npos) missing_q.push_back(key);
  PROTOCLR_CHECK(missing_q.empty() || options.allow_missing, "'", name, "' lacks ", missing_q.size(), " of the ",
                 enc.arch, " model's tensors (first: ", missing_q.empty() ? "" : missing_q.front(),
                 "); check --arch, or pass --allow-missing to keep those at fresh values");

  config.arch = enc.arch;
  config.cifar_stem = enc.cifar_stem;
  config.low_dim = enc.low_dim;
  config.mlp = enc.mlp;
  config.queue_size = report.queue_size;
  config.image_size = enc.cifar_stem ? 32 : 224;
  if (file.scalars.contains("epoch") && file.scalars["epoch"].is_number_integer())
    report.epoch = file.scalars["epoch"].get<int64_t>();

  // The trainer's optimiser (SGD over encoder_q), so `train --resume` continues from it. The
  // published optimizer indexes model.parameters() of MoCo: encoder_q's come first, in the
  // same order as ours.
  std::vector<torch::Tensor> trainable = net->encoder_q->parameters();
  torch::optim::SGD sgd(trainable, torch::optim::SGDOptions(config.lr).momentum(config.momentum)
                                       .weight_decay(config.weight_decay));
  for (const auto& [path, tensor] : file.tensors) {
    if (!starts_with(path, "optimizer.state.")) continue;
    const std::string rest = path.substr(16);
    const auto dot = rest.find('.');
    if (dot == std::string::npos || rest.substr(dot + 1) != "momentum_buffer") continue;
    int64_t index = -1;
    try {
      index = std::stoll(rest.substr(0, dot));
    } catch (const std::exception&) {
      continue;
    }
    if (index < 0 || index >= static_cast<int64_t>(trainable.size()) || !moco) continue;
    const auto& p = trainable[index];
    PROTOCLR_CHECK(tensor.sizes() == p.sizes(), "'", name, "': optimizer momentum buffer ", index, " has shape ",
                   shape(tensor), " but encoder_q's parameter ", index, " has ", p.sizes(), " (corrupt optimizer state)");
    auto state = std::make_unique<torch::optim::SGDParamState>();
    state->momentum_buffer(tensor.to(p.dtype()).clone());
    sgd.state()[run::optimizer_state_key(p)] = std::move(state);
    ++report.momentum_buffers;
  }

  run::CheckpointMeta meta;
  meta.config = config;
  meta.epoch = report.epoch;
  run::save_checkpoint(out, net, &sgd, meta, /*estep=*/nullptr);
  return report;
}

}  // namespace protoclr::interop
