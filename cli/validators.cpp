// Flag validators with messages a user can act on (CLI11's PositiveNumber prints the
// largest double as its upper bound).
#include <cmath>
#include <sstream>

#include "commands.h"

namespace protoclr::cli {
namespace {

std::string text(double v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

/// Accepts numbers x with `ok(x)`; otherwise "<what> (got <value>)".
CLI::Validator number_check(std::function<bool(double)> ok, const std::string& what, const std::string& name) {
  return CLI::Validator(
      [ok, what](std::string& value) -> std::string {
        double x = 0;
        if (!CLI::detail::lexical_cast(value, x) || !std::isfinite(x)) return "expected a number (got '" + value + "')";
        return ok(x) ? std::string() : what + " (got " + value + ")";
      },
      name);
}

}  // namespace

CLI::Validator positive() { return number_check([](double x) { return x > 0; }, "must be positive", "POSITIVE"); }

CLI::Validator non_negative() {
  return number_check([](double x) { return x >= 0; }, "must be 0 or more", "NON-NEGATIVE");
}

CLI::Validator at_least(double lo) {
  return number_check([lo](double x) { return x >= lo; }, "must be at least " + text(lo), ">=" + text(lo));
}

CLI::Validator between(double lo, double hi) {
  return number_check([lo, hi](double x) { return x >= lo && x <= hi; },
                      "must be in [" + text(lo) + ", " + text(hi) + "]", "[" + text(lo) + ", " + text(hi) + "]");
}

}  // namespace protoclr::cli
