// Rate limits of the gateway, both fixed-window counters:
//   EventWindow  a gateway connection may send 120 payloads per 60 s (close 4008 past it);
//                six bytes of state per session.
//   RestLimiter  REST buckets per (token, route, major id), as Discord's: N requests per
//                window; the answer carries what the X-RateLimit-* headers need. One per
//                loop, so no lock; a token spread over several loops gets each loop's
//                allowance (the limits are generous self-host defaults anyway).
// Header-only so the unit tests use it as the daemon does.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

namespace chat::gateway {

class EventWindow {
 public:
  static constexpr uint32_t kLimit = 120;
  static constexpr uint32_t kWindowS = 60;
  // Counts one event at `now_s` (seconds, any monotonic origin); false when over the limit.
  bool allow(uint32_t now_s) {
    if (count_ == 0 || now_s - start_s_ >= kWindowS) start_s_ = now_s, count_ = 0;
    if (count_ >= kLimit) return false;
    ++count_;
    return true;
  }

 private:
  uint32_t start_s_ = 0;
  uint16_t count_ = 0;
};

struct RateDecision {
  bool allowed = true;
  uint32_t limit = 0;
  uint32_t remaining = 0;
  uint64_t reset_after_ms = 0;  // until the window resets
};

class RestLimiter {
 public:
  // Counts one request for `key` against `limit` per `window_ms` at `now_ms`.
  RateDecision check(const std::string& key, uint32_t limit, uint64_t window_ms, uint64_t now_ms) {
    Slot& s = slots_[key];
    if (s.count == 0 || now_ms >= s.start_ms + window_ms) s.start_ms = now_ms, s.count = 0;
    RateDecision d;
    d.limit = limit;
    d.reset_after_ms = s.start_ms + window_ms - now_ms;
    if (s.count >= limit) {
      d.allowed = false;
      return d;
    }
    ++s.count;
    d.remaining = limit - s.count;
    return d;
  }
  // Forgets buckets whose window ended long ago (called from the loop's cron).
  void sweep(uint64_t now_ms, uint64_t max_window_ms) {
    for (auto it = slots_.begin(); it != slots_.end();)
      it = now_ms >= it->second.start_ms + max_window_ms ? slots_.erase(it) : std::next(it);
  }
  size_t size() const { return slots_.size(); }

 private:
  struct Slot {
    uint64_t start_ms = 0;
    uint32_t count = 0;
  };
  std::unordered_map<std::string, Slot> slots_;
};

}  // namespace chat::gateway
