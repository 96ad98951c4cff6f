#pragma once
/// Progress for long work: throughput, ETA, and metrics as JSON lines.
#include <chrono>
#include <cstdint>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

namespace protoclr {

/// Tracks items done out of a total and formats "12.3 img/s, ETA 1m02s".
class Throughput {
 public:
  explicit Throughput(int64_t total = 0) : total_(total), start_(Clock::now()) {}
  void reset(int64_t total) { total_ = total; done_ = 0; start_ = Clock::now(); }
  void add(int64_t items) { done_ += items; }
  int64_t done() const { return done_; }
  double seconds() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }
  double per_second() const { const double s = seconds(); return s > 0 ? done_ / s : 0.0; }
  /// Seconds left at the current rate (0 when unknown).
  double eta_seconds() const { const double r = per_second(); return r > 0 && total_ > done_ ? (total_ - done_) / r : 0.0; }

 private:
  using Clock = std::chrono::steady_clock;
  int64_t total_ = 0;
  int64_t done_ = 0;
  Clock::time_point start_;
};

/// "1h02m", "3m05s", "42s".
std::string format_duration(double seconds);

/// Appends one JSON object per line to a file, flushed after each line so a killed run
/// keeps every finished record.
class JsonLinesWriter {
 public:
  JsonLinesWriter() = default;
  /// Opens `path` for appending (truncate = true starts it anew).
  JsonLinesWriter(const std::string& path, bool truncate);
  void write(const nlohmann::json& record);

 private:
  std::ofstream out_;
  std::string path_;
};

}  // namespace protoclr
