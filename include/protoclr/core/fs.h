#pragma once
/// File helpers: whole-file reads and crash-safe writes.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace protoclr {

/// Reads a whole file; throws Error naming the path when it cannot.
std::vector<uint8_t> read_file(const std::filesystem::path& path);

/// Writes `path` atomically: `write` fills a temporary file beside it, which is flushed,
/// fsync'ed and renamed over `path`, so a kill never leaves a half-written file.
void write_file_atomic(const std::filesystem::path& path,
                       const std::function<void(const std::filesystem::path& tmp)>& write);
void write_file_atomic(const std::filesystem::path& path, const std::string& bytes);

/// Lower-case extension with the dot (".jpg"), for format detection.
std::string lower_extension(const std::filesystem::path& path);

}  // namespace protoclr
