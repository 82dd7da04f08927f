// See utf8.hpp. A hand-written DFA over the byte ranges of RFC 3629's table 4 ("well-formed
// UTF-8 byte sequences"): each multi-byte lead selects how many continuation bytes follow
// and, for E0, ED, F0 and F4, a narrower range for the first of them, which is what
// excludes overlongs, surrogates and code points above U+10FFFF.
#include "chat/ws/utf8.hpp"

namespace chat::ws {
namespace {

enum : uint8_t {
  accept = 0,
  need1 = 1,     // one more 80..BF
  need2 = 2,     // two more 80..BF
  need3 = 3,     // three more 80..BF
  after_e0 = 4,  // A0..BF, then need1
  after_ed = 5,  // 80..9F, then need1
  after_f0 = 6,  // 90..BF, then need2
  after_f4 = 7,  // 80..8F, then need2
  reject = 8,    // sticky
};

uint8_t step(uint8_t state, uint8_t b) {
  switch (state) {
    case accept:
      if (b < 0x80) return accept;
      if (b >= 0xC2 && b <= 0xDF) return need1;
      if (b == 0xE0) return after_e0;
      if (b == 0xED) return after_ed;
      if (b >= 0xE1 && b <= 0xEF) return need2;
      if (b == 0xF0) return after_f0;
      if (b >= 0xF1 && b <= 0xF3) return need3;
      if (b == 0xF4) return after_f4;
      return reject;
    case need1:
    case need2:
    case need3:
      return (b >= 0x80 && b <= 0xBF) ? state - 1 : reject;
    case after_e0:
      return (b >= 0xA0 && b <= 0xBF) ? need1 : reject;
    case after_ed:
      return (b >= 0x80 && b <= 0x9F) ? need1 : reject;
    case after_f0:
      return (b >= 0x90 && b <= 0xBF) ? need2 : reject;
    case after_f4:
      return (b >= 0x80 && b <= 0x8F) ? need2 : reject;
    default:
      return reject;
  }
}

}  // namespace

bool Utf8Validator::feed(std::string_view bytes) {
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  const auto* end = p + bytes.size();
  uint8_t s = state_;
  while (p != end) {
    if (s == accept) {
      // Skip ASCII quickly: chat text is mostly ASCII.
      while (end - p >= 8) {
        uint64_t w;
        __builtin_memcpy(&w, p, 8);
        if (w & 0x8080808080808080ULL) break;
        p += 8;
      }
      while (p != end && *p < 0x80) ++p;
      if (p == end) break;
    }
    s = step(s, *p++);
    if (s == reject) break;
  }
  state_ = s;
  return s != reject;
}

bool valid_utf8(std::string_view bytes) {
  Utf8Validator v;
  return v.feed(bytes) && v.complete();
}

}  // namespace chat::ws
