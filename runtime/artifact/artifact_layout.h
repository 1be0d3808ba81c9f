// The byte layout of a .kite file that the writer produces and the reader
// checks: the 64-byte preamble, and the number of bytes each tensor's data
// and scales segments must have for its dtype and shape. Both sides use these
// functions so that they can never disagree about the format.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/artifact/artifact.h"
#include "runtime/core/status.h"

namespace kite {

// The fixed-size block at byte 0 (see runtime/artifact/kite.fbs). Little-endian on disk.
struct ArtifactPreamble {
  uint32_t format_version = kArtifactFormatVersion;
  uint64_t header_offset = 0;
  uint64_t header_bytes = 0;
  uint64_t data_offset = 0;
  uint64_t data_bytes = 0;
  uint64_t header_checksum = 0;  // XXH3-64 of the header bytes
};

void EncodePreamble(const ArtifactPreamble& preamble, uint8_t out[kArtifactPreambleBytes]);
// Checks the magic, the version, the reserved fields and every offset against `file_bytes`.
// `where` names the file in messages.
Result<ArtifactPreamble> DecodePreamble(const uint8_t* bytes, uint64_t file_bytes, const std::string& where);

uint64_t HeaderChecksum(const uint8_t* header, uint64_t header_bytes);

// Segment sizes implied by a tensor's description. Q8/Q4 need rank 2 ([rows, K]).
struct TensorByteSizes {
  uint64_t data_bytes = 0;
  uint64_t scales_bytes = 0;  // 0 when the dtype has no scales
};
// Fails (with `what` naming the tensor) on an unknown dtype, rank outside 1..4, a dimension
// <= 0, a Q4 group size outside {32, 64, 128}, a group size on a non-Q4 tensor, or a size
// that overflows 64 bits.
Result<TensorByteSizes> ComputeTensorByteSizes(DType dtype, const std::vector<int64_t>& shape,
                                               int64_t group_size, const std::string& what);

bool IsKnownDType(uint8_t value);
bool IsQuantized(DType dtype);

// "[172, 64]"
std::string ShapeString(const std::vector<int64_t>& shape);

// Where the segments of one tensor go, relative to the data section (the writer's plan).
struct SegmentPlacement {
  uint64_t data_offset = 0;
  uint64_t data_bytes = 0;
  uint64_t scales_offset = 0;
  uint64_t scales_bytes = 0;
};
// Lays out the segments back to back, each 64-byte aligned; returns the data section's size
// (a multiple of 64) in `data_section_bytes`. u64 arithmetic, overflow-checked.
Result<std::vector<SegmentPlacement>> PlanSegments(const std::vector<TensorByteSizes>& sizes,
                                                   uint64_t* data_section_bytes);

}  // namespace kite
