// `protoclr extract`: features of a dataset as NumPy files, for use outside protoclr.
#include <filesystem>
#include <fstream>

#include "commands.h"
#include "eval_common.h"
#include "protoclr/core/fs.h"
#include "protoclr/eval/npy.h"

namespace protoclr::cli {

void add_extract_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("extract", "Write a dataset's features (and labels) as .npy files");
  auto f = std::make_shared<EvalFlags>();
  auto out = std::make_shared<std::string>();
  add_eval_flags(cmd, *f, Splits::kOne, "pool");
  cmd->add_option("--out", *out, "Folder for features.npy, labels.npy, classes.txt and info.json")->required();
  cmd->callback([f, out] {
    auto s = make_eval_setup(*f, Splits::kOne);
    const auto features = extract(s, s.test, "data");
    std::filesystem::create_directories(*out);
    const std::filesystem::path dir(*out);
    eval::write_npy((dir / "features.npy").string(), features.features);
    eval::write_npy((dir / "labels.npy").string(), features.labels);
    // Images that could not be read have no row; rows.npy maps each row to its dataset row.
    eval::write_npy((dir / "rows.npy").string(), features.rows);
    if (s.test->multi_label()) {  // VOC07: per-class 1 present, 0 difficult, -1 absent
      auto sets = s.test->label_sets();
      const int64_t n = static_cast<int64_t>(s.test->size()), c = static_cast<int64_t>(s.test->classes().size());
      eval::write_npy((dir / "label_sets.npy").string(),
                      torch::from_blob(sets.data(), {n, c}, torch::kChar).index_select(0, features.rows));
    }
    std::vector<std::string> unreadable;
    {
      auto readable = std::vector<uint8_t>(s.test->size(), 0);
      const int64_t* rows = features.rows.data_ptr<int64_t>();
      for (int64_t i = 0; i < features.rows.numel(); ++i) readable[static_cast<size_t>(rows[i])] = 1;
      for (size_t i = 0; i < readable.size(); ++i)
        if (!readable[i]) unreadable.push_back(s.test->name(i));
    }
    std::string classes;
    for (const auto& c : s.test->classes()) classes += c + "\n";
    write_file_atomic(dir / "classes.txt", classes);
    auto info = s.header;
    info["features"] = {{"file", "features.npy"}, {"shape", features.features.sizes().vec()}, {"dtype", "float32"}};
    info["labels"] = {{"file", "labels.npy"}, {"dtype", "int64"}, {"unlabeled", -1}};
    info["rows"] = {{"file", "rows.npy"}, {"dtype", "int64"}, {"meaning", "dataset row of each feature row"}};
    info["unreadable"] = unreadable;  // left out of every file above
    if (s.test->multi_label())
      info["label_sets"] = {{"file", "label_sets.npy"}, {"dtype", "int8"}, {"present", 1}, {"difficult", 0}, {"absent", -1}};
    info["seconds"] = features.seconds;
    write_file_atomic(dir / "info.json", info.dump(2) + "\n");
    EvalReport report{"extract: " + f->layer + " features"};
    report.add("features", (dir / "features.npy").string() + "  [" + std::to_string(features.features.size(0)) + ", " +
                               std::to_string(features.features.size(1)) + "] float32");
    report.add("labels", (dir / "labels.npy").string() + "  [" + std::to_string(features.labels.size(0)) + "] int64");
    report.add("classes", (dir / "classes.txt").string());
    if (!unreadable.empty())
      report.add("left out", std::to_string(unreadable.size()) + " unreadable images (info.json \"unreadable\")");
    report.json = {{"protocol", "extract"}, {"out", *out}, {"rows", features.features.size(0)},
                   {"dim", features.features.size(1)}, {"unreadable", unreadable.size()}, {"seconds", features.seconds}};
    emit(s, report, f->json);
  });
}

}  // namespace protoclr::cli
