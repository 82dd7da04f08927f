// The records that cross the bus and live in storage: users, guilds, channels, members,
// messages. msgpack maps (keys are field names), so a reader tolerates fields it does not
// know and fills defaults for ones that are missing. Ids are uint64 snowflakes here; they
// become JSON strings only at the edge (discord_json.hpp).
#pragma once

#include <cstdint>
#include <msgpack.hpp>
#include <string>
#include <vector>

namespace chat::proto {

// Bumped when a schema changes incompatibly; every envelope carries it as `v`.
inline constexpr int kSchemaVersion = 1;

struct User {
  uint64_t id = 0;
  std::string name;
  bool bot = false;
  bool admin = false;  // may use /api/v10/admin/* routes
  MSGPACK_DEFINE_MAP(id, name, bot, admin)
};

struct Guild {
  uint64_t id = 0;
  std::string name;
  uint64_t owner_id = 0;
  int retention_days = -1;  // days messages are kept in its channels; -1 = no setting
  // How many members it has, as guildd counted them when it answered: filled in the
  // replies and events that carry a guild's members (ops.hpp: guilds.mine, member.list,
  // the GUILD_CREATE event), which may list only some of them; 0 elsewhere, in storage
  // too, and from a guildd older than the field. (Appended for large guilds.)
  uint32_t member_count = 0;
  MSGPACK_DEFINE_MAP(id, name, owner_id, retention_days, member_count)
};

// Discord channel types we serve.
enum ChannelType : int { kGuildText = 0, kDm = 1, kGuildVoice = 2, kGuildCategory = 4 };

struct Channel {
  uint64_t id = 0;
  uint64_t guild_id = 0;  // 0 for a DM
  std::string name;
  int type = kGuildText;
  int position = 0;
  std::string topic;
  uint64_t parent_id = 0;
  std::vector<uint64_t> recipients;  // DM: the two users
  // The channel's own retention in days (wins over its guild's): -1 = no setting,
  // 0 = keep forever.
  int retention_days = -1;
  MSGPACK_DEFINE_MAP(id, guild_id, name, type, position, topic, parent_id, recipients,
                     retention_days)
};

struct Member {
  uint64_t guild_id = 0;
  uint64_t user_id = 0;
  std::string user_name;  // denormalised so member lists need no user lookups
  bool user_bot = false;
  uint64_t joined_ms = 0;
  std::string nick;
  MSGPACK_DEFINE_MAP(guild_id, user_id, user_name, user_bot, joined_ms, nick)
};

// Discord message types we produce.
enum MessageType : int { kDefault = 0, kReply = 19 };

struct Message {
  uint64_t id = 0;
  uint64_t channel_id = 0;
  uint64_t guild_id = 0;  // 0 in a DM
  uint64_t author_id = 0;
  std::string author_name;  // denormalised: history pages render without lookups
  bool author_bot = false;
  std::string content;
  uint64_t edited_ms = 0;  // 0 = never edited
  std::string nonce;
  bool tts = false;
  int type = kDefault;
  uint64_t ref_message_id = 0;  // message_reference for replies
  uint64_t ref_channel_id = 0;
  uint64_t ref_guild_id = 0;
  std::vector<uint64_t> mentions;  // user ids mentioned as <@id> in content
  MSGPACK_DEFINE_MAP(id, channel_id, guild_id, author_id, author_name, author_bot, content,
                     edited_ms, nonce, tts, type, ref_message_id, ref_channel_id, ref_guild_id,
                     mentions)
};

// Packs any msgpack-defined value into bytes.
template <typename T>
std::string pack(const T& value) {
  msgpack::sbuffer buf;
  msgpack::pack(buf, value);
  return std::string(buf.data(), buf.size());
}

// Unpacks bytes into `out`. False (never an exception) on truncated or mistyped input and on
// a schema version newer than ours (for types with a `v` field, checked by the caller).
template <typename T>
bool unpack(std::string_view bytes, T& out, std::string* error = nullptr) {
  try {
    msgpack::object_handle oh = msgpack::unpack(bytes.data(), bytes.size());
    oh.get().convert(out);
    return true;
  } catch (const std::exception& e) {
    if (error) *error = e.what();
    return false;
  }
}

}  // namespace chat::proto
