// See dir_keys.hpp.
#include "dir_keys.hpp"

namespace chat::guildd {
namespace {

void put_be64(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out += static_cast<char>((v >> shift) & 0xFF);
}

uint64_t get_be64(std::string_view s) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(s[i]);
  return v;
}

std::string one_id(KeyKind kind, uint64_t id) {
  std::string k(1, static_cast<char>(kind));
  put_be64(k, id);
  return k;
}

}  // namespace

std::string user_key(uint64_t user_id) {
  return one_id(KeyKind::user, user_id);
}
std::string token_key(uint64_t user_id) {
  return one_id(KeyKind::token, user_id);
}
std::string guild_key(uint64_t guild_id) {
  return one_id(KeyKind::guild, guild_id);
}
std::string channel_key(uint64_t channel_id) {
  return one_id(KeyKind::channel, channel_id);
}

std::string member_key(uint64_t guild_id, uint64_t user_id) {
  std::string k = one_id(KeyKind::member, guild_id);
  put_be64(k, user_id);
  return k;
}

std::string kind_prefix(KeyKind kind) {
  return std::string(1, static_cast<char>(kind));
}

bool parse_key(std::string_view key, ParsedKey& out) {
  if (key.empty()) return false;
  auto kind = static_cast<KeyKind>(key[0]);
  switch (kind) {
    case KeyKind::user:
    case KeyKind::token:
    case KeyKind::guild:
    case KeyKind::channel:
      if (key.size() != 9) return false;
      out = ParsedKey{kind, get_be64(key.substr(1)), 0};
      return true;
    case KeyKind::member:
      if (key.size() != 17) return false;
      out = ParsedKey{kind, get_be64(key.substr(1)), get_be64(key.substr(9))};
      return true;
  }
  return false;
}

}  // namespace chat::guildd
