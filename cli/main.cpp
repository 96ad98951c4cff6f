#include <exception>
#include <iostream>

#include <c10/util/Exception.h>

#include "commands.h"
#include "protoclr/core/error.h"
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
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
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
