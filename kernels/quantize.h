// Weight quantization and number-format conversion, shared by the converter
// (which writes the layouts of kernels/quant_formats.h) and the tests (which
// dequantize to measure the error a scheme introduces).
#pragma once

#include <cstdint>

namespace kite {
namespace kernels {

uint16_t FloatToHalf(float f);   // round to nearest even, handles inf/nan/subnormals
float HalfToFloat(uint16_t h);
// dst[i] = FloatToHalf(src[i]) for i < n (SIMD where the build has it).
void FloatToHalfRow(const float* src, uint16_t* dst, int64_t n);
#if defined(__wasm_simd128__)
void FloatToHalfRowWasm(const float* src, uint16_t* dst, int64_t n);  // kernels/cpu/wasm/half_wasm.cc
#endif
uint16_t FloatToBf16(float f);   // round to nearest even
float Bf16ToFloat(uint16_t b);

// W [n][k] f32 -> Q8 data [n][RoundUp(k,32)] + scales [n]
void QuantizeRowsQ8(const float* w, int64_t n, int64_t k, int8_t* data, float* scales);
void DequantizeRowsQ8(const int8_t* data, const float* scales, int64_t n, int64_t k, float* w);
// W [n][k] f32 -> Q4 data [n][RoundUp(k,g)/2] + f16 scales [n][RoundUp(k,g)/g]
void QuantizeRowsQ4(const float* w, int64_t n, int64_t k, int64_t group_size, uint8_t* data, uint16_t* scales);
void DequantizeRowsQ4(const uint8_t* data, const uint16_t* scales, int64_t n, int64_t k, int64_t group_size, float* w);
// The Q4 code (-8..7) of column `column` of one Q4 row (quant_formats.h layout).
int Q4CodeAt(const uint8_t* row, int64_t column);
// Rows [0, n) of Q4 data (k columns) into transposed groups in row pairs (quant_formats.h), in place,
// and back. n must be even: for odd n both return false and leave the bytes alone.
bool TransposeQ4Groups(uint8_t* data, int64_t n, int64_t k, int64_t group_size);
bool UntransposeQ4Groups(uint8_t* data, int64_t n, int64_t k, int64_t group_size);
// DequantizeRowsQ4 of row `row` of a matrix stored in transposed groups (data, scales: the matrix's).
void DequantizeRowQ4Transposed(const uint8_t* data, const uint16_t* scales, int64_t row, int64_t k, int64_t group_size,
                               float* w);

}  // namespace kernels
}  // namespace kite
