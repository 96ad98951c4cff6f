#include "protoclr/interop/checkpoint_export.h"

#include "protoclr/core/error.h"
#include "protoclr/interop/torch_file.h"
#include "protoclr/model/moco.h"
#include "protoclr/run/checkpoint.h"
#include "protoclr/run/optimizer_state.h"

namespace protoclr::interop {
namespace {

using Dict = c10::impl::GenericDict;

Dict str_dict() { return Dict(c10::StringType::get(), c10::AnyType::get()); }

/// `module`'s state dict in PyTorch's order (per module: parameters, then buffers), with
/// `prefix` before each key; `skip` drops keys that start with it (relative to `module`).
void add_state(Dict& dict, const torch::nn::Module& module, const std::string& prefix, const std::string& skip = "") {
  for (const auto& item : module.named_modules(/*name_prefix=*/"", /*include_self=*/true)) {
    const std::string base = item.key().empty() ? "" : item.key() + ".";
    auto add = [&](const std::string& name, const torch::Tensor& t) {
      if (!t.defined()) return;
      const std::string key = base + name;
      if (!skip.empty() && key.rfind(skip, 0) == 0) return;
      dict.insert(prefix + key, t.detach().cpu());
    };
    for (const auto& p : item.value()->named_parameters(/*recurse=*/false)) add(p.key(), p.value());
    for (const auto& b : item.value()->named_buffers(/*recurse=*/false)) add(b.key(), b.value());
  }
}

}  // namespace

ExportFormat parse_export_format(const std::string& name) {
  if (name == "torchvision") return ExportFormat::kTorchvision;
  if (name == "pcl") return ExportFormat::kPcl;
  throw Error("unknown --format '" + name + "' (use torchvision or pcl)");
}

ExportReport export_checkpoint(const std::string& checkpoint, const std::string& out, ExportFormat format) {
  const std::string path = run::resolve_checkpoint(checkpoint);
  const auto config = run::read_checkpoint_meta(path).config;
  model::MoCo net(config.moco_options());
  std::vector<torch::Tensor> trainable = net->encoder_q->parameters();
  torch::optim::SGD sgd(trainable, torch::optim::SGDOptions(config.lr).momentum(config.momentum)
                                       .weight_decay(config.weight_decay));
  run::CheckpointMeta meta;
  bool has_optimizer = true;
  try {
    meta = run::load_checkpoint(path, net, &sgd, /*estep=*/nullptr);
  } catch (const Error&) {
    // A checkpoint saved without optimiser state (not by `train` or `import`): weights only;
    // a real problem (missing file, other arch) fails again, with its message, just below.
    has_optimizer = false;
    meta = run::load_checkpoint(path, net, /*optimizer=*/nullptr, /*estep=*/nullptr);
  }

  ExportReport report;
  report.arch = config.arch;
  report.epoch = meta.epoch;
  c10::IValue root;
  if (format == ExportFormat::kTorchvision) {
    Dict sd = str_dict();
    add_state(sd, *net->encoder_q, "", /*skip=*/"fc.");
    report.tensors = static_cast<int64_t>(sd.size());
    root = sd;
  } else {
    Dict sd = str_dict();
    add_state(sd, *net->encoder_q, "module.encoder_q.");
    add_state(sd, *net->encoder_k, "module.encoder_k.");
    sd.insert("module.queue", net->queue.detach().cpu());
    sd.insert("module.queue_ptr", net->queue_ptr.detach().cpu());
    report.tensors = static_cast<int64_t>(sd.size());
    // torch.optim.SGD(model.parameters()) of main_pcl.py: one group over encoder_q's then
    // encoder_k's parameters; only encoder_q's ever have momentum.
    auto state = Dict(c10::IntType::get(), c10::AnyType::get());
    for (size_t i = 0; i < trainable.size(); ++i) {
      auto it = sgd.state().find(run::optimizer_state_key(trainable[i]));
      if (it == sgd.state().end()) continue;
      const auto& buffer = static_cast<torch::optim::SGDParamState&>(*it->second).momentum_buffer();
      if (!buffer.defined()) continue;
      auto entry = str_dict();
      entry.insert("momentum_buffer", buffer.detach().cpu());
      state.insert(static_cast<int64_t>(i), entry);
      ++report.momentum_buffers;
    }
    const auto& opt = static_cast<const torch::optim::SGDOptions&>(sgd.param_groups().front().options());
    auto group = str_dict();
    group.insert("lr", opt.lr());
    group.insert("momentum", opt.momentum());
    group.insert("dampening", opt.dampening());
    group.insert("weight_decay", opt.weight_decay());
    group.insert("nesterov", opt.nesterov());
    c10::List<int64_t> params;
    const int64_t total = static_cast<int64_t>(trainable.size() + net->encoder_k->parameters().size());
    for (int64_t i = 0; i < total; ++i) params.push_back(i);
    group.insert("params", params);
    c10::impl::GenericList groups(c10::AnyType::get());
    groups.push_back(group);
    auto optimizer = str_dict();
    optimizer.insert("state", state);
    optimizer.insert("param_groups", groups);

    Dict top = str_dict();
    top.insert("epoch", meta.epoch);
    top.insert("arch", config.arch);
    top.insert("state_dict", sd);
    if (has_optimizer) top.insert("optimizer", optimizer);
    root = top;
  }
  write_torch_file(out, root, TorchFileFormat::kZip);
  return report;
}

}  // namespace protoclr::interop
