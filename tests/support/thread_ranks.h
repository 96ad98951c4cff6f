#pragma once
// Several ranks of one process group as threads of the test process, on one in-memory c10d
// store (as c10d's own C++ tests run Gloo): every rank runs `body(group)`; the first failure
// of any rank fails the test.
#include <gtest/gtest.h>

#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "protoclr/dist/group.h"

namespace protoclr::test_support {

inline void run_ranks(int world, const std::function<void(dist::Group&)>& body,
                      dist::GroupOptions options = {}) {
  const auto store = dist::Group::in_memory_store();
  std::mutex mutex;
  std::vector<std::string> failures;
  std::vector<std::thread> threads;
  for (int rank = 0; rank < world; ++rank) {
    threads.emplace_back([&, rank] {
      try {
        const auto group = dist::Group::on_store(store, rank, world, options);
        body(*group);
      } catch (const std::exception& error) {
        std::lock_guard<std::mutex> lock(mutex);
        failures.push_back("rank " + std::to_string(rank) + ": " + error.what());
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (const auto& failure : failures) ADD_FAILURE() << failure;
}

}  // namespace protoclr::test_support
