#pragma once
/// Images that could not be read in this process. A corrupt file is met by every loader that
/// passes over it (each epoch's E-step, the kNN monitor, every probe); it is named once, the
/// first time, and counted, so a run warns about it once however long it lasts.
#include <cstdint>
#include <string>
#include <vector>

namespace protoclr::data {

/// Records that `name` could not be read (`reason`: the reader's message). The first time a
/// name is seen it is logged as a warning (the first kMaxNamedUnreadable names; later ones
/// are counted). Thread-safe.
void report_unreadable(const std::string& name, const std::string& reason);

/// Every name reported so far, in the order first seen.
std::vector<std::string> unreadable_images();

/// Names logged individually before the rest are only counted.
inline constexpr int64_t kMaxNamedUnreadable = 20;

/// One warning line with the count of unreadable images (nothing when there are none), for
/// the end of a command: "3 images could not be read and were left out ...".
void warn_unreadable_summary();

/// Forgets every report (tests).
void clear_unreadable();

}  // namespace protoclr::data
