#include "protoclr/core/log.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace protoclr::log {
namespace {

Level initial_level() {
  const char* env = std::getenv("PROTOCLR_LOG");
  if (!env) return Level::kInfo;
  if (!std::strcmp(env, "debug")) return Level::kDebug;
  if (!std::strcmp(env, "warn")) return Level::kWarn;
  if (!std::strcmp(env, "quiet")) return Level::kQuiet;
  return Level::kInfo;
}

Level g_level = initial_level();
int g_rank = 0;
bool g_in_progress = false;
std::mutex g_mutex;
// Without a terminal (logs, CI), a progress line is written at most this often.
constexpr auto kPlainProgressPeriod = std::chrono::seconds(10);
std::chrono::steady_clock::time_point g_last_plain_progress{};

}  // namespace

void set_level(Level level) { g_level = level; }
Level level() { return g_rank == 0 ? g_level : std::max(g_level, Level::kWarn); }
void set_rank(int rank) { g_rank = rank; }

void write(Level lvl, const std::string& message) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_in_progress) { std::fputc('\n', stderr); g_in_progress = false; }
  const char* prefix = lvl == Level::kWarn ? "warning: " : lvl == Level::kError ? "error: " : "";
  std::fprintf(stderr, "%s%s\n", prefix, message.c_str());
}

void progress(const std::string& line) {
  if (level() > Level::kInfo) return;
  std::lock_guard<std::mutex> lock(g_mutex);
  if (isatty(STDERR_FILENO)) {
    std::fprintf(stderr, "\r%s\033[K", line.c_str());
    g_in_progress = true;
  } else {
    const auto now = std::chrono::steady_clock::now();
    if (now - g_last_plain_progress < kPlainProgressPeriod) return;
    g_last_plain_progress = now;
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  std::fflush(stderr);
}

void progress_done() {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_in_progress) { std::fputc('\n', stderr); g_in_progress = false; }
}

}  // namespace protoclr::log
