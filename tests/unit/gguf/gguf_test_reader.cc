#include "tests/unit/gguf/gguf_test_reader.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>

namespace kite {
namespace testing {
namespace {

class Cursor {
 public:
  explicit Cursor(const std::vector<uint8_t>& b) : b_(b) {}
  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  uint64_t pos() const { return pos_; }

  template <typename T>
  T Get() {
    T v{};
    if (!Need(sizeof(T))) return v;
    std::memcpy(&v, b_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string String() {
    const uint64_t n = Get<uint64_t>();
    if (!Need(n)) return "";
    std::string s(reinterpret_cast<const char*>(b_.data() + pos_), n);
    pos_ += n;
    return s;
  }
  void Fail(const std::string& e) {
    if (error_.empty()) error_ = e + " (at byte " + std::to_string(pos_) + ")";
  }

 private:
  bool Need(uint64_t n) {
    if (!error_.empty()) return false;
    if (n > b_.size() - pos_) {
      Fail("needs " + std::to_string(n) + " bytes but the file ends");
      return false;
    }
    return true;
  }
  const std::vector<uint8_t>& b_;
  uint64_t pos_ = 0;
  std::string error_;
};

// value types of the GGUF spec: 0 u8, 1 i8, 2 u16, 3 i16, 4 u32, 5 i32, 6 f32, 7 bool,
// 8 string, 9 array, 10 u64, 11 i64, 12 f64
GgufValue ReadValue(Cursor* c, uint32_t type, int depth) {
  GgufValue v;
  v.type = type;
  switch (type) {
    case 0: v.u = c->Get<uint8_t>(); break;
    case 1: v.i = c->Get<int8_t>(); break;
    case 2: v.u = c->Get<uint16_t>(); break;
    case 3: v.i = c->Get<int16_t>(); break;
    case 4: v.u = c->Get<uint32_t>(); break;
    case 5: v.i = c->Get<int32_t>(); break;
    case 6: v.f = c->Get<float>(); break;
    case 7: {
      v.u = c->Get<uint8_t>();
      if (v.u > 1) c->Fail("bool value " + std::to_string(v.u));
      break;
    }
    case 8: v.s = c->String(); break;
    case 9: {
      if (depth > 0) {
        c->Fail("nested array");
        break;
      }
      v.array_type = c->Get<uint32_t>();
      const uint64_t n = c->Get<uint64_t>();
      for (uint64_t k = 0; k < n && c->ok(); ++k) v.array.push_back(ReadValue(c, v.array_type, depth + 1));
      break;
    }
    case 10: v.u = c->Get<uint64_t>(); break;
    case 11: v.i = c->Get<int64_t>(); break;
    case 12: v.f = c->Get<double>(); break;
    default: c->Fail("unknown value type " + std::to_string(type));
  }
  return v;
}

// ggml: F32 = 0 (1 elem, 4 B), F16 = 1 (1, 2), Q4_0 = 2 (32, 18), Q8_0 = 8 (32, 34).
bool BlockOf(uint32_t type, uint64_t* elements, uint64_t* bytes) {
  switch (type) {
    case 0: *elements = 1; *bytes = 4; return true;
    case 1: *elements = 1; *bytes = 2; return true;
    case 2: *elements = 32; *bytes = 18; return true;
    case 8: *elements = 32; *bytes = 34; return true;
  }
  return false;
}

}  // namespace

float HalfBitsToFloat(uint16_t h) {
  const int sign = (h >> 15) & 1, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
  float v;
  if (exponent == 0) v = std::ldexp(static_cast<float>(mantissa), -24);
  else if (exponent == 31) v = mantissa != 0 ? NAN : INFINITY;
  else v = std::ldexp(static_cast<float>(mantissa + 1024), exponent - 25);
  return sign ? -v : v;
}

const GgufTensor* GgufFile::Find(const std::string& name) const {
  for (const GgufTensor& t : tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

std::string ReadGguf(const std::string& path, GgufFile* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "cannot open " + path;
  out->bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  Cursor c(out->bytes);
  const uint32_t magic = c.Get<uint32_t>();
  if (magic != 0x46554747u) return "bad magic";  // "GGUF" read as a little-endian u32
  out->version = c.Get<uint32_t>();
  const uint64_t n_tensors = c.Get<uint64_t>();
  const uint64_t n_kv = c.Get<uint64_t>();
  for (uint64_t k = 0; k < n_kv && c.ok(); ++k) {
    const std::string key = c.String();
    const uint32_t type = c.Get<uint32_t>();
    GgufValue v = ReadValue(&c, type, 0);
    if (out->kv.count(key) != 0) c.Fail("duplicate key " + key);
    out->kv[key] = v;
    out->key_order.push_back(key);
  }
  auto align = out->kv.find("general.alignment");
  if (align != out->kv.end()) {
    if (align->second.type != 4 || align->second.u == 0 || (align->second.u & (align->second.u - 1)) != 0) {
      return "general.alignment must be a u32 power of two";
    }
    out->alignment = align->second.u;
  }
  for (uint64_t k = 0; k < n_tensors && c.ok(); ++k) {
    GgufTensor t;
    t.name = c.String();
    const uint32_t n_dims = c.Get<uint32_t>();
    if (n_dims == 0 || n_dims > 4) c.Fail("tensor " + t.name + " has " + std::to_string(n_dims) + " dims");
    for (uint32_t d = 0; d < n_dims && c.ok(); ++d) t.ne.push_back(c.Get<uint64_t>());
    t.type = c.Get<uint32_t>();
    t.offset = c.Get<uint64_t>();
    uint64_t be = 0, bb = 0;
    if (c.ok() && !BlockOf(t.type, &be, &bb)) c.Fail("tensor " + t.name + " has unexpected type " + std::to_string(t.type));
    if (c.ok() && t.ne[0] % be != 0) c.Fail("tensor " + t.name + " row not a multiple of its block");
    if (c.ok()) {
      t.bytes = t.ne[0] / be * bb;
      for (size_t d = 1; d < t.ne.size(); ++d) t.bytes *= t.ne[d];
    }
    out->tensors.push_back(t);
  }
  if (!c.ok()) return c.error();
  out->data_start = (c.pos() + out->alignment - 1) / out->alignment * out->alignment;
  for (const GgufTensor& t : out->tensors) {
    if (t.offset % out->alignment != 0) return "tensor " + t.name + " offset not aligned";
    if (out->data_start + t.offset + t.bytes > out->bytes.size()) return "tensor " + t.name + " ends past the file";
  }
  return "";
}

std::vector<float> Dequantize(const GgufFile& file, const GgufTensor& t, std::vector<float>* scales) {
  uint64_t n = 1;
  for (uint64_t d : t.ne) n *= d;
  std::vector<float> out(n);
  if (scales != nullptr) scales->assign(n, 0.0f);
  const uint8_t* p = file.Data(t);
  auto half_at = [](const uint8_t* q) {
    uint16_t h;
    std::memcpy(&h, q, 2);
    return HalfBitsToFloat(h);
  };
  if (t.type == 0) {
    std::memcpy(out.data(), p, n * 4);
  } else if (t.type == 1) {
    for (uint64_t k = 0; k < n; ++k) out[k] = half_at(p + 2 * k);
  } else if (t.type == 8) {
    for (uint64_t b = 0; b < n / 32; ++b) {
      const uint8_t* block = p + b * 34;
      const float d = half_at(block);
      for (int k = 0; k < 32; ++k) {
        out[b * 32 + k] = d * static_cast<float>(static_cast<int8_t>(block[2 + k]));
        if (scales != nullptr) (*scales)[b * 32 + k] = d;
      }
    }
  } else if (t.type == 2) {
    for (uint64_t b = 0; b < n / 32; ++b) {
      const uint8_t* block = p + b * 18;
      const float d = half_at(block);
      for (int k = 0; k < 16; ++k) {
        out[b * 32 + k] = d * static_cast<float>((block[2 + k] & 0x0f) - 8);
        out[b * 32 + 16 + k] = d * static_cast<float>((block[2 + k] >> 4) - 8);
      }
      if (scales != nullptr) {
        for (int k = 0; k < 32; ++k) (*scales)[b * 32 + k] = d;
      }
    }
  }
  return out;
}

}  // namespace testing
}  // namespace kite
