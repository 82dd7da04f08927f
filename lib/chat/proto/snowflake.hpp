// Snowflake ids with Discord's epoch: ms since 2015-01-01 << 22 | worker << 17 |
// process << 12 | sequence. Every id-issuing instance has a distinct (worker, process)
// pair from config, so ids are unique across the daemon set; within one generator they
// strictly increase, across threads too (one atomic word, compare-and-swap).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

namespace chat {

inline constexpr uint64_t kDiscordEpochMs = 1420070400000ULL;

class SnowflakeGenerator {
 public:
  SnowflakeGenerator(unsigned worker, unsigned process);
  // A new id, strictly greater than every id this generator returned before.
  uint64_t next();
  // Same, for a caller-supplied clock (tests).
  uint64_t next_at(uint64_t unix_ms);

 private:
  uint64_t node_bits_;
  std::atomic<uint64_t> last_{0};
};

// Unix milliseconds encoded in an id.
inline uint64_t snowflake_unix_ms(uint64_t id) {
  return (id >> 22) + kDiscordEpochMs;
}
// The smallest id that a message created at unix_ms could have (for time-based seeks).
inline uint64_t snowflake_floor(uint64_t unix_ms) {
  return unix_ms <= kDiscordEpochMs ? 0 : (unix_ms - kDiscordEpochMs) << 22;
}
uint64_t now_unix_ms();

// Parses a decimal snowflake (as sent in JSON strings and URLs). Rejects empty strings,
// signs, leading junk, overflow and zero.
bool parse_snowflake(std::string_view s, uint64_t& out);

// ISO 8601 with microseconds and an explicit offset: 2026-11-27T18:30:00.000000+00:00.
std::string iso8601_from_ms(uint64_t unix_ms);

}  // namespace chat
