// Number-format conversion and weight quantization (see kernels/quantize.h).
// Everything here is plain scalar code: the converter runs it once per
// weight, and the kernels of every ISA are tested against its output.
#include "kernels/quantize.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/quant_formats.h"

namespace kite {
namespace kernels {
namespace {

uint32_t FloatBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return u;
}

float BitsFloat(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof(f));
  return f;
}

// Rounds to nearest and clamps into [lo, hi]; NaN becomes 0. The clamp comes
// before the int conversion because converting an out-of-range float is UB.
int RoundClamp(float v, float lo, float hi) {
  if (!(v == v)) return 0;
  v = std::nearbyint(v);
  v = v < lo ? lo : v;
  v = v > hi ? hi : v;
  return static_cast<int>(v);
}

}  // namespace

uint16_t FloatToHalf(float f) {
  const uint32_t x = FloatBits(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t abs = x & 0x7fffffffu;
  if (abs >= 0x7f800000u) {  // inf stays inf; NaN stays a quiet NaN with the top payload bits
    if (abs == 0x7f800000u) return sign | 0x7c00u;
    return static_cast<uint16_t>(sign | 0x7e00u | ((abs >> 13) & 0x3ffu));
  }
  // 65520 is the midpoint between 65504 (max half) and 2^16; ties go to the even one, which is inf.
  if (abs >= 0x477ff000u) return sign | 0x7c00u;
  if (abs < 0x38800000u) {  // below 2^-14: a subnormal half (units of 2^-24) or zero
    const uint32_t exponent = abs >> 23;
    if (exponent < 102) return sign;  // below 2^-25 (half of the smallest subnormal)
    const uint32_t mantissa = (abs & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - exponent;  // value * 2^24 = mantissa >> shift, shift in [14, 24]
    uint32_t q = mantissa >> shift;
    const uint32_t rest = mantissa & ((1u << shift) - 1);
    const uint32_t half = 1u << (shift - 1);
    if (rest > half || (rest == half && (q & 1u))) ++q;  // may carry into the smallest normal: correct
    return static_cast<uint16_t>(sign | q);
  }
  uint32_t h = (abs >> 13) - ((127u - 15u) << 10);  // rebias the exponent, keep 10 mantissa bits
  const uint32_t rest = abs & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;  // a carry into the exponent is correct
  return static_cast<uint16_t>(sign | h);
}

void FloatToHalfRow(const float* src, uint16_t* dst, int64_t n) {
#if defined(__wasm_simd128__)
  FloatToHalfRowWasm(src, dst, n);
#else
  for (int64_t i = 0; i < n; ++i) dst[i] = FloatToHalf(src[i]);
#endif
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1fu;
  const uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0) {
    const float v = static_cast<float>(mantissa) * 0x1p-24f;  // exact: 10 bits times a power of two
    return sign ? -v : v;
  }
  if (exponent == 31) return BitsFloat(sign | 0x7f800000u | (mantissa << 13));
  return BitsFloat(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

uint16_t FloatToBf16(float f) {
  const uint32_t x = FloatBits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);  // keep NaN quiet
  const uint32_t rounding = 0x7fffu + ((x >> 16) & 1u);  // round to nearest, ties to even
  return static_cast<uint16_t>((x + rounding) >> 16);   // overflow lands on inf, as it should
}

float Bf16ToFloat(uint16_t b) { return BitsFloat(static_cast<uint32_t>(b) << 16); }

void QuantizeRowsQ8(const float* w, int64_t n, int64_t k, int8_t* data, float* scales) {
  const int64_t k_pad = Q8RowBytes(k);
  for (int64_t row = 0; row < n; ++row) {
    const float* src = w + row * k;  // [k]
    int8_t* dst = data + row * k_pad;  // [k_pad]
    float abs_max = 0.0f;
    for (int64_t c = 0; c < k; ++c) abs_max = std::fmax(abs_max, std::fabs(src[c]));
    const float scale = abs_max / 127.0f;
    scales[row] = scale;
    for (int64_t c = 0; c < k; ++c) {
      // Divide rather than multiply by 1/scale: exact rounding keeps |error| <= scale/2.
      dst[c] = static_cast<int8_t>(scale > 0.0f ? RoundClamp(src[c] / scale, -127.0f, 127.0f) : 0);
    }
    for (int64_t c = k; c < k_pad; ++c) dst[c] = 0;
  }
}

void DequantizeRowsQ8(const int8_t* data, const float* scales, int64_t n, int64_t k, float* w) {
  const int64_t k_pad = Q8RowBytes(k);
  for (int64_t row = 0; row < n; ++row) {
    for (int64_t c = 0; c < k; ++c) w[row * k + c] = static_cast<float>(data[row * k_pad + c]) * scales[row];
  }
}

void QuantizeRowsQ4(const float* w, int64_t n, int64_t k, int64_t group_size, uint8_t* data, uint16_t* scales) {
  const int64_t groups = Q4GroupsPerRow(k, group_size);
  const int64_t row_bytes = Q4RowBytes(k, group_size);
  for (int64_t row = 0; row < n; ++row) {
    for (int64_t g = 0; g < groups; ++g) {
      const int64_t c0 = g * group_size;
      const int64_t count = k - c0 < group_size ? k - c0 : group_size;  // logical columns in this group
      // The value of largest magnitude, with its sign, maps to -8 exactly (llama.cpp Q4_0): this
      // spends the asymmetric code -8 on the extreme instead of wasting it.
      float extreme = 0.0f;
      for (int64_t c = 0; c < count; ++c) {
        const float v = w[row * k + c0 + c];
        if (std::fabs(v) > std::fabs(extreme)) extreme = v;
      }
      float scale = extreme != 0.0f ? extreme / -8.0f : 0.0f;  // an all-zero group stores +0, not -0
      // Stay finite in f16: a scale past 65504 would become inf and zero the whole group.
      scale = std::fmax(-65504.0f, std::fmin(65504.0f, scale));
      const uint16_t scale_f16 = FloatToHalf(scale);
      scales[row * groups + g] = scale_f16;
      // Quantize with the scale as stored (f16-rounded), so rounding error is not paid twice.
      const float stored = HalfToFloat(scale_f16);
      auto code = [&](int64_t c) {  // column c of the group -> nibble q + 8; padding columns are 0 -> 8
        const float v = c < count ? w[row * k + c0 + c] : 0.0f;
        return (stored != 0.0f ? RoundClamp(v / stored, -8.0f, 7.0f) : 0) + 8;
      };
      uint8_t* dst = data + row * row_bytes + c0 / 2;  // 16 bytes per 32-column block
      for (int64_t b = 0; b < group_size / kQuantBlock; ++b) {
        for (int j = 0; j < 16; ++j) {
          dst[b * 16 + j] = static_cast<uint8_t>(code(b * 32 + j) | (code(b * 32 + j + 16) << 4));
        }
      }
    }
  }
}

void DequantizeRowsQ4(const uint8_t* data, const uint16_t* scales, int64_t n, int64_t k, int64_t group_size,
                      float* w) {
  const int64_t groups = Q4GroupsPerRow(k, group_size);
  const int64_t row_bytes = Q4RowBytes(k, group_size);
  for (int64_t row = 0; row < n; ++row) {
    for (int64_t c = 0; c < k; ++c) {
      const int q = Q4CodeAt(data + row * row_bytes, c);
      w[row * k + c] = static_cast<float>(q) * HalfToFloat(scales[row * groups + c / group_size]);
    }
  }
}

namespace {

// The code of column `column` from the byte of its block that holds it (quant_formats.h).
int Q4CodeInByte(uint8_t byte, int64_t column) { return ((column % 32) < 16 ? (byte & 0x0f) : (byte >> 4)) - 8; }

}  // namespace

// Block column / 32 is 16 bytes; its low nibbles hold columns 0..15, the high ones 16..31.
int Q4CodeAt(const uint8_t* row, int64_t column) {
  return Q4CodeInByte(row[(column / 32) * 16 + (column % 16)], column);
}

namespace {

// Word v of block i of a 4-block group (64 bytes, 16 words of 4 bytes) to word 4v + i: its own inverse.
void TransposeGroupWords(const uint8_t* from, uint8_t* to) {
  uint32_t words[16], out[16];
  std::memcpy(words, from, 64);
  for (int i = 0; i < 4; ++i) {
    for (int v = 0; v < 4; ++v) out[4 * v + i] = words[4 * i + v];
  }
  std::memcpy(to, out, 64);
}

// Rows [0, n) (n even) between the stored layout and transposed groups in pairs (quant_formats.h),
// one row pair at a time through a buffer of two rows.
bool MoveQ4Groups(uint8_t* data, int64_t n, int64_t k, int64_t group_size, bool to_transposed) {
  if (n % 2 != 0) return false;
  const int64_t row_bytes = Q4RowBytes(k, group_size), transposed = Q4TransposedBlocks(k);
  const int64_t rest_bytes = row_bytes - transposed * 16;  // each row's last blocks and padding, as stored
  std::vector<uint8_t> buffer(static_cast<size_t>(2 * row_bytes));
  uint8_t* pair_out = buffer.data();
  for (int64_t p = 0; p < n; p += 2) {
    uint8_t* pair = data + p * row_bytes;
    for (int64_t r = 0; r < 2; ++r) {  // offsets within the pair: rows 0 and 1
      const int64_t stored_row = r * row_bytes, rest = Q4TransposedByteOffset(r, transposed, 0, transposed, row_bytes);
      for (int64_t b = 0; b < transposed; b += 4) {
        const int64_t stored = stored_row + b * 16, moved = Q4TransposedByteOffset(r, b, 0, transposed, row_bytes);
        TransposeGroupWords(pair + (to_transposed ? stored : moved), pair_out + (to_transposed ? moved : stored));
      }
      std::memcpy(pair_out + (to_transposed ? rest : stored_row + transposed * 16),
                  pair + (to_transposed ? stored_row + transposed * 16 : rest), static_cast<size_t>(rest_bytes));
    }
    std::memcpy(pair, pair_out, buffer.size());
  }
  return true;
}

}  // namespace

bool TransposeQ4Groups(uint8_t* data, int64_t n, int64_t k, int64_t group_size) {
  return MoveQ4Groups(data, n, k, group_size, true);
}

bool UntransposeQ4Groups(uint8_t* data, int64_t n, int64_t k, int64_t group_size) {
  return MoveQ4Groups(data, n, k, group_size, false);
}

void DequantizeRowQ4Transposed(const uint8_t* data, const uint16_t* scales, int64_t row, int64_t k, int64_t group_size,
                               float* w) {
  const int64_t transposed = Q4TransposedBlocks(k), row_bytes = Q4RowBytes(k, group_size);
  const uint16_t* row_scales = scales + row * Q4GroupsPerRow(k, group_size);
  for (int64_t c = 0; c < k; ++c) {
    const int q = Q4CodeInByte(data[Q4TransposedByteOffset(row, c / 32, c % 16, transposed, row_bytes)], c);
    w[c] = static_cast<float>(q) * HalfToFloat(row_scales[c / group_size]);
  }
}

}  // namespace kernels
}  // namespace kite
