#pragma once
// Flags and set-up shared by `protoclr extract` and every `protoclr eval <protocol>`:
// which network (a checkpoint, or --random-init), which splits, and how results are
// printed (a table, or with --json one JSON object on stdout).
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "protoclr/data/dataset.h"
#include "protoclr/features/extract.h"
#include "protoclr/eval/encoder.h"

namespace protoclr::cli {

/// What a protocol needs: one split (cluster, t-SNE, extract) or a training and a test split.
enum class Splits { kOne, kTrainTest };

struct EvalFlags {
  std::string checkpoint;        ///< run folder or checkpoint file
  bool random_init = false;      ///< the same architecture, untrained
  std::string encoder = "query"; ///< query (encoder_q) or key (encoder_k)
  std::string arch = "resnet18"; ///< only with --random-init and no checkpoint
  bool cifar_stem = false;       ///< idem
  std::string train, train_split = "train";
  std::string test, test_split = "test";
  int64_t limit = 0, train_limit = 0, test_limit = 0;
  int64_t image_size = 0;        ///< 0 = the checkpoint's training size
  int64_t batch_size = 256;      ///< feature extraction
  int workers = 0;
  int threads = 0;
  std::string device = "cpu";
  bool bf16 = false;
  bool channels_last = true;
  uint64_t seed = 0;
  std::string layer;             ///< pool | embedding; the protocol sets the default
  bool json = false;
};

/// Registers the shared flags on `cmd`. For Splits::kOne the split flags are --data/--split.
void add_eval_flags(CLI::App* cmd, EvalFlags& f, Splits splits, const std::string& default_layer);

/// Everything resolved: the network on its device, the datasets, the extraction options.
struct EvalSetup {
  eval::NetworkChoice network;  ///< what the flags chose (saved by `protoclr index`)
  eval::LoadedEncoder net;
  torch::Device device = torch::kCPU;
  std::shared_ptr<data::Dataset> train;  ///< null for Splits::kOne
  std::shared_ptr<data::Dataset> test;   ///< the only split for Splits::kOne
  features::ExtractOptions extract;          ///< layer, image size, batch, device...
  nlohmann::ordered_json header;         ///< network and data, for the JSON output
};

EvalSetup make_eval_setup(const EvalFlags& f, Splits splits);
/// The network and extraction options only (no data opened): what make_eval_setup starts with.
EvalSetup make_network_setup(const EvalFlags& f);

/// The network the flags name (--checkpoint, --encoder, --random-init, --seed, --arch, --cifar-stem).
eval::NetworkChoice network_choice(const EvalFlags& f);

/// Features of `dataset` through the set-up's network (progress labelled `what`).
features::DatasetFeatures extract(EvalSetup& s, const std::shared_ptr<data::Dataset>& dataset, const std::string& what);

/// A result as printed: rows of (label, text) for the table; the JSON object holds the same
/// figures as numbers.
struct EvalReport {
  EvalReport() = default;
  explicit EvalReport(std::string title_text) : title(std::move(title_text)) {}
  std::string title;
  std::vector<std::pair<std::string, std::string>> rows;
  nlohmann::ordered_json json;
  void add(const std::string& label, const std::string& text) { rows.emplace_back(label, text); }
};

/// Prints the set-up and the report as a table on stdout, or, with --json, the table on
/// stderr and exactly one JSON object ({header..., "protocol", results...}) on stdout.
void emit(const EvalSetup& s, const EvalReport& report, bool json);

/// "12.34%", "0.1235", "1e-07"-style helpers.
std::string percent(double value);
std::string fixed(double value, int digits);
std::string number(double value);

}  // namespace protoclr::cli
