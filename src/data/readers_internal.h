#pragma once
/// Helpers shared by the dataset readers (private to src/data).
#include <cstddef>
#include <functional>

namespace protoclr::data::detail {

/// `threads` > 0, else the hardware thread count; never more than `work` (at least 1).
int resolve_threads(int threads, size_t work);

/// Runs body(i) for i in [0, n) on `threads` threads (0 = all hardware threads), handing the
/// first exception back to the caller after all threads have joined.
void parallel_for(size_t n, int threads, const std::function<void(size_t)>& body);

}  // namespace protoclr::data::detail
