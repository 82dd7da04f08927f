// libFuzzer target for the WebSocket frame parser. The first byte picks the role, the
// message size limit and how the rest is split into reads; the parser must never crash,
// and whatever it accepts must obey RFC 6455: text is valid UTF-8, messages respect the
// limit, close codes are valid, and a delivered message re-encodes and re-parses equal.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "chat/ws/frame.hpp"

using namespace chat::ws;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

void reparse(Opcode op, std::string_view payload) {
  FrameParser p(Role::client, payload.size() + 1);
  std::string frame = encode_server_frame(op, payload);
  FrameEvent ev;
  size_t n = p.parse(frame, ev);
  check(n == frame.size());
  check(ev.kind == FrameEvent::Kind::message && ev.payload == payload);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  uint8_t control = data[0];
  Role role = (control & 1) ? Role::client : Role::server;
  size_t max_message = (control & 2) ? 64 : 1 << 16;
  size_t step = 1 + (control >> 2);  // 1..64 bytes per read
  std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  FrameParser parser(role, max_message);
  for (size_t off = 0; off < input.size(); off += step) {
    std::string_view piece = input.substr(off, step);
    while (!piece.empty()) {
      FrameEvent ev;
      size_t n = parser.parse(piece, ev);
      check(n <= piece.size());
      piece.remove_prefix(n);
      switch (ev.kind) {
        case FrameEvent::Kind::none:
          check(n > 0 || parser.failed());
          break;
        case FrameEvent::Kind::message:
          check(ev.payload.size() <= max_message);
          check(ev.opcode == Opcode::text || ev.opcode == Opcode::binary);
          if (ev.opcode == Opcode::text) check(valid_utf8(ev.payload));
          reparse(ev.opcode, ev.payload);
          break;
        case FrameEvent::Kind::ping:
        case FrameEvent::Kind::pong:
          check(ev.payload.size() <= 125);
          break;
        case FrameEvent::Kind::close:
          check(ev.code == close_code::no_status || valid_close_code(ev.code));
          check(valid_utf8(ev.reason));
          break;
        case FrameEvent::Kind::error:
          check(parser.failed());
          check(ev.code == 1002 || ev.code == 1007 || ev.code == 1009);
          return 0;
      }
      if (ev.kind == FrameEvent::Kind::none && n == 0) break;
    }
    if (off % 4096 == 0) parser.shrink();
  }
  return 0;
}
