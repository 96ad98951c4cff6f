#include <iomanip>
#include <iostream>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "protoclr/data/dataset.h"

namespace protoclr::cli {
namespace {

struct InspectArgs {
  std::string path;
  std::string split = "train";
  int64_t limit = 0;
  uint64_t seed = 0;
  int threads = 0;
  bool json = false;
};

void print_report(const data::DatasetReport& r) {
  std::cout << "path     " << r.path << "\n"
            << "format   " << r.format << "\n"
            << "images   " << r.images << "\n"
            << "classes  " << r.classes.size() << "\n";
  if (r.images > 0) {
    std::cout << std::fixed << std::setprecision(1) << "width    min " << r.min_width << ", mean "
              << r.mean_width << ", max " << r.max_width << "\n"
              << "height   min " << r.min_height << ", mean " << r.mean_height << ", max "
              << r.max_height << "\n";
  }
  if (!r.class_counts.empty()) {
    std::cout << "\n  label  images  class\n";
    for (size_t c = 0; c < r.classes.size(); ++c)
      std::cout << "  " << std::setw(5) << c << "  " << std::setw(6) << r.class_counts[c] << "  "
                << r.classes[c] << "\n";
  }
  std::cout << "\nunreadable  " << r.unreadable.size() << "\n";
  for (const auto& name : r.unreadable) std::cout << "  " << name << "\n";
}

nlohmann::json to_json(const data::DatasetReport& r) {
  return {{"path", r.path},           {"format", r.format},         {"images", r.images},
          {"classes", r.classes},     {"class_counts", r.class_counts},
          {"min_width", r.min_width}, {"max_width", r.max_width},   {"mean_width", r.mean_width},
          {"min_height", r.min_height}, {"max_height", r.max_height}, {"mean_height", r.mean_height},
          {"unreadable", r.unreadable}};
}

}  // namespace

void add_data_command(CLI::App& app) {
  auto* data_cmd = app.add_subcommand("data", "Look at datasets");
  data_cmd->require_subcommand(1);
  auto args = std::make_shared<InspectArgs>();
  auto* inspect = data_cmd->add_subcommand(
      "inspect", "Format, image count, classes with counts, sizes and every unreadable file");
  inspect->add_option("path", args->path,
                      std::string("Dataset path (default: ") + data::kDefaultDataset + ")");
  inspect->add_option("--split", args->split, "train or test, for IDX and CIFAR folders")
      ->capture_default_str();
  inspect->add_option("--limit", args->limit, "Class-balanced subset of about N images (0 = all)")->check(non_negative());
  inspect->add_option("--seed", args->seed, "Seed of the --limit subset")->capture_default_str();
  inspect->add_option("--threads", args->threads, "Decoding threads (0 = all)")->check(non_negative());
  inspect->add_flag("--json", args->json, "Print one JSON object instead of the table");
  inspect->callback([args] {
    data::DatasetOptions options;
    options.split = args->split;
    options.limit = args->limit;
    options.seed = args->seed;
    const std::string path = args->path.empty() ? data::kDefaultDataset : args->path;
    auto dataset = data::open_dataset(path, options);
    const auto report = data::inspect_dataset(*dataset, path, args->threads);
    if (args->json) {
      std::cout << to_json(report).dump() << "\n";
    } else {
      print_report(report);
    }
  });
}

}  // namespace protoclr::cli
