// A dispatch frame encoded once per loop and spliced per session: the JSON text of
// {"op":0,"t":T,"s":S,"d":D} is head + S + tail, with `d` encoded once and only the
// sequence number differing between sessions. Frames are shared (shared_ptr) by every
// session that got them, including their replay buffers, so a message fanned out to a
// thousand sessions is held once. Header-only (hot path, and tested directly).
#pragma once

#include <charconv>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace chat::gateway {

struct DispatchFrame {
  std::string head;  // {"op":0,"t":"MESSAGE_CREATE","s":
  std::string tail;  // ,"d":{...}}
};
using FramePtr = std::shared_ptr<const DispatchFrame>;

inline FramePtr make_dispatch(std::string_view t, std::string_view d) {
  auto f = std::make_shared<DispatchFrame>();
  f->head.reserve(24 + t.size());
  f->head.append(R"({"op":0,"t":")").append(t).append(R"(","s":)");
  f->tail.reserve(7 + d.size());
  f->tail.append(R"(,"d":)").append(d).append("}");
  return f;
}

// Writes head + seq + tail into `out` (replacing its contents; its capacity is reused).
inline void splice_frame(const DispatchFrame& f, uint64_t seq, std::string& out) {
  char digits[24];
  auto r = std::to_chars(digits, digits + sizeof digits, seq);
  out.clear();
  out.reserve(f.head.size() + (r.ptr - digits) + f.tail.size());
  out.append(f.head).append(digits, r.ptr).append(f.tail);
}

}  // namespace chat::gateway
