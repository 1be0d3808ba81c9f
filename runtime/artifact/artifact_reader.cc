// Artifact::Open / FromView: every byte that later code will trust is checked
// here first, in the order that makes each check safe: the preamble's offsets
// against the file size, the header's checksum, the FlatBuffers Verifier, then
// each tensor's dtype, shape and segments against the data section. After this
// nothing that reads the artifact needs a bounds check of its own.
#include <algorithm>
#include <cstring>
#include <limits>

#include <xxhash.h>

#include "runtime/artifact/artifact.h"
#include "runtime/artifact/artifact_header.h"
#include "runtime/artifact/artifact_layout.h"

namespace kite {
namespace {

std::string Hex(uint64_t v) {
  static const char kHex[] = "0123456789abcdef";
  std::string s = "0x";
  for (int shift = 60; shift >= 0; shift -= 4) s += kHex[(v >> shift) & 15];
  return s;
}

// Nesting in this schema is shallow (Artifact > Tokenizer > AddedToken); the table limit only
// needs to bound the work a hostile header can cause.
constexpr uint32_t kVerifierMaxDepth = 16;
constexpr uint32_t kVerifierMaxTables = 1u << 22;

struct SegmentRef {
  uint64_t begin;
  uint64_t end;
  size_t tensor;
};

}  // namespace

class ArtifactReader {
 public:
  static Result<std::unique_ptr<Artifact>> Read(std::unique_ptr<FileView> view);

 private:
  static Status CheckSegment(const fb::Segment* segment, const char* kind, uint64_t expected_bytes,
                             uint64_t data_section_bytes, const std::string& what, uint64_t* offset);
  static Status ReadTensors(const fb::Artifact& root, const ArtifactPreamble& preamble, const std::string& where,
                            Artifact* artifact);
};

Status ArtifactReader::CheckSegment(const fb::Segment* segment, const char* kind, uint64_t expected_bytes,
                                    uint64_t data_section_bytes, const std::string& what, uint64_t* offset) {
  const uint64_t begin = segment->offset();
  const uint64_t bytes = segment->bytes();
  if (begin % kArtifactAlignment != 0) {
    return CorruptArtifact(what + " " + kind + " offset " + std::to_string(begin) + " is not a multiple of 64");
  }
  uint64_t end = 0;
  if (__builtin_add_overflow(begin, bytes, &end)) {
    return CorruptArtifact(what + " " + kind + " (" + std::to_string(bytes) + " bytes at offset " +
                           std::to_string(begin) + ") ends past 2^64");
  }
  if (end > data_section_bytes) {
    return CorruptArtifact(what + " " + kind + " ends at byte " + std::to_string(end) + " but the data section has " +
                           std::to_string(data_section_bytes) + " bytes");
  }
  if (bytes != expected_bytes) {
    return CorruptArtifact(what + " " + kind + " has " + std::to_string(bytes) + " bytes but its dtype and shape need " +
                           std::to_string(expected_bytes));
  }
  *offset = begin;
  return Status::Ok();
}

Status ArtifactReader::ReadTensors(const fb::Artifact& root, const ArtifactPreamble& preamble,
                                   const std::string& where, Artifact* artifact) {
  const auto& tensors = *root.tensors();
  const uint8_t* data_section = artifact->view_->data() + preamble.data_offset;
  std::vector<SegmentRef> segments;
  artifact->tensors_.reserve(tensors.size());
  for (uint32_t i = 0; i < tensors.size(); ++i) {
    const fb::Tensor& t = *tensors.Get(i);
    TensorView view;
    view.name.assign(t.name()->c_str(), t.name()->size());
    const std::string what = where + ": tensor '" + view.name + "'";
    if (view.name.empty()) return CorruptArtifact(where + ": tensor #" + std::to_string(i) + " has an empty name");
    // Checked as each name arrives, so repeated entries stop the loop at the first repeat.
    if (!artifact->index_.emplace(view.name, i).second) {
      return CorruptArtifact(what + " appears twice (entries #" + std::to_string(artifact->index_[view.name]) +
                             " and #" + std::to_string(i) + ")");
    }
    const uint8_t dtype_value = static_cast<uint8_t>(t.dtype());
    if (!IsKnownDType(dtype_value)) {
      return CorruptArtifact(what + " has dtype value " + std::to_string(dtype_value) +
                             ", unknown to this reader (written by a newer converter?)");
    }
    view.dtype = static_cast<DType>(dtype_value);
    const auto* shape = t.shape();
    const uint32_t rank = shape == nullptr ? 0 : shape->size();
    if (rank == 0 || rank > 4) {
      return CorruptArtifact(what + " has rank " + std::to_string(rank) + "; ranks 1 to 4 are allowed");
    }
    for (uint32_t d = 0; d < rank; ++d) {
      const uint64_t dim = shape->Get(d);
      if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return CorruptArtifact(what + " dimension " + std::to_string(d) + " is " + std::to_string(dim) +
                               ", more than 2^63-1");
      }
      view.shape.push_back(static_cast<int64_t>(dim));
    }
    view.group_size = t.group_size();
    KITE_ASSIGN_OR_RETURN(TensorByteSizes sizes, ComputeTensorByteSizes(view.dtype, view.shape, view.group_size, what));

    uint64_t offset = 0;
    KITE_RETURN_IF_ERROR(CheckSegment(t.data(), "data", sizes.data_bytes, preamble.data_bytes, what, &offset));
    view.data = data_section + offset;
    view.data_bytes = sizes.data_bytes;
    segments.push_back({offset, offset + sizes.data_bytes, i});
    if (IsQuantized(view.dtype)) {
      if (t.scales() == nullptr) return CorruptArtifact(what + " is " + DTypeName(view.dtype) + " but has no scales");
      KITE_RETURN_IF_ERROR(CheckSegment(t.scales(), "scales", sizes.scales_bytes, preamble.data_bytes, what, &offset));
      view.scales = data_section + offset;
      view.scales_bytes = sizes.scales_bytes;
      segments.push_back({offset, offset + sizes.scales_bytes, i});
    } else if (t.scales() != nullptr) {
      return CorruptArtifact(what + " is " + DTypeName(view.dtype) + " but has a scales segment");
    }
    view.checksum = t.checksum();
    artifact->tensors_.push_back(std::move(view));
  }
  // Two tensors sharing bytes means the table is corrupt even if each entry alone is fine.
  std::sort(segments.begin(), segments.end(),
            [](const SegmentRef& a, const SegmentRef& b) { return a.begin < b.begin; });
  for (size_t k = 1; k < segments.size(); ++k) {
    if (segments[k].begin < segments[k - 1].end) {
      return CorruptArtifact(where + ": tensors '" + artifact->tensors_[segments[k - 1].tensor].name + "' and '" +
                             artifact->tensors_[segments[k].tensor].name + "' overlap at data byte " +
                             std::to_string(segments[k].begin));
    }
  }
  return Status::Ok();
}

Result<std::unique_ptr<Artifact>> ArtifactReader::Read(std::unique_ptr<FileView> view) {
  const std::string where = view->name().empty() ? std::string("<artifact>") : view->name();
  const uint8_t* bytes = view->data();
  const uint64_t size = view->size();
  // FlatBuffers reads scalars in place; the mapping (page-aligned) and heap buffers satisfy this.
  if (size > 0 && reinterpret_cast<uintptr_t>(bytes) % 8 != 0) {
    return InvalidArgument(where + ": the artifact's bytes must start at an 8-byte aligned address");
  }
  KITE_ASSIGN_OR_RETURN(ArtifactPreamble preamble, DecodePreamble(bytes, size, where));

  const uint8_t* header = bytes + preamble.header_offset;
  const uint64_t actual = HeaderChecksum(header, preamble.header_bytes);
  if (actual != preamble.header_checksum) {
    return CorruptArtifact(where + ": the header (bytes " + std::to_string(preamble.header_offset) + ".." +
                           std::to_string(preamble.header_offset + preamble.header_bytes) + ") hashes to " +
                           Hex(actual) + " but the preamble records " + Hex(preamble.header_checksum) +
                           "; the file is corrupt");
  }
  if (!fb::ArtifactBufferHasIdentifier(header)) {
    std::string id(reinterpret_cast<const char*>(header) + 4, 4);
    for (char& c : id) {
      if (c < 0x20 || c > 0x7e) c = '?';
    }
    return CorruptArtifact(where + ": the header's file identifier is \"" + id + "\", expected \"KITE\"");
  }
  flatbuffers::Verifier::Options options;
  options.max_depth = kVerifierMaxDepth;
  options.max_tables = kVerifierMaxTables;
  flatbuffers::Verifier verifier(header, static_cast<size_t>(preamble.header_bytes), options);
  if (!fb::VerifyArtifactBuffer(verifier)) {
    return CorruptArtifact(where + ": the header (" + std::to_string(preamble.header_bytes) + " bytes at byte " +
                           std::to_string(preamble.header_offset) +
                           ") is not a valid Kite FlatBuffer: an offset points outside it, a required field "
                           "(config, tensors, a tensor's name or data) is missing, or it nests too deeply");
  }
  const fb::Artifact& root = *fb::GetArtifact(header);
  if (root.format_version() != preamble.format_version) {
    return CorruptArtifact(where + ": the header says format version " + std::to_string(root.format_version()) +
                           " but the preamble says " + std::to_string(preamble.format_version));
  }
  KITE_ASSIGN_OR_RETURN(ArtifactMetadata metadata, ParseHeaderMetadata(root, preamble.header_bytes, where));

  std::unique_ptr<Artifact> artifact(new Artifact());
  artifact->view_ = std::move(view);
  KITE_RETURN_IF_ERROR(ReadTensors(root, preamble, where, artifact.get()));
  artifact->format_version_ = preamble.format_version;
  artifact->producer_ = std::move(metadata.producer);
  artifact->config_ = std::move(metadata.config);
  artifact->has_tokenizer_ = metadata.has_tokenizer;
  artifact->tokenizer_ = std::move(metadata.tokenizer);
  artifact->chat_template_ = std::move(metadata.chat_template);
  artifact->generation_ = metadata.generation;
  artifact->stop_strings_ = std::move(metadata.stop_strings);
  artifact->quantization_ = std::move(metadata.quantization);
  return artifact;
}

Result<std::unique_ptr<Artifact>> Artifact::Open(const std::string& path) {
  KITE_ASSIGN_OR_RETURN(std::unique_ptr<FileView> view, MapFile(path));
  return ArtifactReader::Read(std::move(view));
}

Result<std::unique_ptr<Artifact>> Artifact::FromView(std::unique_ptr<FileView> view) {
  if (view == nullptr) return InvalidArgument("Artifact::FromView: no view given");
  return ArtifactReader::Read(std::move(view));
}

const TensorView* Artifact::Find(std::string_view name) const {
  auto it = index_.find(std::string(name));
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

uint64_t Artifact::weight_bytes() const {
  uint64_t total = 0;
  for (const TensorView& t : tensors_) total += t.data_bytes + t.scales_bytes;
  return total;
}

Status Artifact::VerifyChecksums(const std::function<void(uint64_t, uint64_t)>& progress) const {
  // Report at most every 64 MiB so that a progress bar moves on multi-GB tensors.
  constexpr uint64_t kChunkBytes = uint64_t{64} << 20;
  const uint64_t total = weight_bytes();
  uint64_t done = 0;
  XXH3_state_t* state = XXH3_createState();
  if (state == nullptr) return Status(StatusCode::kOutOfMemory, "VerifyChecksums: cannot allocate a hash state");
  Status status;
  for (const TensorView& t : tensors_) {
    XXH3_64bits_reset(state);
    const std::pair<const uint8_t*, uint64_t> parts[] = {{t.data, t.data_bytes}, {t.scales, t.scales_bytes}};
    for (const auto& part : parts) {
      for (uint64_t at = 0; at < part.second; at += kChunkBytes) {
        const uint64_t n = std::min(kChunkBytes, part.second - at);
        XXH3_64bits_update(state, part.first + at, static_cast<size_t>(n));
        done += n;
        if (progress) progress(done, total);
      }
    }
    const uint64_t actual = XXH3_64bits_digest(state);
    if (actual != t.checksum) {
      status = CorruptArtifact(path() + ": tensor '" + t.name + "' hashes to " + Hex(actual) +
                               " but the header records " + Hex(t.checksum) + "; its bytes are corrupt");
      break;
    }
  }
  XXH3_freeState(state);
  if (status.ok() && progress) progress(total, total);
  return status;
}

}  // namespace kite
