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
// decode shows above 100% of it. kStreams > 1 reads the slice as that many interleaved sequential
// streams, 512 bytes of each in turn: one core keeps more lines in flight over several streams
// (Intel Xeon VM: 12.5-13 GB/s as one, 16.7-17 as 4). Native decode reads one stream per thread; the
// probe reads four too because, as with prefetch, the roofline is the most the machine can read.
template <int kPrefetch, int kStreams>
inline __attribute__((always_inline)) float SumSliceBody(const Vec8* p, uint64_t n) {
  Vec8 a[8] = {};
  constexpr uint64_t kStep = 16;  // vectors of one stream per turn
  const uint64_t part = n / (kStreams * kStep) * kStep;
  for (uint64_t i = 0; i < part; i += kStep) {
    for (int s = 0; s < kStreams; ++s) {
      const Vec8* q = p + s * part + i;
      if (kPrefetch > 0) {
        const char* ahead = reinterpret_cast<const char*>(q) + kPrefetch;
        for (int line = 0; line < 8; ++line) __builtin_prefetch(ahead + 64 * line);
      }
      for (int k = 0; k < static_cast<int>(kStep); ++k) a[k & 7] += q[k];
    }
  }
  for (uint64_t i = kStreams * part; i < n; ++i) a[0] += p[i];
  Vec8 sum = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
  float total = 0;
  for (int k = 0; k < 8; ++k) total += sum[k];
  return total;
}

template <int kPrefetch, int kStreams>
float SumSlice(const Vec8* p, uint64_t n) { return SumSliceBody<kPrefetch, kStreams>(p, n); }

#if defined(__x86_64__)
// The same loop with 32-byte loads. Compiled for baseline x86-64 the 32-byte vectors become pairs
// of 16-byte loads, and one thread then reads ~20% less than the decode kernels (AVX2/AVX-512
// loads) stream: measured here 31 GB/s against 38-39 with AVX2 (AVX-512: the same 38), which
// would put decode above "100% of the roofline".
template <int kPrefetch, int kStreams>
__attribute__((target("avx2"))) float SumSliceAvx2(const Vec8* p, uint64_t n) {
  return SumSliceBody<kPrefetch, kStreams>(p, n);
}
#endif

template <int kPrefetch, int kStreams>
float SumSliceBest(const Vec8* p, uint64_t n) {
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx2")) return SumSliceAvx2<kPrefetch, kStreams>(p, n);
#endif
  return SumSlice<kPrefetch, kStreams>(p, n);
}

// One slice read the way `mode` says: bit 0 software prefetch, bit 1 four streams.
float SumSliceInMode(int mode, const Vec8* p, uint64_t n) {
  switch (mode) {
    case 0: return SumSliceBest<0, 1>(p, n);
    case 1: return SumSliceBest<2048, 1>(p, n);
    case 2: return SumSliceBest<0, 4>(p, n);
    default: return SumSliceBest<2048, 4>(p, n);
  }
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
  // Cycle through the four ways of reading (SumSliceInMode); the best pass of any is the bandwidth.
  for (int pass = 0; pass < 4 * passes; ++pass) {
    std::vector<std::thread> pool;
    std::vector<float> partial(threads, 0.0f);
    const int mode = pass % 4;
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
          sum += SumSliceInMode(mode, buffer + begin, count);
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
