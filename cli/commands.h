#pragma once
// Each command registers its flags on the shared CLI11 app and sets its callback; commands
// only parse flags into the library's options structs and call the library.
#include <cstdint>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace protoclr::cli {

void add_data_command(CLI::App& app);
void add_train_command(CLI::App& app);
void add_quickstart_command(CLI::App& app);
void add_extract_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_plot_command(CLI::App& app);
void add_import_command(CLI::App& app);
void add_export_command(CLI::App& app);
/// clusters, index, search, dedupe (cmd_collection.cpp).
void add_collection_commands(CLI::App& app);

/// {120, 160} -> "120,160": how lists are written on the command line.
std::string comma_list(const std::vector<int64_t>& values);

/// Number checks for flags, with messages that say what is wrong ("--lr: must be positive
/// (got 0)"). Each also applies to every item of a comma-separated list.
CLI::Validator positive();
CLI::Validator non_negative();
CLI::Validator at_least(double lo);
CLI::Validator between(double lo, double hi);

/// --schedule: "cosine" sets `schedule` to cosine; step milestones "120,160" set it to step
/// and fill `milestones` (positive integers, checked by CLI11).
CLI::Option* add_schedule_option(CLI::App* cmd, std::string& schedule, std::vector<int64_t>& milestones,
                                 const std::string& help);

/// Thrown by a command that ends with a status of its own (a preempted run: 128 + signal);
/// `main` returns `code` after the command's own message.
struct ExitStatus {
  int code = 1;
};

}  // namespace protoclr::cli
