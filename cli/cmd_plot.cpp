// `protoclr plot RUN...`: redraws the training curves of run folders (the trainer also
// redraws them after every epoch).
#include <iostream>

#include "commands.h"
#include "protoclr/train/curves.h"

namespace protoclr::cli {

void add_plot_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("plot", "Draw a run's training curves (loss, accuracies) as RUN/curves.png");
  auto runs = std::make_shared<std::vector<std::string>>();
  cmd->add_option("run", *runs, "Run folders (with metrics.jsonl)")->required();
  cmd->callback([runs] {
    for (const auto& run : *runs) std::cout << train::write_training_curves(run) << "\n";
  });
}

}  // namespace protoclr::cli
