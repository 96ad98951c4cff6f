#include <exception>
#include <iostream>

#include <c10/util/Exception.h>

#include "commands.h"
#include "protoclr/core/error.h"
#include "protoclr/data/unreadable.h"
#include "protoclr/run/environment.h"

int main(int argc, char** argv) {
  CLI::App app{"protoclr: Prototypical Contrastive Learning (PCL) in C++"};
  app.require_subcommand(1);
  // What the numbers depend on, for bug reports and benchmark records.
  app.set_version_flag("--version", [] {
    std::string text = std::string("protoclr ") + PROTOCLR_VERSION;
    const nlohmann::json environment = protoclr::run::runtime_environment();
    for (const auto& [key, value] : environment.items())
      text += "\n" + key + ": " + (value.is_string() ? value.get<std::string>() : value.dump());
    return text;
  });
  protoclr::cli::add_data_command(app);
  protoclr::cli::add_train_command(app);
  protoclr::cli::add_quickstart_command(app);
  protoclr::cli::add_extract_command(app);
  protoclr::cli::add_eval_command(app);
  protoclr::cli::add_plot_command(app);
  protoclr::cli::add_import_command(app);
  protoclr::cli::add_export_command(app);
  protoclr::cli::add_collection_commands(app);
  try {
    app.parse(argc, argv);
    protoclr::data::warn_unreadable_summary();
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; a malformed or out-of-range flag is a usage error: one
    // line, status 2.
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);
    std::cerr << "error: " << e.what() << " (see --help)\n";
    return 2;
  } catch (const protoclr::cli::ExitStatus& status) {
    protoclr::data::warn_unreadable_summary();
    return status.code;
  } catch (const protoclr::UsageError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  } catch (const protoclr::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  } catch (const c10::Error& e) {
    std::cerr << "error: " << e.what_without_backtrace() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
