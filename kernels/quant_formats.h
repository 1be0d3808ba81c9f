// Byte layouts of quantized weights and activations. The converter writes
// these, the artifact records them, and every kernel (scalar, AVX2, NEON,
// wasm, GPU) reads them; changing one is a format change.
//
// Columns are padded: a row of K logical columns stores K_pad columns where
// K_pad = RoundUp(K, kQuantBlock) for Q8 and RoundUp(K, group_size) for Q4.
// Padding columns hold zero weights, so a kernel may read whole blocks.
//
// Q8 weight  [N, K]: data   int8  [N][K_pad], row-major, value = q * scale[row]
//                    scales f32   [N]
// Q4 weight  [N, K]: data   uint8 [N][K_pad / 2]; each 32-column block b of a row is 16 bytes:
//                    byte j (0..15) = (q[32b + j] + 8) | ((q[32b + j + 16] + 8) << 4), q in [-8, 7]
//                    scales f16   [N][K_pad / group_size]; group_size in {32, 64, 128};
//                    value = q * scale[row][col / group_size]
// Q8 activation row:  int8 [K_pad] with one f32 scale per 32-column block (K_pad = RoundUp(K, 32)),
//                    symmetric: scale = max|x| / 127, q = round(x / scale); zero block -> scale 0.
// Q4 weight, transposed groups (kernel-private: GemmKernels::gemm_q4_transposed reads it; the wasm
//                    heap's weights are rearranged into it when asked, TransposeQ4Groups, matrices
//                    with an even row count and finite scales only): rows 2p and 2p + 1 share their
//                    2 * row_bytes. Each of a row's first ceil(K / 32) / 4 groups of 4 blocks (64 bytes,
//                    16 words of 4 bytes) has word v of block i at word 4v + i instead of 4i + v, so one
//                    16-byte load holds word v of 4 blocks, and the pair's groups alternate: group g of
//                    row 2p, group g of row 2p + 1, group g + 1 of row 2p, ..., so that a kernel reading
//                    both rows reads one sequential stream. Then row 2p's other bytes (its last blocks
//                    and padding, as stored), then row 2p + 1's. Q4TransposedByteOffset says where each
//                    byte went; UntransposeQ4Groups gives the rows back.
// Q4 prefill activation row (AVX-512 only; kernel-private, made per op from the Q8 row): chunks of
//                    16 blocks, 640 bytes each: 512 bytes of codes as 8 x 64 bytes where bytes
//                    4l..4l+3 of part t are bytes 4t..4t+3 of block l, then the 16 block scales
//                    (f32), then 16 int32 -8 * (sum of the block's codes); blocks past K are zero.
#pragma once

#include <cstdint>

namespace kite {

constexpr int64_t kQuantBlock = 32;
constexpr int64_t kQ4PrefillChunkBlocks = 16;
constexpr int64_t kQ4PrefillChunkBytes = 640;

inline int64_t RoundUp(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

inline int64_t Q8RowBytes(int64_t k) { return RoundUp(k, kQuantBlock); }
inline int64_t Q4RowBytes(int64_t k, int64_t group_size) { return RoundUp(k, group_size) / 2; }
inline int64_t Q4GroupsPerRow(int64_t k, int64_t group_size) { return RoundUp(k, group_size) / group_size; }
// Blocks of a Q4 row stored in transposed groups (the rest of its ceil(K / 32) blocks are not).
inline int64_t Q4TransposedBlocks(int64_t k) { return RoundUp(k, kQuantBlock) / kQuantBlock / 4 * 4; }
// Where byte j (0..15) of block b of row n sits in a matrix stored in transposed groups, counted from
// the matrix's first byte: row_bytes = Q4RowBytes(K, group_size), transposed_blocks =
// Q4TransposedBlocks(K).
inline int64_t Q4TransposedByteOffset(int64_t n, int64_t b, int64_t j, int64_t transposed_blocks, int64_t row_bytes) {
  const int64_t pair = (n - n % 2) * row_bytes, second = n % 2;
  if (b < transposed_blocks) return pair + (b / 4) * 128 + second * 64 + ((j / 4) * 4 + b % 4) * 4 + j % 4;
  const int64_t rest_bytes = row_bytes - transposed_blocks * 16;  // the row's last blocks and padding
  return pair + 2 * transposed_blocks * 16 + second * rest_bytes + (b - transposed_blocks) * 16 + j;
}

// A Q8 activation block whose max|x| is below this is stored as a zero block (scale 0). Far below any
// real activation, and safely above where 127 / max|x| overflows f32 (max|x| < 3.7e-37) or the scale
// turns subnormal (< 1.5e-36). Every kernel set uses the same cut-off, so all ISAs quantize alike.
constexpr float kQ8ActivationMinAbsMax = 1e-30f;

}  // namespace kite
