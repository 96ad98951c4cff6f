// The c10d layer (dist/group.h) with Gloo over loopback: ranks as threads of one process.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "protoclr/core/error.h"
#include "protoclr/dist/group.h"
#include "support/error_of.h"
#include "support/thread_ranks.h"

namespace pd = protoclr::dist;
using protoclr::test_support::error_of;
using protoclr::test_support::run_ranks;

namespace {

#define SKIP_WITHOUT_GLOO()                                                        \
  if (!pd::backend_available(pd::Backend::kGloo)) GTEST_SKIP() << "built without Gloo"

TEST(Group, OneProcessIsFreeAndLeavesTensorsAlone) {
  pd::Group group;
  EXPECT_EQ(group.rank(), 0);
  EXPECT_EQ(group.size(), 1);
  torch::Tensor t = torch::arange(6, torch::kFloat);
  group.all_reduce_sum(t);
  group.broadcast(t, 0);
  group.barrier();
  EXPECT_TRUE(t.equal(torch::arange(6, torch::kFloat)));
  EXPECT_TRUE(group.all_gather_rows(t.view({3, 2})).equal(t.view({3, 2})));
  EXPECT_EQ(group.all_gather_value(7), std::vector<int64_t>{7});
  EXPECT_EQ(group.traffic().total(), 0u);
}

TEST(Group, CollectivesOfThreeRanksAgree) {
  SKIP_WITHOUT_GLOO();
  run_ranks(3, [](pd::Group& group) {
    const int r = group.rank();
    // Sum: rank r contributes (r + 1) * [0, 1, ..., 4].
    torch::Tensor t = torch::arange(5, torch::kFloat) * (r + 1);
    group.all_reduce_sum(t);
    EXPECT_TRUE(t.equal(torch::arange(5, torch::kFloat) * 6)) << "rank " << r;
    // A bucket of two dtypes' worth of shapes, as gradients are reduced.
    std::vector<torch::Tensor> bucket{torch::full({2, 3}, 1.0 + r), torch::full({4}, 10.0 * r)};
    group.all_reduce_sum(bucket);
    EXPECT_TRUE(bucket[0].equal(torch::full({2, 3}, 6.0)));
    EXPECT_TRUE(bucket[1].equal(torch::full({4}, 30.0)));
    // Broadcast from rank 2.
    torch::Tensor b = torch::full({3}, static_cast<double>(r), torch::kLong);
    group.broadcast(b, 2);
    EXPECT_TRUE(b.equal(torch::full({3}, 2, torch::kLong)));
    // Gathers, equal and unequal row counts, in rank order.
    EXPECT_TRUE(group.all_gather(torch::full({1, 2}, r, torch::kInt)).equal(
        torch::tensor({0, 0, 1, 1, 2, 2}, torch::kInt).view({3, 2})));
    const torch::Tensor rows = group.all_gather_rows(torch::full({r, 2}, r + 1.0));
    EXPECT_TRUE(rows.equal(torch::tensor({2.0, 2.0, 3.0, 3.0, 3.0, 3.0}).view({3, 2})));
    EXPECT_EQ(group.all_gather_value(100 + r), (std::vector<int64_t>{100, 101, 102}));
    group.barrier();
    // Counted: an all-reduce of 20 bytes sends 2 * 2/3 of it from each rank.
    EXPECT_GT(group.traffic().all_reduce_bytes, 0u);
  });
}

TEST(Group, ShardsCoverTheRowsOnceInRankOrder) {
  for (int size : {1, 2, 3, 7}) {
    int64_t next = 0;
    for (int r = 0; r < size; ++r) {
      const pd::Shard s = pd::shard_of(20, r, size);
      EXPECT_EQ(s.begin, next);
      EXPECT_GE(s.size(), 20 / size);
      EXPECT_LE(s.size(), 20 / size + 1);
      next = s.end;
    }
    EXPECT_EQ(next, 20);
  }
}

TEST(Group, ARankThatNeverArrivesFailsThePeerWithinTheTimeoutNamingIt) {
  SKIP_WITHOUT_GLOO();
  pd::GroupOptions options;
  options.timeout = std::chrono::milliseconds(1500);
  const auto store = pd::Group::in_memory_store();
  const auto start = std::chrono::steady_clock::now();
  // Rank 1 of 2 never joins.
  const std::string message = error_of([&] { pd::Group::on_store(store, 0, 2, options); });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_NE(message.find("rank 0 of 2"), std::string::npos) << message;
  EXPECT_NE(message.find("rank 1 did not arrive within 1.5 s"), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  EXPECT_LT(seconds, 30.0);
}

// Catches: a survivor that says only "another rank stopped" when no launcher of ours watched
// the processes (torchrun, a scheduler): the heartbeats in the store name the one gone.
TEST(Group, ACollectiveAfterAPeerLeftNamesThatPeer) {
  SKIP_WITHOUT_GLOO();
  pd::GroupOptions options;
  options.timeout = std::chrono::milliseconds(10'000);
  const auto store = pd::Group::in_memory_store();
  std::thread leaver([&] { pd::Group::on_store(store, 1, 2, options); });  // joins, then leaves at once
  const auto group = pd::Group::on_store(store, 0, 2, options);
  leaver.join();
  const auto start = std::chrono::steady_clock::now();
  torch::Tensor t = torch::ones({4});
  const std::string message = error_of([&] { group->all_reduce_sum(t); });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_NE(message.find("rank 0 of 2: all_reduce failed"), std::string::npos) << message;
  EXPECT_NE(message.find("(rank 1 stopped: see its log)"), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  EXPECT_LT(seconds, 20.0);
}

TEST(LaunchInfo, ReadsTorchrunVariablesAndRejectsBadOnes) {
  ::setenv("WORLD_SIZE", "4", 1);
  ::setenv("RANK", "3", 1);
  ::setenv("LOCAL_RANK", "1", 1);
  ::setenv("MASTER_ADDR", "node7", 1);
  ::setenv("MASTER_PORT", "1234", 1);
  pd::LaunchInfo info = pd::LaunchInfo::from_environment();
  EXPECT_EQ(info.world_size, 4);
  EXPECT_EQ(info.rank, 3);
  EXPECT_EQ(info.local_rank, 1);
  EXPECT_EQ(info.master_addr, "node7");
  EXPECT_EQ(info.master_port, 1234);
  ::setenv("RANK", "4", 1);
  EXPECT_NE(error_of([] { pd::LaunchInfo::from_environment(); }).find("RANK=4"), std::string::npos);
  ::setenv("RANK", "1", 1);
  ::setenv("MASTER_PORT", "http", 1);
  EXPECT_NE(error_of([] { pd::LaunchInfo::from_environment(); }).find("MASTER_PORT=http"), std::string::npos);
  for (const char* name : {"WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"}) ::unsetenv(name);
  info = pd::LaunchInfo::from_environment();
  EXPECT_FALSE(info.distributed());
  EXPECT_EQ(info.rank, 0);
}

}  // namespace
