// The thread pool hands out every chunk exactly once, whatever the number of
// threads (more than cores included: an oversubscribed machine is where the
// shared chunk counter matters), over many back-to-back jobs (the open/close
// protocol between jobs), and Run's slots never run twice at once.
#include <gtest/gtest.h>

#include <atomic>
#include <vector>

#include "runtime/core/thread_pool.h"

namespace kite {
namespace {

TEST(ThreadPool, EveryChunkOnceOverManyJobs) {
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    std::vector<std::atomic<int>> hits(97);
    for (int job = 0; job < 3000; ++job) {
      const int64_t chunks = 1 + job % 97;
      pool.RunChunks(chunks, [&](int64_t c) { hits[c].fetch_add(1, std::memory_order_relaxed); });
    }
    // Chunk c exists in the jobs whose size exceeds c.
    for (int64_t c = 0; c < 97; ++c) {
      int64_t expected = 0;
      for (int job = 0; job < 3000; ++job) expected += (1 + job % 97) > c ? 1 : 0;
      ASSERT_EQ(hits[c].load(), expected) << "chunk " << c << ", " << threads << " threads";
    }
  }
}

TEST(ThreadPool, ParallelForCoversTheRangeOnceInGrains) {
  ThreadPool pool(4);
  for (int64_t n : {1, 7, 64, 1000, 4097}) {
    for (int64_t grain : {1, 3, 50, 5000}) {
      std::vector<std::atomic<int>> hits(n);
      std::atomic<int64_t> short_chunks{0};
      pool.ParallelFor(n, grain, [&](int64_t b, int64_t e) {
        if (e - b < grain && e != n) short_chunks.fetch_add(1);
        for (int64_t i = b; i < e; ++i) hits[i].fetch_add(1);
      });
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "n " << n << " grain " << grain << " i " << i;
      EXPECT_EQ(short_chunks.load(), 0) << "only the last chunk may be shorter than the grain";
    }
  }
}

TEST(ThreadPool, RunGivesEachSlotOnceAndAlone) {
  ThreadPool pool(6);
  std::vector<std::atomic<int>> inside(6), runs(6);
  std::atomic<bool> overlap{false};
  for (int job = 0; job < 500; ++job) {
    pool.Run([&](int slot, int n) {
      if (n != 6) overlap.store(true);
      if (inside[slot].fetch_add(1) != 0) overlap.store(true);
      runs[slot].fetch_add(1);
      inside[slot].fetch_sub(1);
    });
  }
  EXPECT_FALSE(overlap.load());
  for (auto& r : runs) EXPECT_EQ(r.load(), 500);
}

// Pools created and destroyed around few or no jobs: the destructor must wake and join every
// worker whatever it was doing (a worker that read the stop flag late once slept forever).
TEST(ThreadPool, DestroysCleanlyAfterAnyNumberOfJobs) {
  for (int round = 0; round < 300; ++round) {
    ThreadPool pool(1 + round % 4);
    for (int job = 0; job < round % 3; ++job) pool.RunChunks(4, [](int64_t) {});
  }
  SUCCEED();
}

TEST(ThreadPool, SingleThreadRunsInline) {
  ThreadPool pool(1);
  int calls = 0;
  pool.ParallelFor(10, 1, [&](int64_t b, int64_t e) { calls += static_cast<int>(e - b); });
  pool.Run([&](int slot, int n) { calls += 100 * (n == 1 && slot == 0); });
  EXPECT_EQ(calls, 110);
}

}  // namespace
}  // namespace kite
