#pragma once
/// Errors a user can fix: a bad flag, a missing or corrupt file. The message is one line
/// that names the flag or file and says what to do; `main` prints it as `error: ...`.
/// Internal invariants use TORCH_INTERNAL_ASSERT instead (faiss' two tiers).
#include <sstream>
#include <stdexcept>
#include <string>

namespace protoclr {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

/// A flag value out of range, malformed or in conflict with another: `main` exits with 2, the
/// usage-error status of command-line tools, before any data is read.
class UsageError : public Error {
 public:
  using Error::Error;
};

namespace detail {
template <typename... Args>
std::string concat(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}
}  // namespace detail

/// Throws protoclr::Error with the streamed arguments when `cond` is false.
#define PROTOCLR_CHECK(cond, ...)                                  \
  do {                                                             \
    if (!(cond)) throw ::protoclr::Error(::protoclr::detail::concat(__VA_ARGS__)); \
  } while (0)

}  // namespace protoclr
