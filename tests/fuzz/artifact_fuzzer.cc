// libFuzzer target for the .kite loader: arbitrary bytes -> Artifact::FromView
// must return a Status or a fully checked artifact, never crash or read out of
// bounds. Accepted artifacts have every tensor byte touched and their checksums
// verified, so a wrong bounds check shows up under ASan.
//
// Most mutations of a real artifact change the header and stop at its checksum;
// to let them reach the FlatBuffers Verifier and the per-tensor checks, each
// input is also tried with the preamble's header checksum recomputed.
#include <cstdint>
#include <cstring>
#include <vector>

#include "runtime/artifact/artifact.h"
#include "runtime/artifact/artifact_layout.h"

namespace {

void Exercise(std::vector<uint8_t> bytes) {
  auto artifact = kite::Artifact::FromView(kite::ViewOfBuffer(std::move(bytes), "fuzz.kite"));
  if (!artifact.ok()) {
    if (artifact.status().message().empty()) __builtin_trap();  // every error must say something
    return;
  }
  const kite::Artifact& a = *artifact.value();
  volatile uint8_t sink = 0;
  for (const kite::TensorView& t : a.tensors()) {
    for (uint64_t i = 0; i < t.data_bytes; ++i) sink = sink ^ t.data[i];
    for (uint64_t i = 0; i < t.scales_bytes; ++i) sink = sink ^ t.scales[i];
    if (a.Find(t.name) != &t) __builtin_trap();
    (void)t.elements();
  }
  (void)a.VerifyChecksums([](uint64_t done, uint64_t total) {
    if (done > total) __builtin_trap();
  });
  (void)a.weight_bytes();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<uint8_t> bytes(data, data + size);
  Exercise(bytes);
  // Only inputs whose preamble is sound get that far in the reader; repair their checksum.
  auto preamble = kite::DecodePreamble(data, size, "fuzz.kite");
  if (!preamble.ok()) return 0;
  const uint64_t checksum = kite::HeaderChecksum(data + preamble->header_offset, preamble->header_bytes);
  if (checksum == preamble->header_checksum) return 0;
  preamble->header_checksum = checksum;
  kite::EncodePreamble(preamble.value(), bytes.data());
  Exercise(std::move(bytes));
  return 0;
}
