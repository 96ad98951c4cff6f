#pragma once
/// A plain thread pool for loops over independent items (image headers, SVMs): for work
/// that is not a torch op, where at::parallel_for does not apply.
#include <cstddef>
#include <functional>

namespace protoclr {

/// `threads` > 0, else the hardware thread count; never more than `work` (at least 1).
int resolve_threads(int threads, size_t work);

/// Runs body(i) for i in [0, n) on `threads` threads (0 = all hardware threads); items are
/// handed out one at a time. The first exception is rethrown on the caller's thread after
/// every thread has joined (the rest of the items are skipped).
void parallel_for(size_t n, int threads, const std::function<void(size_t)>& body);

}  // namespace protoclr
