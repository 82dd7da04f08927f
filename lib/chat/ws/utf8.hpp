// Incremental UTF-8 validation (RFC 3629: no overlongs, no surrogates, nothing above
// U+10FFFF), as RFC 6455 requires for text messages and close reasons. The state is one
// byte, so a code point split across fragments (or TCP reads) is checked as it arrives.
#pragma once

#include <cstdint>
#include <string_view>

namespace chat::ws {

class Utf8Validator {
 public:
  // False as soon as the bytes so far cannot be the start of valid UTF-8.
  bool feed(std::string_view bytes);
  // True when the input so far is valid and does not end inside a code point.
  bool complete() const { return state_ == 0; }
  void reset() { state_ = 0; }

 private:
  uint8_t state_ = 0;  // DFA state (0 = accept), see utf8.cpp
};

bool valid_utf8(std::string_view bytes);

}  // namespace chat::ws
