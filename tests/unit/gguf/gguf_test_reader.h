// A small GGUF v3 reader for the tests, written from the format description and
// independently of converter/gguf (it shares no code or constants with the
// writer), so a misunderstanding of the format in the writer shows up as a
// disagreement here. It parses the whole file into memory and checks every
// length and offset against the file size; errors are strings, not crashes.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace kite {
namespace testing {

struct GgufValue {
  uint32_t type = 0;                  // the GGUF value type number
  uint64_t u = 0;                     // unsigned integers and bool
  int64_t i = 0;                      // signed integers
  double f = 0;                       // float32 / float64
  std::string s;                      // string
  uint32_t array_type = 0;            // arrays: element type
  std::vector<GgufValue> array;       // arrays: elements
};

struct GgufTensor {
  std::string name;
  std::vector<uint64_t> ne;
  uint32_t type = 0;   // ggml type number
  uint64_t offset = 0; // from the data section start
  uint64_t bytes = 0;  // computed from type and ne
};

struct GgufFile {
  uint32_t version = 0;
  std::map<std::string, GgufValue> kv;
  std::vector<std::string> key_order;
  std::vector<GgufTensor> tensors;
  uint64_t alignment = 32;
  uint64_t data_start = 0;  // file offset of the data section
  std::vector<uint8_t> bytes;  // the whole file

  const GgufTensor* Find(const std::string& name) const;
  const uint8_t* Data(const GgufTensor& t) const { return bytes.data() + data_start + t.offset; }
};

// Returns "" on success, else what is wrong and where.
std::string ReadGguf(const std::string& path, GgufFile* out);

// Dequantizes one tensor of type F32 (0), F16 (1), Q4_0 (2) or Q8_0 (8) to f32, row-major.
// `scales` (optional) gets the block scale of every element for Q4_0/Q8_0 (0 otherwise).
std::vector<float> Dequantize(const GgufFile& file, const GgufTensor& t, std::vector<float>* scales = nullptr);

float HalfBitsToFloat(uint16_t h);

}  // namespace testing
}  // namespace kite
