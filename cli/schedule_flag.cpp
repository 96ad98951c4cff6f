// --schedule, shared by `train` and `eval linear`: "cosine", or step milestones "120,160";
// and the comma lists they are written as.
#include "commands.h"

namespace protoclr::cli {

std::string comma_list(const std::vector<int64_t>& values) {
  std::string text;
  for (int64_t v : values) text += (text.empty() ? "" : ",") + std::to_string(v);
  return text;
}

CLI::Option* add_schedule_option(CLI::App* cmd, std::string& schedule, std::vector<int64_t>& milestones,
                                 const std::string& help) {
  auto parse = [&schedule, &milestones](const std::vector<std::string>& parts) {
    if (parts.size() == 1 && parts[0] == "cosine") {
      schedule = "cosine";
      return;
    }
    schedule = "step";
    milestones.clear();
    for (const auto& part : parts) {
      int64_t epoch = 0;
      if (part == "cosine" || !CLI::detail::lexical_cast(part, epoch))
        throw CLI::ValidationError("--schedule", "give cosine alone, or step milestones such as 120,160");
      milestones.push_back(epoch);
    }
  };
  return cmd->add_option_function<std::vector<std::string>>("--schedule", parse, help)
      ->delimiter(',')
      ->check(CLI::Validator(
          [](std::string& part) -> std::string {
            int64_t epoch = 0;
            if (part == "cosine" || (CLI::detail::lexical_cast(part, epoch) && epoch > 0)) return "";
            return "expected cosine, or step milestones such as 120,160 (got '" + part + "')";
          },
          "cosine|EPOCH,EPOCH..."));
}

}  // namespace protoclr::cli
