// ArtifactWriter: writes a .kite file without ever holding the weights in
// memory. All tensors are described up front, so every offset is known before
// the first byte is written; the weights then stream to the data section
// (XXH3-64 computed on the way) in as many pieces as the caller likes; at the
// end the header is rebuilt with the real checksums (same size) and written
// with the preamble. Output goes to `PATH.tmp-<pid>`, renamed to PATH only by a
// successful Finish(); any failure, or destroying an unfinished writer,
// removes the temporary file, so a half-written artifact never exists.
//
//   KITE_ASSIGN_OR_RETURN(auto writer, ArtifactWriter::Create(path, metadata, specs));
//   for (each tensor, in order) {
//     writer->AppendData(chunk, n) ...; writer->AppendScales(s, n) ...; writer->EndTensor();
//   }
//   writer->metadata().quantization.relative_rms_error = measured;  // numbers may change
//   KITE_RETURN_IF_ERROR(writer->Finish());
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/artifact/artifact_layout.h"
#include "runtime/artifact/artifact_metadata.h"
#include "runtime/core/status.h"

namespace kite {

struct HeaderTensor;

// Where a writer for `path` puts its bytes until Finish: `path.tmp-<pid>` (beside the target,
// so the final rename stays on one file system). Tools that catch signals remove it.
std::string ArtifactTempPath(const std::string& path);

class ArtifactWriter {
 public:
  // Checks the specs (known dtype, rank 1..4, positive dims, valid group size, unique
  // non-empty names), plans the layout and creates the temporary file.
  static Result<std::unique_ptr<ArtifactWriter>> Create(const std::string& path, ArtifactMetadata metadata,
                                                         std::vector<TensorSpec> tensors);
  ~ArtifactWriter();
  ArtifactWriter(const ArtifactWriter&) = delete;
  ArtifactWriter& operator=(const ArtifactWriter&) = delete;

  size_t num_tensors() const { return sizes_.size(); }
  const TensorSpec& spec(size_t index) const;
  // The byte counts tensor `index` must be given (data, then scales for Q8/Q4).
  const TensorByteSizes& sizes(size_t index) const { return sizes_[index]; }
  // Offsets in the final file (the data section starts at data_offset()).
  const SegmentPlacement& placement(size_t index) const;
  uint64_t header_bytes() const { return header_bytes_; }
  uint64_t data_offset() const { return data_offset_; }
  uint64_t file_bytes() const { return data_offset_ + data_section_bytes_; }
  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_path_; }
  size_t next_tensor() const { return current_; }

  // Appends bytes to the current tensor (tensors go in the order given to Create): all its data
  // bytes first, then (Q8/Q4) all its scales bytes. EndTensor checks the counts and moves on.
  Status AppendData(const void* bytes, uint64_t n);
  Status AppendScales(const void* bytes, uint64_t n);
  Status EndTensor();
  // All of one tensor at once.
  Status WriteTensor(const void* data, uint64_t data_bytes, const void* scales = nullptr, uint64_t scales_bytes = 0);

  // Numbers in the metadata (e.g. quantization.relative_rms_error) may change until Finish;
  // strings and vector lengths may not, since the header's size is fixed at Create.
  ArtifactMetadata& metadata() { return metadata_; }

  // Writes the header and preamble, syncs, and renames the temporary file to path().
  Status Finish();

 private:
  ArtifactWriter() = default;
  Status Fail(Status status);
  Status Append(const void* bytes, uint64_t n, bool scales);
  Status WriteAll(const uint8_t* bytes, uint64_t n);
  Status Flush();
  Status PadTo64();
  Status PwriteAll(const uint8_t* bytes, uint64_t n, uint64_t offset);
  void RemoveTemp();

  std::string path_;
  std::string temp_path_;
  int fd_ = -1;
  bool temp_created_ = false;  // only a file this writer created is ever removed
  bool failed_ = false;
  bool finished_ = false;
  ArtifactMetadata metadata_;
  std::vector<HeaderTensor> tensors_;
  std::vector<TensorByteSizes> sizes_;
  uint64_t header_bytes_ = 0;
  uint64_t data_offset_ = 0;
  uint64_t data_section_bytes_ = 0;

  // Streaming state of the current tensor.
  size_t current_ = 0;
  uint64_t data_written_ = 0;
  uint64_t scales_written_ = 0;
  void* hash_state_ = nullptr;   // XXH3_state_t*
  uint64_t section_written_ = 0;  // bytes of the data section written so far (incl. padding)
  std::vector<uint8_t> buffer_;
};

}  // namespace kite
