#pragma once
/// One small logger for the library: levels, stderr, quiet on non-zero ranks. Library code
/// never prints with printf/cout; the CLI owns stdout (tables, --json).
#include <string>

#include "protoclr/core/error.h"

namespace protoclr::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kQuiet = 4 };

/// Messages below `level` are dropped. Default kInfo; PROTOCLR_LOG=debug|info|warn|quiet.
void set_level(Level level);
Level level();
/// A distributed run calls this with its rank; only rank 0 prints info and below.
void set_rank(int rank);

void write(Level level, const std::string& message);
/// Rewrites the current terminal line (progress); a plain line when stderr is not a tty.
void progress(const std::string& line);
/// Ends a progress line so the next message starts on a fresh line.
void progress_done();

template <typename... Args>
void debug(const Args&... args) { if (level() <= Level::kDebug) write(Level::kDebug, detail::concat(args...)); }
template <typename... Args>
void info(const Args&... args) { if (level() <= Level::kInfo) write(Level::kInfo, detail::concat(args...)); }
template <typename... Args>
void warn(const Args&... args) { if (level() <= Level::kWarn) write(Level::kWarn, detail::concat(args...)); }

}  // namespace protoclr::log
