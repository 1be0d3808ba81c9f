#include "platforms/cli/read_bandwidth.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

namespace kite_cli {
namespace {

typedef float Vec8 __attribute__((vector_size(32)));

// Eight independent accumulators hide the add latency; the compiler keeps them in registers.
// kPrefetch > 0 also requests the lines that far ahead in software, as the decode kernels do: on
// some machines that reads faster than the hardware prefetcher alone (measured here, Zen 5: 39-40
// GB/s plain, 41-42 with 2 KB ahead), and the roofline must be the most the machine can read, or
// decode shows above 100% of it.
template <int kPrefetch>
inline __attribute__((always_inline)) float SumSliceBody(const Vec8* p, uint64_t n) {
  Vec8 a0 = {}, a1 = {}, a2 = {}, a3 = {}, a4 = {}, a5 = {}, a6 = {}, a7 = {};
  uint64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    if (kPrefetch > 0) {
      const char* ahead = reinterpret_cast<const char*>(p + i) + kPrefetch;
      for (int line = 0; line < 4; ++line) __builtin_prefetch(ahead + 64 * line);
    }
    a0 += p[i];
    a1 += p[i + 1];
    a2 += p[i + 2];
    a3 += p[i + 3];
    a4 += p[i + 4];
    a5 += p[i + 5];
    a6 += p[i + 6];
    a7 += p[i + 7];
  }
  for (; i < n; ++i) a0 += p[i];
  Vec8 s = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7));
  float total = 0;
  for (int k = 0; k < 8; ++k) total += s[k];
  return total;
}

template <int kPrefetch>
float SumSlice(const Vec8* p, uint64_t n) { return SumSliceBody<kPrefetch>(p, n); }

#if defined(__x86_64__)
// The same loop with 32-byte loads. Compiled for baseline x86-64 the 32-byte vectors become pairs
// of 16-byte loads, and one thread then reads ~20% less than the decode kernels (AVX2/AVX-512
// loads) stream: measured here 31 GB/s against 38-39 with AVX2 (AVX-512: the same 38), which
// would put decode above "100% of the roofline".
template <int kPrefetch>
__attribute__((target("avx2"))) float SumSliceAvx2(const Vec8* p, uint64_t n) { return SumSliceBody<kPrefetch>(p, n); }
#endif

template <int kPrefetch>
float SumSliceBest(const Vec8* p, uint64_t n) {
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx2")) return SumSliceAvx2<kPrefetch>(p, n);
#endif
  return SumSlice<kPrefetch>(p, n);
}

}  // namespace

double MeasureReadBandwidthInProcess(int threads, uint64_t buffer_bytes, int passes) {
  threads = std::max(1, threads);
  // 2 MiB-aligned and, on Linux, in transparent huge pages where the kernel allows: model weights
  // read from a fresh page cache sit in huge folios too, so both are measured with the same TLB reach.
  constexpr uint64_t kHugePage = 2ull << 20;
  const uint64_t n_vec = buffer_bytes / sizeof(Vec8);
  const uint64_t alloc_bytes = (n_vec * sizeof(Vec8) + kHugePage - 1) / kHugePage * kHugePage;
  Vec8* buffer = static_cast<Vec8*>(std::aligned_alloc(kHugePage, alloc_bytes));
  if (buffer == nullptr) return 0;
#if defined(MADV_HUGEPAGE)
  madvise(buffer, alloc_bytes, MADV_HUGEPAGE);  // advice only: no huge pages is still a valid measure
#endif
  // Touch every page with a non-zero pattern so reads hit real memory.
  std::memset(buffer, 1, n_vec * sizeof(Vec8));
  double best = 0;
  volatile float sink = 0;
  // Alternate the plain loop and the prefetching one; the best pass of either is the bandwidth.
  for (int pass = 0; pass < 2 * passes; ++pass) {
    std::vector<std::thread> pool;
    std::vector<float> partial(threads, 0.0f);
    const bool prefetch = pass % 2 == 1;
    // Threads take 1 MiB chunks from a shared counter, as decode's thread pool hands out work: with a
    // fixed half each, one thread the hypervisor delays holds up the pass, and 2-thread decode (which
    // rebalances) measured above such a probe on this VM (57 GB/s against 47-52).
    constexpr uint64_t kChunk = (1ull << 20) / sizeof(Vec8);
    std::atomic<uint64_t> next{0};
    auto start = std::chrono::steady_clock::now();
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        float sum = 0;
        for (uint64_t begin; (begin = next.fetch_add(kChunk)) < n_vec;) {
          const uint64_t count = std::min(kChunk, n_vec - begin);
          sum += prefetch ? SumSliceBest<2048>(buffer + begin, count) : SumSliceBest<0>(buffer + begin, count);
        }
        partial[t] = sum;
      });
    }
    for (auto& th : pool) th.join();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    for (float p : partial) sink = sink + p;
    best = std::max(best, static_cast<double>(n_vec * sizeof(Vec8)) / seconds);
  }
  std::free(buffer);
  return best;
}

}  // namespace kite_cli

namespace kite_cli {

double MeasureReadBandwidth(int threads, uint64_t buffer_bytes, int passes) {
  // Measured in a child process so the large buffer never counts towards the peak RSS
  // that the benchmark reports for the model.
  int fds[2];
  if (pipe(fds) != 0) return MeasureReadBandwidthInProcess(threads, buffer_bytes, passes);
  const pid_t child = fork();
  if (child < 0) {
    close(fds[0]);
    close(fds[1]);
    return MeasureReadBandwidthInProcess(threads, buffer_bytes, passes);
  }
  if (child == 0) {
    close(fds[0]);
    const double value = MeasureReadBandwidthInProcess(threads, buffer_bytes, passes);
    const ssize_t written = write(fds[1], &value, sizeof(value));
    _exit(written == sizeof(value) ? 0 : 1);
  }
  close(fds[1]);
  double value = 0;
  const ssize_t got = read(fds[0], &value, sizeof(value));
  close(fds[0]);
  int status = 0;
  waitpid(child, &status, 0);
  return got == sizeof(value) ? value : 0;
}

}  // namespace kite_cli
