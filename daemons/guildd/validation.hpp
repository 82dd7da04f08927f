// The input rules guildd enforces before it touches storage: message content (non-empty,
// at most 2000 Unicode code points of valid UTF-8), names of users, guilds and channels,
// history paging arguments, and the `<@id>` / `<@!id>` mentions parsed out of content.
// Each rule answers with the Rejection a client sees (HTTP status, Discord code, and the
// offending field for 50035), so the op handlers only forward it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace chat::guildd {

// One client-visible refusal: HTTP status, Discord JSON code, text, field path (50035).
struct Rejection {
  int status = 400;
  int code = 0;
  std::string message;
  std::string errors;
};

inline constexpr size_t kMaxContentChars = 2000;
inline constexpr size_t kMaxNonceChars = 25;
inline constexpr size_t kMaxUserName = 32;
inline constexpr size_t kMaxGuildName = 100;
inline constexpr size_t kMaxChannelName = 100;
inline constexpr size_t kMaxTopic = 1024;
inline constexpr int kDefaultPageLimit = 50;
inline constexpr int kMaxPageLimit = 100;

// Number of Unicode code points, or -1 when `s` is not valid UTF-8 (overlongs,
// surrogates and values above U+10FFFF are invalid).
long utf8_length(std::string_view s);

// A 400 with code 50035 naming `field`.
Rejection invalid_field(std::string field, std::string message);

// Message content: empty or whitespace-only -> 50006; invalid UTF-8 or more than 2000
// code points -> 50035 "content".
std::optional<Rejection> check_content(std::string_view content);

// Nonce: at most 25 characters (Discord's limit) -> else 50035 "nonce".
std::optional<Rejection> check_nonce(std::string_view nonce);

// User names: 1-32 characters of [A-Za-z0-9_.-].
bool valid_user_name(std::string_view name);

// Guild and channel names, topics: valid UTF-8, not blank, 1..max code points (topics
// may be empty). Otherwise 50035 naming `field`.
std::optional<Rejection> check_text_field(std::string_view value, size_t max,
                                          const std::string& field, bool allow_empty = false);

// retention_days (GuildRequest::days). A channel: kRetentionUnchanged, kRetentionRemove,
// 0 (keep forever) or 1..36500; a guild: the same, where 0 clears like kRetentionRemove.
// Otherwise 50035 "retention_days".
std::optional<Rejection> check_channel_retention(int days);
std::optional<Rejection> check_guild_retention(int days);

// History paging: at most one of before/after/around; limit 1..100 with 0 meaning the
// default 50 (written back into `limit`).
std::optional<Rejection> check_page(uint64_t before, uint64_t after, uint64_t around, int& limit);

// User ids mentioned as <@id> or <@!id>, each once, in order of first appearance.
std::vector<uint64_t> parse_mentions(std::string_view content);

}  // namespace chat::guildd
