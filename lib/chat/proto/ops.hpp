// Request, reply and event envelopes of the bus (ARCHITECTURE.md "The bus").
//
//   chat.guild.<shard>      GuildRequest  -> GuildReply     gatewayd -> guildd
//   chat.store.<shard>      StoreRequest  -> StoreReply     guildd -> stored
//   chat.evt.guild.<id>     Event                           guildd -> gatewayd (and pushd)
//   chat.evt.user.<id>      Event                           guildd -> gatewayd
//
// Each envelope is one flat msgpack map with a version `v` and an `op` (or `t`) naming
// the operation; the comment on each op says which fields it reads and which it fills.
// Fields an op does not use stay at their defaults and cost a few bytes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "chat/proto/model.hpp"
#include "chat/proto/presence_ops.hpp"

namespace chat::proto {

// ---------------------------------------------------------------------------------------
// gatewayd -> guildd. Every request carries the caller's raw token; guildd authenticates
// it (tokens are stored only as SHA-256 hashes), checks membership and permissions, and
// executes, all in one round trip. Admin ops need a user with `admin`.
//
// op                  reads                                     fills
// auth                token                                     user
// guilds.mine         token                                     guilds, channels, members
//                                                               (every guild of the user,
//                                                               with member_count, its
//                                                               channels and its members;
//                                                               of a guild with more than
//                                                               kFullMemberListMax members
//                                                               only the caller's own)
// msg.create          channel_id, content, nonce, flag (tts),   messages[0]
//                     ref_message_id, ref_channel_id
// msg.list            channel_id, before|after|around, limit    messages (newest first)
// msg.get             channel_id, message_id                    messages[0]
// msg.edit            channel_id, message_id, content           messages[0]
// msg.delete          channel_id, message_id                    -
// msg.bulk_delete     channel_id, ids (2-100)                   -
// typing              channel_id                                -
// guild.create        name                                      guilds[0], channels
// guild.get           guild_id                                  guilds[0], channels
// guild.patch         guild_id, name, days                      guilds[0]
// guild.delete        guild_id                                  -
// guild.list          - (admin: all guilds; else the user's)    guilds
// channel.create      guild_id, name, type                      channels[0]
// channel.get         channel_id                                channels[0]
// channel.patch       channel_id, name, topic, days             channels[0]
// channel.delete      channel_id                                channels[0]
// channel.list        guild_id                                  channels
// member.list         guild_id, limit, after; or ids (at most   members (by user id),
//                     1000 user ids: those of them that are     guilds[0] (with
//                     members, whatever limit and after say)    member_count)
// member.get          guild_id, user_id                         members[0]
// member.add          guild_id, user_id (admin or owner)        members[0]
// member.remove       guild_id, user_id (admin, owner or self)  -
// member.search       guild_id, name (prefix), limit            members
// user.get            user_id (0 = the caller)                  users[0]
// user.find           name                                      users[0]
// user.create         name, flag (bot)            [admin]       users[0], token
// user.list           -                           [admin]       users
// token.create        user_id                     [admin]       users[0], token
// token.revoke        user_id                     [admin]       -
// dm.open             user_id (recipient)                       channels[0]
//
// `days` is retention_days for channel.patch and guild.patch (owner or admin), applied in
// stored (retention.set) before the answer: kRetentionUnchanged (the default) leaves it
// alone; a channel takes 0 (keep forever, whatever its guild says) or 1..36500 days, and
// kRetentionRemove drops the channel's own setting so its guild's applies again; a guild
// takes 1..36500 days for all of its channels, present and future, and 0 or
// kRetentionRemove clears it. (`days` was appended for retention.)
//
// Large guilds: a reply (or event) never lists every member of a guild with more than
// kFullMemberListMax members, so that it stays far below the bus's max payload however
// big the guild is; Guild::member_count says how many there are, and gatewayd pages the
// rest with member.list (Discord's op 8). kFullMemberListMax is the largest IDENTIFY
// large_threshold, so a guild some session calls "not large" is always listed in full.
// (member_count, member.list's ids and guilds[0] were appended for large guilds.)
// ---------------------------------------------------------------------------------------
inline constexpr uint32_t kFullMemberListMax = 250;
inline constexpr int kRetentionUnchanged = -1;
inline constexpr int kRetentionRemove = -2;
inline constexpr int kMaxRetentionDays = 36500;

struct GuildRequest {
  int v = kSchemaVersion;
  std::string op;
  std::string token;
  uint64_t guild_id = 0, channel_id = 0, message_id = 0, user_id = 0;
  std::string name, content, nonce, topic;
  bool flag = false;
  int type = 0;
  uint64_t before = 0, after = 0, around = 0;
  int limit = 0;
  std::vector<uint64_t> ids;
  uint64_t ref_message_id = 0, ref_channel_id = 0;
  int days = kRetentionUnchanged;
  MSGPACK_DEFINE_MAP(v, op, token, guild_id, channel_id, message_id, user_id, name, content, nonce,
                     topic, flag, type, before, after, around, limit, ids, ref_message_id,
                     ref_channel_id, days)
};

// `status` is the HTTP status gatewayd answers with (200, 204, 400, 401, 403, 404, 503);
// `code` the Discord JSON error code (0 when ok); `message` the human text; `errors` an
// optional field path for 50035 (e.g. "content").
struct GuildReply {
  int v = kSchemaVersion;
  int status = 200;
  int code = 0;
  std::string message;
  std::string errors;
  std::vector<User> users;
  std::string token;
  std::vector<Guild> guilds;
  std::vector<Channel> channels;
  std::vector<Member> members;
  std::vector<Message> messages;
  MSGPACK_DEFINE_MAP(v, status, code, message, errors, users, token, guilds, channels, members,
                     messages)
};

// Discord JSON error codes (PROTOCOL.md "REST").
enum ErrorCode : int {
  kUnknownChannel = 10003,
  kUnknownGuild = 10004,
  kUnknownMember = 10007,
  kUnknownMessage = 10008,
  kUnknownUser = 10013,
  kUnauthorized = 40001,
  kMissingAccess = 50001,
  kEmptyMessage = 50006,
  kMissingPermissions = 50013,
  kInvalidFormBody = 50035,
  kInvalidJson = 50109,
};

// ---------------------------------------------------------------------------------------
// guildd -> stored. Messages live under channel|bucket|id keys (stored's business);
// directory records are opaque key/value pairs that guildd encodes.
//
// op            reads                                         fills
// msg.append    messages (1..n; ids assigned by guildd)       -  (answered once durable)
// msg.page      channel_id, before|after|around, limit        messages (newest first)
// msg.get       channel_id, message_id                        messages[0] or status 404
// msg.put       messages[0] (must exist: edit in place)       messages[0] or status 404
// msg.delete    channel_id, ids                               count (how many existed)
// dir.put       entries (key, value)                          -  (answered once durable)
// dir.del       keys                                          -  (answered once durable)
// dir.get       keys[0]                                       entries[0] or status 404
// dir.scan      prefix, limit (0 = a full page), start_after  entries (key order), more
// stats         channel_id (0 = all)                          text (JSON for operators)
// retention.set channel_id, days: the channel's own setting     -  (answered once durable)
//               (1..36500 days, 0 = keep forever whatever its
//               guild says, < 0 = remove it); or guild_id, ids
//               (the guild's channels, replacing the last
//               list), days (> 0 sets, <= 0 removes)
// retention.get channel_id: the channel's effective days, or    text {"days": N} (0 = none)
//               guild_id: the guild's setting                   or {"days", "channels"}
// (guild_id and days were appended for retention.set; expired messages are removed by
// stored's cron, see lib/chat/store/retention.hpp)
//
// dir.scan answers one page: the entries under `prefix` whose keys sort after
// `start_after` ("" = from the first), at most `limit` of them and never more than
// stored's page bounds (8192 entries, 512 KiB of keys and values: a reply must fit the
// bus's max payload). `more` says entries remain: ask again with start_after = the last
// key received until `more` is false. A stored older than paging answers everything in
// one reply without `more`. (start_after and more were appended for paging.)
// ---------------------------------------------------------------------------------------
struct DirEntry {
  std::string key;
  std::string value;
  MSGPACK_DEFINE_MAP(key, value)
};

struct StoreRequest {
  int v = kSchemaVersion;
  std::string op;
  uint64_t channel_id = 0, message_id = 0;
  uint64_t before = 0, after = 0, around = 0;
  int limit = 0;
  std::vector<Message> messages;
  std::vector<uint64_t> ids;
  std::vector<DirEntry> entries;
  std::vector<std::string> keys;
  std::string prefix;
  uint64_t guild_id = 0;
  int days = 0;
  std::string start_after;
  MSGPACK_DEFINE_MAP(v, op, channel_id, message_id, before, after, around, limit, messages, ids,
                     entries, keys, prefix, guild_id, days, start_after)
};

// status: 200 ok, 400 bad request, 404 not found, 500 storage error.
struct StoreReply {
  int v = kSchemaVersion;
  int status = 200;
  std::string error;
  std::vector<Message> messages;
  std::vector<DirEntry> entries;
  uint64_t count = 0;
  std::string text;
  bool more = false;
  MSGPACK_DEFINE_MAP(v, status, error, messages, entries, count, text, more)
};

// ---------------------------------------------------------------------------------------
// Events, published by guildd after the change is durable.
//
// t                    on                    fields
// MESSAGE_CREATE       chat.evt.guild.<g>    message
//                      (DM: chat.evt.user.<u> for each recipient)
// MESSAGE_UPDATE       same                  message
// MESSAGE_DELETE       same                  guild_id, channel_id, ids[0]
// MESSAGE_DELETE_BULK  same                  guild_id, channel_id, ids
// TYPING_START         same                  guild_id, channel_id, user_id, ts_ms, member
// CHANNEL_CREATE/UPDATE/DELETE  guild        channel
// GUILD_UPDATE         guild                 guild
// GUILD_DELETE         guild                 guild_id
// GUILD_MEMBER_ADD     guild                 guild_id, member
// GUILD_MEMBER_REMOVE  guild                 guild_id, member (user fields)
// GUILD_CREATE         chat.evt.user.<u>     guild (with member_count), channels, members
//                                            (the user joined it; all members, or only the
//                                            user's own above kFullMemberListMax)
// GUILD_DELETE         chat.evt.user.<u>     guild_id (the user left or was removed)
// PRESENCE_UPDATE      chat.evt.guild.<g>    guild_id, presences (one dispatch each;
//                      chat.evt.presence.<u> published by presenced, presence_ops.hpp)
// (`presences` was appended for presenced)
// ---------------------------------------------------------------------------------------
struct Event {
  int v = kSchemaVersion;
  std::string t;
  uint64_t guild_id = 0, channel_id = 0, user_id = 0;
  uint64_t ts_ms = 0;
  Message message;
  Channel channel;
  Guild guild;
  Member member;
  std::vector<Channel> channels;
  std::vector<Member> members;
  std::vector<uint64_t> ids;
  std::vector<PresenceRecord> presences;
  MSGPACK_DEFINE_MAP(v, t, guild_id, channel_id, user_id, ts_ms, message, channel, guild, member,
                     channels, members, ids, presences)
};

}  // namespace chat::proto
