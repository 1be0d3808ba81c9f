// A small fixed thread pool for data-parallel loops. A job is a number of
// chunks that the caller and the workers take from a shared counter, so a
// thread that is slow (a LITTLE core, or one the OS has descheduled on a busy
// machine) simply takes fewer chunks instead of holding everyone up. Workers
// spin briefly before sleeping: decode issues many short parallel regions per
// token, and waking a sleeping thread costs more than the work on a 2-core
// machine. Jobs allocate nothing.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "runtime/core/function_ref.h"

namespace kite {

class ThreadPool {
 public:
  // n_threads counts the calling thread; 1 means run everything inline.
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }
  // Calls fn(slot, n_threads) once for every slot in [0, n_threads) and waits. Slots run
  // concurrently on whichever threads are free; a slot index is never run twice at once, so
  // it can select per-slot scratch.
  void Run(FunctionRef<void(int, int)> fn);
  // Calls fn(begin, end) over contiguous chunks covering [0, n), each at least `grain` long
  // (but the last), about four per thread so that uneven threads balance; waits.
  void ParallelFor(int64_t n, int64_t grain, FunctionRef<void(int64_t, int64_t)> fn);
  // Calls fn(chunk) for every chunk in [0, chunks) and waits.
  void RunChunks(int64_t chunks, FunctionRef<void(int64_t)> fn);

  static int DefaultThreadCount();

 private:
  void WorkerLoop();
  // Takes chunks of the open job until none is left.
  void TakeChunks();

  static constexpr int64_t kClosed = int64_t{1} << 40;

  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::atomic<uint64_t> generation_{0};  // bumped once per job, wakes the workers
  // The job: written by the caller only while `entered_` is closed with no thread inside.
  const FunctionRef<void(int64_t)>* job_ = nullptr;
  int64_t chunks_ = 0;
  std::atomic<int64_t> next_chunk_{0};
  std::atomic<int64_t> done_chunks_{0};
  // Workers inside the job (low bits) and the kClosed flag: a worker that arrives after the job
  // closed sees the flag and leaves without touching it, so the caller can return.
  std::atomic<int64_t> entered_{kClosed};
};

}  // namespace kite
