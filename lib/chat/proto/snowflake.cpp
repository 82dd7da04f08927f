#include "chat/proto/snowflake.hpp"

#include <chrono>
#include <ctime>

namespace chat {

SnowflakeGenerator::SnowflakeGenerator(unsigned worker, unsigned process)
    : node_bits_((static_cast<uint64_t>(worker & 31) << 17) |
                 (static_cast<uint64_t>(process & 31) << 12)) {}

uint64_t now_unix_ms() {
  using namespace std::chrono;
  return static_cast<uint64_t>(
      duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
}

uint64_t SnowflakeGenerator::next() {
  return next_at(now_unix_ms());
}

uint64_t SnowflakeGenerator::next_at(uint64_t unix_ms) {
  uint64_t ts = unix_ms > kDiscordEpochMs ? unix_ms - kDiscordEpochMs : 0;
  uint64_t candidate = (ts << 22) | node_bits_;
  uint64_t last = last_.load(std::memory_order_relaxed);
  for (;;) {
    uint64_t next = candidate;
    if (next <= last) {
      // Same millisecond (or the clock went back): take the next sequence number; when
      // the 12-bit sequence overflows this borrows from the next millisecond, which keeps
      // ids increasing at the cost of running slightly ahead of the clock.
      uint64_t seq = (last & 0xFFF) + 1;
      if (seq > 0xFFF)
        next = (((last >> 22) + 1) << 22) | node_bits_;
      else
        next = (last & ~uint64_t{0xFFF}) | seq;
    }
    if (last_.compare_exchange_weak(last, next, std::memory_order_relaxed)) return next;
  }
}

bool parse_snowflake(std::string_view s, uint64_t& out) {
  if (s.empty() || s.size() > 20) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  if (v == 0) return false;
  out = v;
  return true;
}

std::string iso8601_from_ms(uint64_t unix_ms) {
  time_t secs = static_cast<time_t>(unix_ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[48];
  size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, sizeof buf - n, ".%06u+00:00", static_cast<unsigned>((unix_ms % 1000) * 1000));
  return buf;
}

}  // namespace chat
