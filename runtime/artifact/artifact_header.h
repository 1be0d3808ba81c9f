// The FlatBuffer header of a .kite file in both directions. Internal to
// runtime/artifact (and its tests): it is the only place besides the generated
// code that knows the schema's tables.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/artifact/artifact_layout.h"
#include "runtime/artifact/artifact_metadata.h"
#include "runtime/artifact/kite_generated.h"
#include "runtime/core/status.h"

namespace kite {

// One tensor's entry in the header.
struct HeaderTensor {
  TensorSpec spec;
  SegmentPlacement placement;  // offsets relative to the data section
  uint64_t checksum = 0;       // XXH3-64 over the data bytes, then the scales bytes
};

// Serializes the header. Every scalar is stored even when it equals its schema default
// (FlatBufferBuilder::ForceDefaults), so the size depends only on strings and vector lengths:
// the writer builds it once with placeholder checksums and again, at the same size, at the end.
std::vector<uint8_t> BuildHeader(const ArtifactMetadata& metadata, const std::vector<HeaderTensor>& tensors);

// Reads config, tokenizer, chat template, generation defaults, stop strings and quantization
// info from a header the FlatBuffers Verifier accepted, and checks that they make sense
// (dimensions, head counts, token ids in range). `header_bytes` bounds the total string bytes
// copied, so a hostile header cannot make one string stand for millions. `where` names the file.
Result<ArtifactMetadata> ParseHeaderMetadata(const fb::Artifact& root, uint64_t header_bytes,
                                             const std::string& where);

}  // namespace kite
