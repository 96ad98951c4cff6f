#include "protoclr/core/progress.h"

#include <cstdio>

#include "protoclr/core/error.h"

namespace protoclr {

std::string format_duration(double seconds) {
  const long s = static_cast<long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, (s % 3600) / 60);
  else if (s >= 60) std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%lds", s);
  return buf;
}

JsonLinesWriter::JsonLinesWriter(const std::string& path, bool truncate)
    : out_(path, truncate ? std::ios::trunc : std::ios::app), path_(path) {
  PROTOCLR_CHECK(out_, "cannot open '", path, "' for writing (check the --out folder)");
}

void JsonLinesWriter::write(const nlohmann::json& record) {
  out_ << record.dump() << '\n';
  out_.flush();
  PROTOCLR_CHECK(out_, "cannot write to '", path_, "' (disk full?)");
}

}  // namespace protoclr
