#pragma once
/// Training curves of a run folder, drawn from its metrics.jsonl: the trainer redraws them
/// after every epoch, `protoclr plot RUN` on demand.
#include <string>

namespace protoclr::train {

/// Writes RUN/curves.png: the loss per epoch above, the accuracies per epoch below (Acc@Inst,
/// Acc@Proto and, when the run had a kNN monitor, kNN top-1). Returns the file's path;
/// throws Error when the run has no epoch yet.
std::string write_training_curves(const std::string& run_dir);

}  // namespace protoclr::train
