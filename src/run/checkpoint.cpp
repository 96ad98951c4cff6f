#include "protoclr/run/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "protoclr/core/error.h"
#include "protoclr/core/fs.h"
#include "protoclr/run/optimizer_state.h"

namespace protoclr::run {
namespace fs = std::filesystem;
namespace {

constexpr const char* kMagic = "protoclr-checkpoint";

std::string meta_json(const CheckpointMeta& meta) {
  nlohmann::json j{{"magic", kMagic}, {"format_version", meta.format_version},
                   {"epoch", meta.epoch}, {"config", meta.config.to_json()}};
  if (meta.step > 0) j["step"] = meta.step, j["epoch_progress"] = meta.epoch_progress;
  return j.dump();
}

torch::serialize::InputArchive open_archive(const std::string& path) {
  PROTOCLR_CHECK(fs::is_regular_file(path), "checkpoint '", path, "' does not exist (check --resume / --checkpoint)");
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path);
  } catch (const c10::Error& e) {
    throw Error("cannot read checkpoint '" + path + "': not a protoclr checkpoint or truncated (" +
                std::string(e.what_without_backtrace()).substr(0, 120) + ")");
  }
  return archive;
}

CheckpointMeta parse_meta(torch::serialize::InputArchive& archive, const std::string& path) {
  c10::IValue value;
  PROTOCLR_CHECK(archive.try_read("protoclr_meta", value) && value.isString(), "'", path,
                 "' is not a protoclr checkpoint (for PyTorch files use `protoclr import`)");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(value.toStringRef());
  } catch (const std::exception&) {
    throw Error("checkpoint '" + path + "' has corrupt metadata");
  }
  PROTOCLR_CHECK(j.value("magic", "") == kMagic, "'", path, "' is not a protoclr checkpoint");
  CheckpointMeta meta;
  meta.format_version = j.value("format_version", 1);
  meta.epoch = j.value("epoch", int64_t{0});
  meta.step = j.value("step", int64_t{0});
  if (j.contains("epoch_progress")) meta.epoch_progress = j.at("epoch_progress");
  meta.config = TrainConfig::from_json(j.at("config"));
  return meta;
}

/// Copies the archive's tensors into the module, naming the key and both shapes on a mismatch.
void load_module(torch::nn::Module& module, torch::serialize::InputArchive& archive, const std::string& path) {
  torch::NoGradGuard no_grad;
  auto copy = [&](const std::string& key, torch::Tensor& target, bool is_buffer) {
    torch::Tensor value;
    PROTOCLR_CHECK(archive.try_read(key, value, is_buffer), "checkpoint '", path, "' has no tensor '", key,
                   "' (was it written for another --arch or head?)");
    PROTOCLR_CHECK(value.sizes() == target.sizes(), "checkpoint '", path, "': '", key, "' has shape ",
                   value.sizes(), " but the model expects ", target.sizes(), " (check --arch, --low-dim, --mlp)");
    target.copy_(value);
  };
  for (auto& item : module.named_parameters(/*recurse=*/true)) copy(item.key(), item.value(), false);
  for (auto& item : module.named_buffers(/*recurse=*/true)) copy(item.key(), item.value(), true);
}

}  // namespace

std::string checkpoint_path(const std::string& run_dir) { return (fs::path(run_dir) / "checkpoint.pt").string(); }

std::string resolve_checkpoint(const std::string& dir_or_file) {
  if (fs::is_directory(dir_or_file)) {
    const auto path = checkpoint_path(dir_or_file);
    PROTOCLR_CHECK(fs::is_regular_file(path), "no checkpoint.pt in '", dir_or_file,
                   "' (the run saved none yet; check --save-every)");
    return path;
  }
  PROTOCLR_CHECK(fs::is_regular_file(dir_or_file), "checkpoint '", dir_or_file, "' does not exist");
  return dir_or_file;
}

void save_checkpoint(const std::string& path, model::MoCo& model, torch::optim::Optimizer* optimizer,
                     const CheckpointMeta& meta, const cluster::EStepResult* estep) {
  torch::serialize::OutputArchive archive;
  archive.write("protoclr_meta", c10::IValue(meta_json(meta)));
  for (const auto& item : model->named_parameters(true)) archive.write(item.key(), item.value().detach().cpu());
  for (const auto& item : model->named_buffers(true)) archive.write(item.key(), item.value().cpu(), /*is_buffer=*/true);
  if (optimizer) {
    torch::serialize::OutputArchive opt;
    optimizer->save(opt);
    archive.write("optimizer", opt);
  }
  if (estep) {
    torch::serialize::OutputArchive levels;
    levels.write("count", c10::IValue(static_cast<int64_t>(estep->levels.size())));
    for (size_t m = 0; m < estep->levels.size(); ++m) {
      const auto& level = estep->levels[m];
      torch::serialize::OutputArchive one;
      one.write("prototypes", level.prototypes.cpu());
      one.write("assignments", level.assignments.cpu());
      one.write("phi", level.phi.cpu());
      one.write("counts", level.counts.cpu());
      levels.write(std::to_string(m), one);
    }
    archive.write("estep", levels);
  }
  if (!meta.sampler_permutations.empty()) {
    torch::serialize::OutputArchive samplers;
    samplers.write("count", c10::IValue(static_cast<int64_t>(meta.sampler_permutations.size())));
    for (size_t m = 0; m < meta.sampler_permutations.size(); ++m)
      samplers.write(std::to_string(m), meta.sampler_permutations[m].cpu());
    archive.write("samplers", samplers);
  }
  write_file_atomic(path, [&](const fs::path& tmp) {
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    PROTOCLR_CHECK(fd >= 0, "cannot write checkpoint '", path, "': ", std::strerror(errno),
                   " (is the run folder writable?)");
    // LibTorch's zip writer cannot recover from a failed write (it throws again from its
    // destructor, which ends the process), so every write reports success to it and the
    // first failure is reported here once the archive is done.
    int error = 0;
    try {
      archive.save_to([&](const void* data, size_t n) -> size_t {
        const char* p = static_cast<const char*>(data);
        for (size_t left = n; left > 0 && error == 0;) {
          const ssize_t w = ::write(fd, p, left);
          if (w < 0 && errno == EINTR) continue;
          if (w <= 0) {
            error = w < 0 ? errno : EIO;
            break;
          }
          p += w;
          left -= static_cast<size_t>(w);
        }
        return n;
      });
    } catch (const c10::Error& e) {
      ::close(fd);
      throw Error("cannot write checkpoint '" + path + "': " + std::string(e.what_without_backtrace()).substr(0, 160));
    }
    if (::close(fd) != 0 && error == 0) error = errno;
    PROTOCLR_CHECK(error == 0, "cannot write checkpoint '", path, "': ", std::strerror(error),
                   " (disk full? the previous checkpoint is unchanged)");
  });
}

CheckpointMeta read_checkpoint_meta(const std::string& path) {
  auto archive = open_archive(path);
  return parse_meta(archive, path);
}

CheckpointMeta load_checkpoint(const std::string& path, model::MoCo& model, torch::optim::Optimizer* optimizer,
                               std::optional<cluster::EStepResult>* estep) {
  auto archive = open_archive(path);
  auto meta = parse_meta(archive, path);
  load_module(*model, archive, path);
  if (meta.step > 0) {
    torch::serialize::InputArchive samplers;
    if (archive.try_read("samplers", samplers)) {
      c10::IValue count;
      samplers.read("count", count);
      for (int64_t m = 0; m < count.toInt(); ++m) {
        torch::Tensor perm;
        samplers.read(std::to_string(m), perm);
        meta.sampler_permutations.push_back(perm);
      }
    }
  }
  if (optimizer) {
    torch::serialize::InputArchive opt;
    PROTOCLR_CHECK(archive.try_read("optimizer", opt), "checkpoint '", path, "' has no optimiser state");
    optimizer->load(opt);
    // Optimiser state comes back on the CPU; follow the parameters' device.
    const auto device = model->parameters().front().device();
    if (!device.is_cpu()) {
      for (auto& group : optimizer->param_groups())
        for (auto& p : group.params()) {
          auto it = optimizer->state().find(optimizer_state_key(p));
          if (it == optimizer->state().end()) continue;
          auto& sgd = static_cast<torch::optim::SGDParamState&>(*it->second);
          if (sgd.momentum_buffer().defined()) sgd.momentum_buffer(sgd.momentum_buffer().to(device));
        }
    }
  }
  if (estep) {
    estep->reset();
    torch::serialize::InputArchive levels;
    if (archive.try_read("estep", levels)) {
      c10::IValue count;
      levels.read("count", count);
      cluster::EStepResult result;
      for (int64_t m = 0; m < count.toInt(); ++m) {
        torch::serialize::InputArchive one;
        levels.read(std::to_string(m), one);
        cluster::ClusterLevel level;
        one.read("prototypes", level.prototypes);
        one.read("assignments", level.assignments);
        one.read("phi", level.phi);
        one.read("counts", level.counts);
        level.k = level.prototypes.size(0);
        result.levels.push_back(std::move(level));
      }
      *estep = std::move(result);
    }
  }
  return meta;
}

}  // namespace protoclr::run
