#include "runtime/llm/chat_template/unicode.h"

namespace kite {
namespace jinja {

uint32_t Utf8Decode(std::string_view s, size_t pos, size_t* length) {
  const unsigned char b0 = static_cast<unsigned char>(s[pos]);
  size_t need = 0;
  uint32_t cp = 0;
  uint32_t min = 0;
  if (b0 < 0x80) {
    *length = 1;
    return b0;
  } else if ((b0 & 0xE0) == 0xC0) {
    need = 1, cp = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    need = 2, cp = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    need = 3, cp = b0 & 0x07, min = 0x10000;
  } else {
    *length = 1;
    return 0xDC00 + b0;
  }
  if (pos + need >= s.size()) {  // truncated sequence
    *length = 1;
    return 0xDC00 + b0;
  }
  for (size_t i = 1; i <= need; ++i) {
    const unsigned char b = static_cast<unsigned char>(s[pos + i]);
    if ((b & 0xC0) != 0x80) {
      *length = 1;
      return 0xDC00 + b0;
    }
    cp = (cp << 6) | (b & 0x3F);
  }
  // Overlong forms, surrogates and values past U+10FFFF are invalid UTF-8.
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    *length = 1;
    return 0xDC00 + b0;
  }
  *length = need + 1;
  return cp;
}

size_t Utf8UnitLength(std::string_view s, size_t pos) {
  size_t length = 1;
  Utf8Decode(s, pos, &length);
  return length;
}

void AppendUtf8(std::string* out, uint32_t cp) {
  if (cp >= 0xDC80 && cp <= 0xDCFF) {  // an escaped invalid byte: emit it back
    out->push_back(static_cast<char>(cp - 0xDC00));
  } else if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

size_t Utf8Length(std::string_view s) {
  size_t n = 0;
  for (size_t pos = 0; pos < s.size(); pos += Utf8UnitLength(s, pos)) ++n;
  return n;
}

std::vector<size_t> Utf8Offsets(std::string_view s) {
  std::vector<size_t> offsets;
  for (size_t pos = 0; pos < s.size(); pos += Utf8UnitLength(s, pos)) offsets.push_back(pos);
  offsets.push_back(s.size());
  return offsets;
}

std::vector<uint32_t> Utf8CodePoints(std::string_view s) {
  std::vector<uint32_t> cps;
  size_t length = 0;
  for (size_t pos = 0; pos < s.size(); pos += length) cps.push_back(Utf8Decode(s, pos, &length));
  return cps;
}

bool IsPySpace(uint32_t cp) {
  if (cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x1F)) return true;
  if (cp < 0x85) return false;
  return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
         cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

bool IsPyPrintable(uint32_t cp) {
  if (cp < 0x20 || (cp >= 0x7F && cp <= 0xA0) || cp == 0xAD) return false;
  if (cp < 0x300) return true;
  if (cp >= 0xDC80 && cp <= 0xDCFF) return false;  // escaped invalid byte
  if (IsPySpace(cp)) return false;
  if ((cp >= 0x200B && cp <= 0x200F) || (cp >= 0x202A && cp <= 0x202E) ||
      (cp >= 0x2060 && cp <= 0x206F) || cp == 0xFEFF || (cp >= 0xFFF9 && cp <= 0xFFFB) ||
      (cp >= 0xD800 && cp <= 0xF8FF) || cp == 0x180E || cp >= 0xF0000) {
    return false;
  }
  return true;
}

bool IsPyDigit(uint32_t cp) { return cp >= '0' && cp <= '9'; }

bool IsPyAlpha(uint32_t cp) {
  if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z')) return true;
  if (cp < 0xAA) return false;
  if (cp == 0xAA || cp == 0xB5 || cp == 0xBA) return true;
  if (cp < 0xC0 || cp == 0xD7 || cp == 0xF7) return false;
  // Approximation past Latin-1: anything printable that is not punctuation,
  // a symbol block or whitespace counts as a letter.
  if (cp >= 0x2000 && cp <= 0x2BFF) return false;
  if (cp >= 0x3000 && cp <= 0x303F) return false;
  if (cp >= 0xFF00 && cp <= 0xFF20) return false;
  if (cp >= 0x1F000 && cp <= 0x1FAFF) return false;  // emoji
  return IsPyPrintable(cp);
}

uint32_t ToUpperCp(uint32_t cp) {
  if (cp < 0x80) return (cp >= 'a' && cp <= 'z') ? cp - 32 : cp;
  if (cp >= 0xE0 && cp <= 0xFE && cp != 0xF7) return cp - 32;
  if (cp == 0xFF) return 0x178;
  if (cp == 0xB5) return 0x39C;
  if (cp >= 0x100 && cp <= 0x17F) {
    if ((cp >= 0x100 && cp <= 0x137) || (cp >= 0x14A && cp <= 0x177)) return (cp & 1) ? cp - 1 : cp;
    if ((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E)) return (cp & 1) ? cp : cp - 1;
    return cp;
  }
  if (cp >= 0x3B1 && cp <= 0x3C9) return cp == 0x3C2 ? 0x3A3 : cp - 32;
  switch (cp) {
    case 0x3AC: return 0x386;
    case 0x3AD: return 0x388;
    case 0x3AE: return 0x389;
    case 0x3AF: return 0x38A;
    case 0x3CC: return 0x38C;
    case 0x3CD: return 0x38E;
    case 0x3CE: return 0x38F;
    default: break;
  }
  if (cp >= 0x430 && cp <= 0x44F) return cp - 32;
  if (cp >= 0x450 && cp <= 0x45F) return cp - 80;
  return cp;
}

uint32_t ToLowerCp(uint32_t cp) {
  if (cp < 0x80) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
  if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) return cp + 32;
  if (cp == 0x178) return 0xFF;
  if (cp >= 0x100 && cp <= 0x17F) {
    if ((cp >= 0x100 && cp <= 0x137) || (cp >= 0x14A && cp <= 0x177)) return (cp & 1) ? cp : cp + 1;
    if ((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E)) return (cp & 1) ? cp + 1 : cp;
    return cp;
  }
  if (cp >= 0x391 && cp <= 0x3A9 && cp != 0x3A2) return cp + 32;
  switch (cp) {
    case 0x386: return 0x3AC;
    case 0x388: return 0x3AD;
    case 0x389: return 0x3AE;
    case 0x38A: return 0x3AF;
    case 0x38C: return 0x3CC;
    case 0x38E: return 0x3CD;
    case 0x38F: return 0x3CE;
    default: break;
  }
  if (cp >= 0x410 && cp <= 0x42F) return cp + 32;
  if (cp >= 0x400 && cp <= 0x40F) return cp + 80;
  return cp;
}

bool IsUpperCp(uint32_t cp) { return ToLowerCp(cp) != cp; }
bool IsLowerCp(uint32_t cp) { return ToUpperCp(cp) != cp || cp == 0xDF; }

static std::string MapCase(std::string_view s, uint32_t (*map)(uint32_t)) {
  std::string out;
  out.reserve(s.size());
  size_t length = 0;
  for (size_t pos = 0; pos < s.size(); pos += length) {
    const uint32_t cp = Utf8Decode(s, pos, &length);
    if (cp == 0xDF && map == ToUpperCp) {
      out += "SS";  // the one common one-to-many mapping: German sharp s
    } else {
      AppendUtf8(&out, map(cp));
    }
  }
  return out;
}

std::string ToUpper(std::string_view s) { return MapCase(s, ToUpperCp); }
std::string ToLower(std::string_view s) { return MapCase(s, ToLowerCp); }

std::string PyStrip(std::string_view s, const std::string* chars, bool left, bool right) {
  std::vector<uint32_t> strip_set;
  if (chars != nullptr) strip_set = Utf8CodePoints(*chars);
  auto strip = [&](uint32_t cp) {
    if (chars == nullptr) return IsPySpace(cp);
    for (uint32_t c : strip_set) {
      if (c == cp) return true;
    }
    return false;
  };
  const std::vector<size_t> offsets = Utf8Offsets(s);
  size_t begin = 0;
  size_t end = offsets.size() - 1;  // unit indices [begin, end)
  size_t length = 0;
  if (left) {
    while (begin < end && strip(Utf8Decode(s, offsets[begin], &length))) ++begin;
  }
  if (right) {
    while (end > begin && strip(Utf8Decode(s, offsets[end - 1], &length))) --end;
  }
  return std::string(s.substr(offsets[begin], offsets[end] - offsets[begin]));
}

}  // namespace jinja
}  // namespace kite
