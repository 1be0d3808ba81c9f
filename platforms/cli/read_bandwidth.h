// Measures the machine's memory read bandwidth the way decode reads weights:
// every thread streams its own slice of a buffer far larger than the caches,
// summing with several independent SIMD accumulators so the loop is bound by
// memory, not by add latency; with and without software prefetch ahead (as the decode kernels
// use). Best of several passes of each, in bytes per second.
#pragma once

#include <cstdint>

namespace kite_cli {

double MeasureReadBandwidth(int threads, uint64_t buffer_bytes = 512ull << 20, int passes = 5);
// The same, in this process (MeasureReadBandwidth runs it in a child so the buffer does not
// raise the caller's peak RSS).
double MeasureReadBandwidthInProcess(int threads, uint64_t buffer_bytes, int passes);

}  // namespace kite_cli
