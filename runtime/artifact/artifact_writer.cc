// Streaming .kite writer (see artifact_writer.h for the protocol).
#define _FILE_OFFSET_BITS 64  // 64-bit off_t on 32-bit hosts too: artifacts pass 2 GB

#include "runtime/artifact/artifact_writer.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <unordered_set>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "runtime/artifact/artifact_header.h"

namespace kite {
namespace {

// Large enough that a multi-GB model is written in few system calls, small next to the weights.
constexpr size_t kBufferBytes = size_t{8} << 20;

XXH3_state_t* HashState(void* p) { return static_cast<XXH3_state_t*>(p); }

}  // namespace

std::string ArtifactTempPath(const std::string& path) { return path + ".tmp-" + std::to_string(getpid()); }

Result<std::unique_ptr<ArtifactWriter>> ArtifactWriter::Create(const std::string& path, ArtifactMetadata metadata,
                                                               std::vector<TensorSpec> specs) {
  std::unique_ptr<ArtifactWriter> w(new ArtifactWriter());
  w->path_ = path;
  w->temp_path_ = ArtifactTempPath(path);
  w->metadata_ = std::move(metadata);

  std::unordered_set<std::string> names;
  w->sizes_.reserve(specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    const TensorSpec& s = specs[i];
    if (s.name.empty()) return InvalidArgument(path + ": tensor #" + std::to_string(i) + " has an empty name");
    if (!names.insert(s.name).second) return InvalidArgument(path + ": tensor '" + s.name + "' is given twice");
    auto sizes = ComputeTensorByteSizes(s.dtype, s.shape, s.group_size, path + ": tensor '" + s.name + "'");
    if (!sizes.ok()) return InvalidArgument(sizes.status().message());
    w->sizes_.push_back(sizes.value());
  }
  KITE_ASSIGN_OR_RETURN(std::vector<SegmentPlacement> placements, PlanSegments(w->sizes_, &w->data_section_bytes_));
  w->tensors_.resize(specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    w->tensors_[i].spec = std::move(specs[i]);
    w->tensors_[i].placement = placements[i];
  }
  // Checksums are still 0 here; with ForceDefaults the final header has exactly this size.
  w->header_bytes_ = BuildHeader(w->metadata_, w->tensors_).size();
  w->data_offset_ = (kArtifactPreambleBytes + w->header_bytes_ + kArtifactAlignment - 1) / kArtifactAlignment *
                    kArtifactAlignment;

  w->fd_ = open(w->temp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (w->fd_ < 0) return IoError("cannot create '" + w->temp_path_ + "': " + std::strerror(errno));
  w->temp_created_ = true;
  // The weights go first; the preamble and header are written over the gap at the end.
  if (lseek(w->fd_, static_cast<off_t>(w->data_offset_), SEEK_SET) < 0) {
    return w->Fail(IoError("cannot seek in '" + w->temp_path_ + "': " + std::strerror(errno)));
  }
  w->hash_state_ = XXH3_createState();
  if (w->hash_state_ == nullptr) return w->Fail(Status(StatusCode::kOutOfMemory, "cannot allocate a hash state"));
  XXH3_64bits_reset(HashState(w->hash_state_));
  w->buffer_.reserve(kBufferBytes);
  return w;
}

ArtifactWriter::~ArtifactWriter() {
  if (!finished_) RemoveTemp();
  if (hash_state_ != nullptr) XXH3_freeState(HashState(hash_state_));
}

const TensorSpec& ArtifactWriter::spec(size_t index) const { return tensors_[index].spec; }
const SegmentPlacement& ArtifactWriter::placement(size_t index) const { return tensors_[index].placement; }

void ArtifactWriter::RemoveTemp() {
  if (fd_ >= 0) {
    close(fd_);
    fd_ = -1;
  }
  if (temp_created_) std::remove(temp_path_.c_str());
  temp_created_ = false;
}

Status ArtifactWriter::Fail(Status status) {
  failed_ = true;
  RemoveTemp();
  return status;
}

Status ArtifactWriter::WriteAll(const uint8_t* bytes, uint64_t n) {
  while (n > 0) {
    const size_t chunk = static_cast<size_t>(std::min<uint64_t>(n, uint64_t{1} << 30));
    const ssize_t w = write(fd_, bytes, chunk);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return IoError("writing '" + temp_path_ + "': " + std::strerror(w < 0 ? errno : EIO));
    bytes += w;
    n -= static_cast<uint64_t>(w);
  }
  return Status::Ok();
}

Status ArtifactWriter::PwriteAll(const uint8_t* bytes, uint64_t n, uint64_t offset) {
  while (n > 0) {
    const size_t chunk = static_cast<size_t>(std::min<uint64_t>(n, uint64_t{1} << 30));
    const ssize_t w = pwrite(fd_, bytes, chunk, static_cast<off_t>(offset));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return IoError("writing '" + temp_path_ + "': " + std::strerror(w < 0 ? errno : EIO));
    bytes += w;
    offset += static_cast<uint64_t>(w);
    n -= static_cast<uint64_t>(w);
  }
  return Status::Ok();
}

Status ArtifactWriter::Flush() {
  Status s = WriteAll(buffer_.data(), buffer_.size());
  buffer_.clear();
  return s;
}

Status ArtifactWriter::Append(const void* bytes, uint64_t n, bool scales) {
  if (failed_ || finished_ || fd_ < 0) return Internal(temp_path_ + ": the writer has already failed or finished");
  if (current_ >= tensors_.size()) {
    return Fail(InvalidArgument(path_ + ": more tensors written than the " + std::to_string(tensors_.size()) +
                                " described"));
  }
  const HeaderTensor& t = tensors_[current_];
  const TensorByteSizes& expected = sizes_[current_];
  uint64_t& written = scales ? scales_written_ : data_written_;
  const uint64_t limit = scales ? expected.scales_bytes : expected.data_bytes;
  if (scales && data_written_ != expected.data_bytes) {
    return Fail(InvalidArgument(path_ + ": tensor '" + t.spec.name + "': scales given before all " +
                                std::to_string(expected.data_bytes) + " data bytes"));
  }
  if (!scales && scales_written_ > 0) {
    return Fail(InvalidArgument(path_ + ": tensor '" + t.spec.name + "': data given after its scales"));
  }
  if (n > limit - written) {
    return Fail(InvalidArgument(path_ + ": tensor '" + t.spec.name + "' " + (scales ? "scales" : "data") +
                                " would have more than " + std::to_string(limit) + " bytes"));
  }
  if (scales && scales_written_ == 0 && n > 0) KITE_RETURN_IF_ERROR(PadTo64());
  XXH3_64bits_update(HashState(hash_state_), bytes, static_cast<size_t>(n));
  written += n;
  section_written_ += n;
  const uint8_t* p = static_cast<const uint8_t*>(bytes);
  while (n > 0) {
    const size_t take = static_cast<size_t>(std::min<uint64_t>(n, kBufferBytes - buffer_.size()));
    buffer_.insert(buffer_.end(), p, p + take);
    p += take;
    n -= take;
    if (buffer_.size() == kBufferBytes) {
      Status s = Flush();
      if (!s.ok()) return Fail(s);
    }
  }
  return Status::Ok();
}

Status ArtifactWriter::PadTo64() {
  static const uint8_t kZeros[kArtifactAlignment] = {};
  const uint64_t pad = (kArtifactAlignment - section_written_ % kArtifactAlignment) % kArtifactAlignment;
  buffer_.insert(buffer_.end(), kZeros, kZeros + pad);
  section_written_ += pad;
  if (buffer_.size() >= kBufferBytes) {
    Status s = Flush();
    if (!s.ok()) return Fail(s);
  }
  return Status::Ok();
}

Status ArtifactWriter::AppendData(const void* bytes, uint64_t n) { return Append(bytes, n, false); }
Status ArtifactWriter::AppendScales(const void* bytes, uint64_t n) { return Append(bytes, n, true); }

Status ArtifactWriter::EndTensor() {
  if (failed_ || finished_ || fd_ < 0) return Internal(temp_path_ + ": the writer has already failed or finished");
  if (current_ >= tensors_.size()) return Fail(InvalidArgument(path_ + ": EndTensor after the last tensor"));
  HeaderTensor& t = tensors_[current_];
  const TensorByteSizes& expected = sizes_[current_];
  if (data_written_ != expected.data_bytes || scales_written_ != expected.scales_bytes) {
    return Fail(InvalidArgument(path_ + ": tensor '" + t.spec.name + "' got " + std::to_string(data_written_) +
                                " data and " + std::to_string(scales_written_) + " scales bytes; its dtype and shape need " +
                                std::to_string(expected.data_bytes) + " and " + std::to_string(expected.scales_bytes)));
  }
  KITE_RETURN_IF_ERROR(PadTo64());
  // The layout planned at Create and the bytes actually written must agree exactly.
  const uint64_t planned_end = current_ + 1 < tensors_.size() ? tensors_[current_ + 1].placement.data_offset
                                                             : data_section_bytes_;
  if (section_written_ != planned_end) {
    return Fail(Internal(path_ + ": tensor '" + t.spec.name + "' ends at data byte " +
                         std::to_string(section_written_) + ", planned " + std::to_string(planned_end)));
  }
  t.checksum = XXH3_64bits_digest(HashState(hash_state_));
  XXH3_64bits_reset(HashState(hash_state_));
  ++current_;
  data_written_ = 0;
  scales_written_ = 0;
  return Status::Ok();
}

Status ArtifactWriter::WriteTensor(const void* data, uint64_t data_bytes, const void* scales, uint64_t scales_bytes) {
  KITE_RETURN_IF_ERROR(AppendData(data, data_bytes));
  if (scales_bytes > 0) KITE_RETURN_IF_ERROR(AppendScales(scales, scales_bytes));
  return EndTensor();
}

Status ArtifactWriter::Finish() {
  if (failed_ || finished_ || fd_ < 0) return Internal(temp_path_ + ": the writer has already failed or finished");
  if (current_ != tensors_.size()) {
    return Fail(InvalidArgument(path_ + ": only " + std::to_string(current_) + " of " +
                                std::to_string(tensors_.size()) + " tensors were written"));
  }
  Status s = Flush();
  if (!s.ok()) return Fail(s);

  std::vector<uint8_t> header = BuildHeader(metadata_, tensors_);
  if (header.size() != header_bytes_) {
    return Fail(Internal(path_ + ": the header grew from " + std::to_string(header_bytes_) + " to " +
                         std::to_string(header.size()) + " bytes after a string or list in the metadata changed"));
  }
  ArtifactPreamble preamble;
  preamble.header_offset = kArtifactPreambleBytes;
  preamble.header_bytes = header_bytes_;
  preamble.data_offset = data_offset_;
  preamble.data_bytes = data_section_bytes_;
  preamble.header_checksum = HeaderChecksum(header.data(), header.size());
  uint8_t preamble_bytes[kArtifactPreambleBytes];
  EncodePreamble(preamble, preamble_bytes);

  s = PwriteAll(header.data(), header.size(), kArtifactPreambleBytes);
  // The gap up to data_offset is zero padding; write it so the file holds no holes.
  std::vector<uint8_t> gap(data_offset_ - kArtifactPreambleBytes - header_bytes_, 0);
  if (s.ok()) s = PwriteAll(gap.data(), gap.size(), kArtifactPreambleBytes + header_bytes_);
  if (s.ok()) s = PwriteAll(preamble_bytes, sizeof(preamble_bytes), 0);
  if (s.ok() && ftruncate(fd_, static_cast<off_t>(file_bytes())) != 0) {
    s = IoError("cannot set the size of '" + temp_path_ + "': " + std::strerror(errno));
  }
  if (s.ok() && fsync(fd_) != 0) s = IoError("cannot sync '" + temp_path_ + "': " + std::strerror(errno));
  if (!s.ok()) return Fail(s);
  const int fd = fd_;
  fd_ = -1;
  if (close(fd) != 0) return Fail(IoError("cannot close '" + temp_path_ + "': " + std::strerror(errno)));
  if (std::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    return Fail(IoError("cannot rename '" + temp_path_ + "' to '" + path_ + "': " + std::strerror(errno)));
  }
  temp_created_ = false;  // it is path_ now
  finished_ = true;
  return Status::Ok();
}

}  // namespace kite
