#include "protoclr/data/unreadable.h"

#include <mutex>
#include <unordered_set>

#include "protoclr/core/log.h"

namespace protoclr::data {
namespace {

struct Registry {
  std::mutex mutex;
  std::vector<std::string> names;  ///< first-seen order
  std::unordered_set<std::string> seen;
};

Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace

void report_unreadable(const std::string& name, const std::string& reason) {
  auto& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  if (!r.seen.insert(name).second) return;
  r.names.push_back(name);
  const auto count = static_cast<int64_t>(r.names.size());
  if (count <= kMaxNamedUnreadable)
    log::warn("left out: ", reason,
              count == kMaxNamedUnreadable ? " (further unreadable images are only counted)" : "");
}

std::vector<std::string> unreadable_images() {
  auto& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  return r.names;
}

void warn_unreadable_summary() {
  const auto names = unreadable_images();
  if (names.empty()) return;
  log::warn(names.size(), names.size() == 1 ? " image" : " images",
            " could not be read and were left out of every feature, cluster and figure",
            static_cast<int64_t>(names.size()) > kMaxNamedUnreadable ? " (the first are named above)" : " (named above)",
            "; `protoclr data inspect` lists them");
}

void clear_unreadable() {
  auto& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.names.clear();
  r.seen.clear();
}

}  // namespace protoclr::data
