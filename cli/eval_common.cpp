#include "eval_common.h"

#include <cstdio>
#include <iostream>
#include <sstream>

#include "commands.h"
#include "protoclr/run/environment.h"
#include "protoclr/core/error.h"
#include "protoclr/model/memory_format.h"

namespace protoclr::cli {

void add_eval_flags(CLI::App* cmd, EvalFlags& f, Splits splits, const std::string& default_layer) {
  f.layer = default_layer;
  cmd->add_option("--checkpoint", f.checkpoint, "protoclr checkpoint (run folder or file; see `protoclr import`)");
  cmd->add_flag("--random-init", f.random_init, "Evaluate the same architecture untrained (seeded by --seed)");
  cmd->add_option("--encoder", f.encoder, "query (encoder_q, as the published evaluation) or key")
      ->check(CLI::IsMember({"query", "key"}))->capture_default_str();
  cmd->add_option("--arch", f.arch, "With --random-init and no --checkpoint: resnet18, resnet34 or resnet50")
      ->check(CLI::IsMember({"resnet18", "resnet34", "resnet50"}))->capture_default_str();
  cmd->add_flag("--cifar-stem", f.cifar_stem, "With --random-init and no --checkpoint: 3x3 stride-1 stem");
  if (splits == Splits::kTrainTest) {
    cmd->add_option("--train", f.train, "Labelled training images (default: the checkpoint's --data)");
    cmd->add_option("--train-split", f.train_split, "Split of --train for IDX / CIFAR binaries")->capture_default_str();
    cmd->add_option("--test", f.test, "Labelled test images (default: the test split of --train)");
    cmd->add_option("--test-split", f.test_split, "Split of --test for IDX / CIFAR binaries")->capture_default_str();
    cmd->add_option("--limit", f.limit, "Class-balanced subset of about N images of every split (0 = all)")
        ->check(non_negative());
    cmd->add_option("--train-limit", f.train_limit, "Overrides --limit for the training split")->check(non_negative());
    cmd->add_option("--test-limit", f.test_limit, "Overrides --limit for the test split")->check(non_negative());
  } else {
    cmd->add_option("--data", f.test, "Images (default: the test split of the checkpoint's --data)");
    cmd->add_option("--split", f.test_split, "Split of --data for IDX / CIFAR binaries")->capture_default_str();
    cmd->add_option("--limit", f.limit, "Class-balanced subset of about N images (0 = all)")->check(non_negative());
  }
  cmd->add_option("--layer", f.layer, "pool (backbone output) or embedding (normalised head output)")
      ->check(CLI::IsMember({"pool", "embedding"}))->capture_default_str();
  cmd->add_option("--image-size", f.image_size, "Evaluation crop size (0 = the checkpoint's training size)")
      ->check(non_negative());
  cmd->add_option("--batch-size", f.batch_size, "Images per forward pass when extracting")
      ->check(positive())->capture_default_str();
  cmd->add_option("--workers", f.workers, "Loader threads (0 = all)")->check(non_negative());
  cmd->add_option("--threads", f.threads, "Compute threads (0 = all)")->check(non_negative());
  cmd->add_option("--device", f.device, "cpu or cuda[:N]")->capture_default_str();
  cmd->add_flag("--bf16", f.bf16, "bf16 autocast for the network");
  cmd->add_option("--channels-last", f.channels_last, "NHWC memory format (true/false)")->capture_default_str();
  cmd->add_option("--seed", f.seed, "Seed of subsets, initialisation and sampling")->capture_default_str();
  cmd->add_flag("--json", f.json, "Print one JSON object on stdout (the table goes to stderr)");
}

namespace {

std::shared_ptr<data::Dataset> open_split(const std::string& path, const std::string& split, int64_t limit,
                                          uint64_t seed) {
  data::DatasetOptions o;
  o.split = split;
  o.limit = limit;
  o.seed = seed;
  return data::open_dataset(path, o);
}

bool has_splits(const std::string& format) {
  return format == "idx" || format == "cifar10" || format == "cifar100" || format == "voc";
}

nlohmann::ordered_json describe(const std::string& path, const std::string& split, const data::Dataset& d) {
  nlohmann::ordered_json j{{"path", path.empty() ? std::string(data::kDefaultDataset) : path},
                           {"format", d.format()},
                           {"images", d.size()},
                           {"classes", d.classes().size()}};
  if (has_splits(d.format())) j["split"] = split;
  return j;
}

}  // namespace

eval::NetworkChoice network_choice(const EvalFlags& f) {
  eval::NetworkChoice choice;
  choice.checkpoint = f.checkpoint;
  choice.role = f.encoder == "key" ? eval::EncoderRole::kKey : eval::EncoderRole::kQuery;
  choice.random_init = f.random_init;
  choice.seed = f.seed;
  choice.arch = f.arch;
  choice.cifar_stem = f.cifar_stem;
  return choice;
}

EvalSetup make_network_setup(const EvalFlags& f) {
  run::set_threads(f.threads);
  EvalSetup s;
  s.device = torch::Device(f.device);
  s.network = network_choice(f);
  s.net = eval::load_network(s.network);
  s.net.encoder->to(s.device);
  if (f.channels_last) model::to_channels_last(*s.net.encoder);

  s.extract.layer = f.layer == "pool" ? features::FeatureLayer::kPool : features::FeatureLayer::kEmbedding;
  s.extract.image_size = f.image_size > 0 ? f.image_size : s.net.config.image_size;
  s.extract.batch_size = f.batch_size;
  s.extract.workers = f.workers;
  s.extract.device = s.device;
  s.extract.channels_last = f.channels_last;
  s.extract.bf16 = f.bf16;

  nlohmann::ordered_json net{{"checkpoint", s.net.random_init && f.checkpoint.empty() ? "" : s.net.source},
                             {"random_init", s.net.random_init},
                             {"encoder", f.encoder},
                             {"arch", s.net.config.arch},
                             {"cifar_stem", s.net.config.cifar_stem},
                             {"epochs_trained", s.net.epoch},
                             {"layer", f.layer},
                             {"image_size", s.extract.image_size}};
  if (s.net.random_init) net["seed"] = f.seed;
  s.header["network"] = net;  // first in the JSON output
  return s;
}

EvalSetup make_eval_setup(const EvalFlags& f, Splits splits) {
  EvalSetup s = make_network_setup(f);
  // Data: by default the data the network was trained on, its test split for testing.
  const std::string& trained_on = s.net.config.data;
  if (splits == Splits::kTrainTest) {
    const std::string train_path = f.train.empty() ? trained_on : f.train;
    s.train = open_split(train_path, f.train_split, f.train_limit ? f.train_limit : f.limit, f.seed);
    std::string test_path = f.test;
    if (test_path.empty()) {
      PROTOCLR_CHECK(has_splits(s.train->format()), "--test is needed: '", train_path, "' (", s.train->format(),
                     ") holds one split only");
      test_path = train_path;
    }
    s.test = open_split(test_path, f.test_split, f.test_limit ? f.test_limit : f.limit, f.seed);
    PROTOCLR_CHECK(!(test_path == train_path && f.test_split == f.train_split), "the test split is the training split ('",
                   test_path, "', ", f.test_split, "): give --test or --test-split");
    s.header["train"] = describe(train_path, f.train_split, *s.train);
    s.header["test"] = describe(test_path, f.test_split, *s.test);
  } else {
    const std::string path = f.test.empty() ? trained_on : f.test;
    s.test = open_split(path, f.test_split, f.limit, f.seed);
    s.header["data"] = describe(path, f.test_split, *s.test);
  }
  return s;
}

features::DatasetFeatures extract(EvalSetup& s, const std::shared_ptr<data::Dataset>& dataset, const std::string& what) {
  auto options = s.extract;
  options.progress_label = "features (" + what + ")";
  return features::extract_features(s.net.encoder, dataset, options);
}

std::string percent(double value) { return fixed(value, 2) + "%"; }

std::string fixed(double value, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, value);
  return buf;
}

std::string number(double value) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%g", value);
  return buf;
}

void emit(const EvalSetup& s, const EvalReport& report, bool json) {
  std::ostringstream table;
  const auto& net = s.header.at("network");
  table << report.title << "\n";
  table << "  network   " << net.at("arch").get<std::string>() << (net.at("cifar_stem").get<bool>() ? " (CIFAR stem)" : "")
        << ", " << (s.net.random_init ? "random init" : s.net.source + " (epoch " + std::to_string(s.net.epoch) + ")")
        << ", " << net.at("encoder").get<std::string>() << " encoder, " << net.at("layer").get<std::string>()
        << " features at " << net.at("image_size").get<int64_t>() << " px\n";
  for (const char* split : {"train", "test", "data"}) {
    if (!s.header.contains(split)) continue;
    const auto& d = s.header.at(split);
    table << "  " << split << std::string(10 - std::string(split).size(), ' ') << d.at("path").get<std::string>()
          << (d.contains("split") ? " [" + d.at("split").get<std::string>() + "]" : "") << ", "
          << d.at("images").get<size_t>() << " images\n";
  }
  size_t width = 0;
  for (const auto& [label, text] : report.rows) width = std::max(width, label.size());
  table << "\n";
  for (const auto& [label, text] : report.rows)
    table << "  " << label << std::string(width - label.size() + 2, ' ') << text << "\n";
  if (json) {
    std::cerr << table.str() << std::flush;
    nlohmann::ordered_json out = s.header;
    for (auto& [k, v] : report.json.items()) out[k] = v;
    std::cout << out.dump() << std::endl;
  } else {
    std::cout << table.str() << std::flush;
  }
}

}  // namespace protoclr::cli
