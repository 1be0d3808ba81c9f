#include "runtime/artifact/artifact_layout.h"

#include <cstring>

#include <xxhash.h>

#include "kernels/quant_formats.h"

namespace kite {
namespace {

// FlatBuffers 2.0.8 cannot address more than 2^31-1 bytes (its Verifier asserts on bigger
// buffers), so a larger header is corrupt by definition; weights live outside it.
constexpr uint64_t kMaxHeaderBytes = (uint64_t{1} << 31) - 2;

void PutU32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void PutU64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint32_t GetU32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
uint64_t GetU64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

bool MulU64(uint64_t a, uint64_t b, uint64_t* out) { return !__builtin_mul_overflow(a, b, out); }
bool AddU64(uint64_t a, uint64_t b, uint64_t* out) { return !__builtin_add_overflow(a, b, out); }

bool AlignUp64(uint64_t x, uint64_t* out) {
  uint64_t padded = 0;
  if (!AddU64(x, kArtifactAlignment - 1, &padded)) return false;
  *out = padded / kArtifactAlignment * kArtifactAlignment;
  return true;
}

// Magic bytes for a message: printable ASCII as is, the rest as \xNN.
std::string QuoteBytes(const uint8_t* p, size_t n) {
  static const char kHex[] = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\') {
      s += static_cast<char>(p[i]);
    } else {
      s += "\\x";
      s += kHex[p[i] >> 4];
      s += kHex[p[i] & 15];
    }
  }
  return s;
}

}  // namespace

const char* DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kF32: return "f32";
    case DType::kF16: return "f16";
    case DType::kBF16: return "bf16";
    case DType::kQ8: return "q8";
    case DType::kQ4: return "q4";
    case DType::kI32: return "i32";
  }
  return "unknown";
}

int64_t TensorView::elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;  // the reader proved the product fits
  return n;
}

bool IsKnownDType(uint8_t value) { return value <= static_cast<uint8_t>(DType::kI32); }
bool IsQuantized(DType dtype) { return dtype == DType::kQ8 || dtype == DType::kQ4; }

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

void EncodePreamble(const ArtifactPreamble& p, uint8_t out[kArtifactPreambleBytes]) {
  std::memset(out, 0, kArtifactPreambleBytes);
  std::memcpy(out, kArtifactMagic, sizeof(kArtifactMagic));
  PutU32(out + 8, p.format_version);
  PutU64(out + 16, p.header_offset);
  PutU64(out + 24, p.header_bytes);
  PutU64(out + 32, p.data_offset);
  PutU64(out + 40, p.data_bytes);
  PutU64(out + 48, p.header_checksum);
}

uint64_t HeaderChecksum(const uint8_t* header, uint64_t header_bytes) {
  return XXH3_64bits(header, static_cast<size_t>(header_bytes));
}

Result<ArtifactPreamble> DecodePreamble(const uint8_t* b, uint64_t file_bytes, const std::string& where) {
  const std::string at = where + ": ";
  if (file_bytes < kArtifactPreambleBytes) {
    return CorruptArtifact(at + "the file has " + std::to_string(file_bytes) +
                           " bytes, fewer than the 64-byte preamble (truncated, or not a .kite file)");
  }
  if (std::memcmp(b, kArtifactMagic, sizeof(kArtifactMagic)) != 0) {
    return CorruptArtifact(at + "not a .kite file: bytes 0..7 are \"" + QuoteBytes(b, 8) +
                           "\", expected \"KITEART\\x00\"");
  }
  ArtifactPreamble p;
  p.format_version = GetU32(b + 8);
  if (p.format_version != kArtifactFormatVersion) {
    return Unsupported(at + "format version " + std::to_string(p.format_version) +
                       " (preamble byte 8) is not supported; this build reads version " +
                       std::to_string(kArtifactFormatVersion));
  }
  if (GetU32(b + 12) != 0 || GetU64(b + 56) != 0) {
    return CorruptArtifact(at + "the preamble's reserved fields (bytes 12..15 and 56..63) are not zero");
  }
  p.header_offset = GetU64(b + 16);
  p.header_bytes = GetU64(b + 24);
  p.data_offset = GetU64(b + 32);
  p.data_bytes = GetU64(b + 40);
  p.header_checksum = GetU64(b + 48);

  if (p.header_offset < kArtifactPreambleBytes || p.header_offset % 8 != 0) {
    return CorruptArtifact(at + "header offset " + std::to_string(p.header_offset) +
                           " must be a multiple of 8 and at least 64");
  }
  if (p.header_bytes < 8 || p.header_bytes > kMaxHeaderBytes) {
    return CorruptArtifact(at + "header size " + std::to_string(p.header_bytes) +
                           " bytes is outside [8, 2^31-2]");
  }
  uint64_t header_end = 0;
  if (!AddU64(p.header_offset, p.header_bytes, &header_end) || header_end > file_bytes) {
    return CorruptArtifact(at + "the header (" + std::to_string(p.header_bytes) + " bytes at byte " +
                           std::to_string(p.header_offset) + ") ends past the end of the file (" +
                           std::to_string(file_bytes) + " bytes; truncated?)");
  }
  if (p.data_offset % kArtifactAlignment != 0 || p.data_offset < header_end) {
    return CorruptArtifact(at + "data offset " + std::to_string(p.data_offset) +
                           " must be a multiple of 64 at or after the header's end (byte " +
                           std::to_string(header_end) + ")");
  }
  uint64_t data_end = 0;
  if (!AddU64(p.data_offset, p.data_bytes, &data_end) || data_end > file_bytes) {
    return CorruptArtifact(at + "the data section (" + std::to_string(p.data_bytes) + " bytes at byte " +
                           std::to_string(p.data_offset) + ") ends past the end of the file (" +
                           std::to_string(file_bytes) + " bytes; truncated?)");
  }
  if (data_end != file_bytes) {
    return CorruptArtifact(at + "the file has " + std::to_string(file_bytes - data_end) +
                           " unexpected bytes after the data section (which ends at byte " +
                           std::to_string(data_end) + ")");
  }
  return p;
}

Result<TensorByteSizes> ComputeTensorByteSizes(DType dtype, const std::vector<int64_t>& shape,
                                               int64_t group_size, const std::string& what) {
  if (!IsKnownDType(static_cast<uint8_t>(dtype))) {
    return CorruptArtifact(what + " has unknown dtype value " + std::to_string(static_cast<int>(dtype)));
  }
  if (shape.empty() || shape.size() > 4) {
    return CorruptArtifact(what + " has rank " + std::to_string(shape.size()) + "; ranks 1 to 4 are allowed");
  }
  uint64_t elements = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] <= 0) {
      return CorruptArtifact(what + " has dimension " + std::to_string(i) + " = " + std::to_string(shape[i]) +
                             " in shape " + ShapeString(shape) + "; dimensions must be positive");
    }
    if (!MulU64(elements, static_cast<uint64_t>(shape[i]), &elements) || elements > (uint64_t{1} << 62)) {
      return CorruptArtifact(what + " shape " + ShapeString(shape) + " has more than 2^62 elements");
    }
  }
  const bool q4 = dtype == DType::kQ4;
  if (!q4 && group_size != 0) {
    return CorruptArtifact(what + " is " + DTypeName(dtype) + " but has group_size " + std::to_string(group_size) +
                           " (only q4 tensors have groups)");
  }
  if (q4 && group_size != 32 && group_size != 64 && group_size != 128) {
    return CorruptArtifact(what + " is q4 with group_size " + std::to_string(group_size) +
                           "; it must be 32, 64 or 128");
  }
  if (IsQuantized(dtype) && shape.size() != 2) {
    return CorruptArtifact(what + " is " + DTypeName(dtype) + " with shape " + ShapeString(shape) +
                           "; quantized tensors must be 2-D [rows, columns]");
  }
  const std::string too_big = what + " shape " + ShapeString(shape) + " is too large for " + DTypeName(dtype);
  TensorByteSizes sizes;
  switch (dtype) {
    case DType::kF32:
    case DType::kI32:
      if (!MulU64(elements, 4, &sizes.data_bytes)) return CorruptArtifact(too_big);
      return sizes;
    case DType::kF16:
    case DType::kBF16:
      if (!MulU64(elements, 2, &sizes.data_bytes)) return CorruptArtifact(too_big);
      return sizes;
    case DType::kQ8:
    case DType::kQ4: {
      const uint64_t rows = static_cast<uint64_t>(shape[0]);
      const uint64_t cols = static_cast<uint64_t>(shape[1]);
      const uint64_t block = q4 ? static_cast<uint64_t>(group_size) : static_cast<uint64_t>(kQuantBlock);
      // cols <= 2^62, so adding block - 1 cannot overflow.
      const uint64_t padded_cols = (cols + block - 1) / block * block;
      const uint64_t row_bytes = q4 ? padded_cols / 2 : padded_cols;
      const uint64_t scales_per_row = q4 ? padded_cols / block : 1;
      const uint64_t scale_bytes = q4 ? 2 : 4;  // f16 per group : f32 per row
      uint64_t scales_row_bytes = 0;
      if (!MulU64(rows, row_bytes, &sizes.data_bytes) ||
          !MulU64(scales_per_row, scale_bytes, &scales_row_bytes) ||
          !MulU64(rows, scales_row_bytes, &sizes.scales_bytes)) {
        return CorruptArtifact(too_big);
      }
      return sizes;
    }
  }
  return CorruptArtifact(what + " has unknown dtype");
}

Result<std::vector<SegmentPlacement>> PlanSegments(const std::vector<TensorByteSizes>& sizes,
                                                   uint64_t* data_section_bytes) {
  std::vector<SegmentPlacement> placements(sizes.size());
  uint64_t cursor = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    SegmentPlacement& p = placements[i];
    p.data_offset = cursor;
    p.data_bytes = sizes[i].data_bytes;
    uint64_t end = 0;
    if (!AddU64(cursor, p.data_bytes, &end) || !AlignUp64(end, &cursor)) {
      return InvalidArgument("tensor #" + std::to_string(i) + " makes the data section larger than 2^64 bytes");
    }
    if (sizes[i].scales_bytes > 0) {
      p.scales_offset = cursor;
      p.scales_bytes = sizes[i].scales_bytes;
      if (!AddU64(cursor, p.scales_bytes, &end) || !AlignUp64(end, &cursor)) {
        return InvalidArgument("tensor #" + std::to_string(i) + " makes the data section larger than 2^64 bytes");
      }
    }
  }
  *data_section_bytes = cursor;
  return placements;
}

}  // namespace kite
