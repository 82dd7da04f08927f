// How the directory is laid out in stored's `directory` column family. stored treats keys
// and values as opaque bytes; this file is the only place that knows their shape.
//
//   key                            value
//   'u' user_id(8)                 msgpack proto::User
//   'h' user_id(8)                 32-byte SHA-256 of the user's current token
//   'g' guild_id(8)                msgpack proto::Guild
//   'c' channel_id(8)              msgpack proto::Channel (DMs too: guild_id 0, recipients)
//   'm' guild_id(8) user_id(8)     msgpack proto::Member
//
// Integers are big-endian, so key order is numeric order and a guild's members share the
// prefix 'm'+guild_id. A user's token is one record ('h'), so issuing or revoking one is a
// single durable write; the digest -> user index is rebuilt in memory at load. DM lookup
// (pair of users -> channel) is rebuilt from the channels' recipients the same way.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace chat::guildd {

enum class KeyKind : char {
  user = 'u',
  token = 'h',
  guild = 'g',
  channel = 'c',
  member = 'm',
};

std::string user_key(uint64_t user_id);
std::string token_key(uint64_t user_id);
std::string guild_key(uint64_t guild_id);
std::string channel_key(uint64_t channel_id);
std::string member_key(uint64_t guild_id, uint64_t user_id);
// The one-byte prefix a dir.scan uses to read every record of a kind.
std::string kind_prefix(KeyKind kind);

struct ParsedKey {
  KeyKind kind = KeyKind::user;
  uint64_t id = 0;      // user, guild or channel id; the guild for members
  uint64_t second = 0;  // members: the user id
};

// False for a key of unknown kind or wrong length.
bool parse_key(std::string_view key, ParsedKey& out);

}  // namespace chat::guildd
