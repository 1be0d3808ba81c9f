#include "runtime/core/thread_pool.h"

#include <algorithm>

namespace kite {
namespace {

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(std::max(1, n_threads)) {
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
    generation_.fetch_add(1);
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

int ThreadPool::DefaultThreadCount() {
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(std::min(hw, 8u));
}

void ThreadPool::TakeChunks() {
  for (;;) {
    const int64_t c = next_chunk_.fetch_add(1, std::memory_order_relaxed);
    if (c >= chunks_) return;
    (*job_)(c);
    done_chunks_.fetch_add(1, std::memory_order_release);
  }
}

void ThreadPool::WorkerLoop() {
  uint64_t seen = 0;
  for (;;) {
    // Spin a little: the next job usually arrives within microseconds.
    for (int spin = 0; spin < 20000 && generation_.load(std::memory_order_acquire) == seen; ++spin) CpuRelax();
    if (generation_.load(std::memory_order_acquire) == seen) {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return generation_.load() != seen; });
    }
    // Read the generation before stop_: the destructor sets stop_ and then bumps the generation
    // (both under the mutex), so either stop_ is seen now or the next wait ends at once.
    seen = generation_.load(std::memory_order_acquire);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stop_) return;
    }
    if ((entered_.fetch_add(1, std::memory_order_acq_rel) & kClosed) == 0) TakeChunks();
    entered_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::RunChunks(int64_t chunks, FunctionRef<void(int64_t)> fn) {
  if (chunks <= 0) return;
  if (n_threads_ == 1 || chunks == 1) {
    for (int64_t c = 0; c < chunks; ++c) fn(c);
    return;
  }
  // Closed with nobody inside (the previous job ended that way): safe to rewrite the job.
  job_ = &fn;
  chunks_ = chunks;
  next_chunk_.store(0, std::memory_order_relaxed);
  done_chunks_.store(0, std::memory_order_relaxed);
  entered_.fetch_and(~kClosed, std::memory_order_release);  // open
  {
    std::lock_guard<std::mutex> lock(mutex_);
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  wake_.notify_all();
  TakeChunks();
  // Wait for chunks other threads took; spin briefly, then yield: on an oversubscribed machine
  // the thread we wait for may need this core to finish.
  for (int spin = 0; done_chunks_.load(std::memory_order_acquire) != chunks; ++spin) {
    if (spin < 4000) CpuRelax();
    else std::this_thread::yield();
  }
  // Close, then wait for workers still inside (they find no chunk left and leave).
  entered_.fetch_or(kClosed, std::memory_order_acq_rel);
  for (int spin = 0; (entered_.load(std::memory_order_acquire) & ~kClosed) != 0; ++spin) {
    if (spin < 4000) CpuRelax();
    else std::this_thread::yield();
  }
}

void ThreadPool::Run(FunctionRef<void(int, int)> fn) {
  const int n = n_threads_;
  RunChunks(n, [&](int64_t slot) { fn(static_cast<int>(slot), n); });
}

void ThreadPool::ParallelFor(int64_t n, int64_t grain, FunctionRef<void(int64_t, int64_t)> fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  const int64_t max_chunks = (n + grain - 1) / grain;
  const int64_t chunks = std::min<int64_t>(max_chunks, n_threads_ == 1 ? 1 : 4 * static_cast<int64_t>(n_threads_));
  if (chunks <= 1) {
    fn(0, n);
    return;
  }
  const int64_t per = std::max(grain, (n + chunks - 1) / chunks);
  RunChunks((n + per - 1) / per, [&](int64_t c) { fn(c * per, std::min(n, (c + 1) * per)); });
}

}  // namespace kite
