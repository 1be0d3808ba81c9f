// llama.cpp's Q8_0 and Q4_0 block formats, produced from f32 rows.
//
// Q8_0, 34 bytes per 32 values: f16 d, then 32 int8 q; x = q * d, d = max|x| / 127.
// Q4_0, 18 bytes per 32 values: f16 d, then 16 bytes whose low nibbles are values
// 0..15 and high nibbles values 16..31; x = (q - 8) * d, where d = m / -8 and m is
// the value of largest magnitude, so m itself maps to q = 0 exactly and the other
// end of the range keeps 7 steps.
// These are the rounding rules of ggml's reference quantizers, so a GGUF written here
// holds the same bits llama.cpp's own converter would write for the same floats.
#pragma once

#include <cstdint>

namespace kite {
namespace gguf {

constexpr int64_t kQ8_0BlockBytes = 34;
constexpr int64_t kQ4_0BlockBytes = 18;
constexpr int64_t kQuantBlockElements = 32;

// x: [k] with k a multiple of 32 -> out: [k / 32] blocks.
void QuantizeRowQ8_0(const float* x, int64_t k, uint8_t* out);
void QuantizeRowQ4_0(const float* x, int64_t k, uint8_t* out);
// x: [k] -> out: [k] IEEE half, round to nearest even.
void ConvertRowF16(const float* x, int64_t k, uint16_t* out);

}  // namespace gguf
}  // namespace kite
