#include <iostream>

#include "commands.h"
#include "protoclr/interop/checkpoint_export.h"
#include "protoclr/interop/checkpoint_import.h"

namespace protoclr::cli {
namespace {

void print_keys(const char* what, const std::vector<std::string>& keys) {
  if (keys.empty()) return;
  std::cout << what << " (" << keys.size() << "):";
  for (const auto& key : keys) std::cout << " " << key;
  std::cout << "\n";
}

}  // namespace

void add_import_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("import", "Convert a PyTorch checkpoint (published PCL/MoCo or torchvision) to protoclr");
  auto path = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto options = std::make_shared<interop::ImportOptions>();
  cmd->add_option("path", *path, "File written by torch.save (zip or pre-1.6 legacy format)")->required();
  cmd->add_option("--out", *out, "protoclr checkpoint to write")->required();
  cmd->add_option("--arch", options->arch, "resnet18, resnet34 or resnet50 (default: inferred from the keys)")
      ->check(CLI::IsMember({"resnet18", "resnet34", "resnet50"}));
  cmd->add_flag("--allow-missing", options->allow_missing, "Import even if encoder_q weights are missing");
  cmd->callback([path, out, options] {
    const auto r = interop::import_checkpoint(*path, *out, *options);
    std::cout << "read " << *path << " (" << interop::to_string(r.format) << " format, " << r.layout << " layout, "
              << r.tensors_read << " tensors, epoch " << r.epoch << ")\n"
              << "model: " << r.encoder.arch << (r.encoder.cifar_stem ? ", CIFAR stem" : "") << ", "
              << (r.encoder.mlp ? "MLP" : "linear") << " head, low_dim " << r.encoder.low_dim << ", queue "
              << r.queue_size << " (preset " << r.preset << ")\n"
              << "loaded " << r.tensors_loaded << " tensors into the model (both encoders, queue), " << r.momentum_buffers << " SGD momentum buffers\n";
    print_keys("missing", r.missing);
    print_keys("unexpected (ignored)", r.unexpected);
    for (const auto& note : r.notes) std::cout << "note: " << note << "\n";
    std::cout << "wrote " << *out << "\n";
  });
}

void add_export_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("export", "Write a protoclr checkpoint as a PyTorch file (torchvision or PCL layout)");
  auto checkpoint = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto format = std::make_shared<std::string>("torchvision");
  cmd->add_option("checkpoint", *checkpoint, "protoclr checkpoint or run folder")->required();
  cmd->add_option("--out", *out, "File to write (torch.load reads it)")->required();
  cmd->add_option("--format", *format, "torchvision (backbone state dict, no head) or pcl (published layout)")
      ->capture_default_str();
  cmd->callback([checkpoint, out, format] {
    const auto r = interop::export_checkpoint(*checkpoint, *out, interop::parse_export_format(*format));
    std::cout << "wrote " << *out << ": " << r.tensors << " tensors (" << r.arch << ", epoch " << r.epoch << ", "
              << *format << " layout";
    if (r.momentum_buffers) std::cout << ", " << r.momentum_buffers << " SGD momentum buffers";
    std::cout << ")\n";
  });
}

}  // namespace protoclr::cli
