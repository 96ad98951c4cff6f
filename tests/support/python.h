#pragma once
// Running the PyTorch reference scripts of the equivalence tests: /usr/bin/python3 with torch
// and torchvision (CI installs them with scripts/setup.sh --with-python; elsewhere the tests
// skip, in CI they fail).
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "support/temp_dir.h"

namespace protoclr::test_support {

inline const char* kPython = "/usr/bin/python3";

/// A file of the source tree (ctest sets PROTOCLR_SOURCE_DIR).
inline std::string source_path(const std::string& relative) {
  const char* src = std::getenv("PROTOCLR_SOURCE_DIR");
  return (std::filesystem::path(src ? src : ".") / relative).string();
}

/// Runs `kPython script args`; returns its exit status and fills `output` (stdout + stderr).
inline int run_python(const std::string& script, const std::string& args, std::string* output) {
  TempDir dir;
  const auto log = (dir.path() / "log.txt").string();
  const int status = std::system((std::string(kPython) + " " + script + " " + args + " > " + log + " 2>&1").c_str());
  std::ifstream in(log);
  std::stringstream ss;
  ss << in.rdbuf();
  *output = ss.str();
  return status;
}

/// Whether kPython imports `modules` ("torch, torchvision").
inline bool have_python_modules(const std::string& modules) {
  return std::system((std::string(kPython) + " -c 'import " + modules + "' > /dev/null 2>&1").c_str()) == 0;
}

inline bool have_torch() {
  static const bool ok = have_python_modules("torch, torchvision");
  return ok;
}

}  // namespace protoclr::test_support

/// Skips the test without the modules (scripts/setup.sh --with-python installs them); fails in CI.
#define REQUIRE_PYTHON_MODULES(modules, have)                                                            \
  do {                                                                                                   \
    if (!(have)) {                                                                                       \
      if (std::getenv("CI")) FAIL() << "CI must have /usr/bin/python3 with " modules " (setup.sh --with-python)"; \
      GTEST_SKIP() << "needs /usr/bin/python3 with " modules ": run scripts/setup.sh --with-python";     \
    }                                                                                                    \
  } while (0)

#define REQUIRE_TORCH() REQUIRE_PYTHON_MODULES("torch and torchvision", ::protoclr::test_support::have_torch())
