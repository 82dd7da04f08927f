// A dispatch frame encoded once per loop and spliced per session: the JSON text of
// {"op":0,"t":T,"s":S,"d":D} is head + S + tail, with `d` encoded once and only the
// sequence number differing between sessions. Frames are shared (shared_ptr) by every
// session that got them, including their replay buffers, so a message fanned out to a
// thousand sessions is held once. Header-only (hot path, and tested directly).
//
// On the wire, a session's frame is its own small prefix (WebSocket header, head, the
// digits of S) and the shared tail, which the loop's write batch only points at (no copy
// per session): the batch keeps the frame alive until the turn's writes are done
// (ws::WriteBatch::keep). A frame is only ever written by sessions of the loop that
// encoded it (other loops get copies of the text).
#pragma once

#include <charconv>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

namespace chat::gateway {

struct DispatchFrame;
using FramePtr = std::shared_ptr<const DispatchFrame>;

struct DispatchFrame {
  std::string head;  // {"op":0,"t":"MESSAGE_CREATE","s":
  std::string tail;  // ,"d":{...}}
};

// The per-session prefix, head + digits of seq, into buf; its length, or 0 if cap (which
// must hold head + 20) is too small.
inline size_t frame_prefix(const DispatchFrame& f, uint64_t seq, char* buf, size_t cap) {
  if (cap < 20 || f.head.size() > cap - 20) return 0;
  std::memcpy(buf, f.head.data(), f.head.size());
  auto r = std::to_chars(buf + f.head.size(), buf + cap, seq);
  return static_cast<size_t>(r.ptr - buf);
}

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
