// See validation.hpp.
#include "validation.hpp"

#include <algorithm>

#include "chat/proto/ops.hpp"
#include "chat/proto/snowflake.hpp"

namespace chat::guildd {
namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

bool blank(std::string_view s) {
  return std::all_of(s.begin(), s.end(), is_space);
}

}  // namespace

long utf8_length(std::string_view s) {
  long count = 0;
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      len = 1;
      cp = c;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return -1;
    }
    if (i + len > s.size()) return -1;
    for (size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return -1;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return -1;
    i += len;
    ++count;
  }
  return count;
}

Rejection invalid_field(std::string field, std::string message) {
  return Rejection{400, proto::kInvalidFormBody, "Invalid Form Body: " + message, std::move(field)};
}

std::optional<Rejection> check_content(std::string_view content) {
  if (blank(content))
    return Rejection{400, proto::kEmptyMessage, "Cannot send an empty message", ""};
  long n = utf8_length(content);
  if (n < 0) return invalid_field("content", "content is not valid UTF-8");
  if (static_cast<size_t>(n) > kMaxContentChars)
    return invalid_field("content", "content must be 2000 or fewer in length");
  return std::nullopt;
}

std::optional<Rejection> check_nonce(std::string_view nonce) {
  long n = utf8_length(nonce);
  if (n < 0 || static_cast<size_t>(n) > kMaxNonceChars)
    return invalid_field("nonce", "nonce must be 25 or fewer in length");
  return std::nullopt;
}

bool valid_user_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxUserName) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
  });
}

std::optional<Rejection> check_text_field(std::string_view value, size_t max,
                                          const std::string& field, bool allow_empty) {
  long n = utf8_length(value);
  if (n < 0) return invalid_field(field, field + " is not valid UTF-8");
  if (!allow_empty && blank(value)) return invalid_field(field, field + " must not be empty");
  if (static_cast<size_t>(n) > max)
    return invalid_field(field, field + " must be " + std::to_string(max) + " or fewer in length");
  return std::nullopt;
}

std::optional<Rejection> check_channel_retention(int days) {
  if (days == proto::kRetentionUnchanged || days == proto::kRetentionRemove) return std::nullopt;
  if (days < 0 || days > proto::kMaxRetentionDays)
    return invalid_field("retention_days", "retention_days must be between 0 and 36500, or null");
  return std::nullopt;
}

std::optional<Rejection> check_guild_retention(int days) {
  return check_channel_retention(days);
}

std::optional<Rejection> check_page(uint64_t before, uint64_t after, uint64_t around, int& limit) {
  int given = (before != 0) + (after != 0) + (around != 0);
  if (given > 1)
    return invalid_field(around ? "around" : "after",
                         "only one of before, after and around may be given");
  if (limit == 0) limit = kDefaultPageLimit;
  if (limit < 1 || limit > kMaxPageLimit)
    return invalid_field("limit", "limit must be between 1 and 100");
  return std::nullopt;
}

std::vector<uint64_t> parse_mentions(std::string_view content) {
  std::vector<uint64_t> out;
  size_t pos = 0;
  while ((pos = content.find("<@", pos)) != std::string_view::npos) {
    size_t start = pos + 2;
    if (start < content.size() && content[start] == '!') ++start;
    size_t end = content.find('>', start);
    pos += 2;
    if (end == std::string_view::npos) break;
    uint64_t id = 0;
    // parse_snowflake rejects empty, signs, junk and overflow: "<@&role>" and "<@x>" fail.
    if (!parse_snowflake(content.substr(start, end - start), id)) continue;
    if (std::find(out.begin(), out.end(), id) == out.end()) out.push_back(id);
    pos = end + 1;
  }
  return out;
}

}  // namespace chat::guildd
