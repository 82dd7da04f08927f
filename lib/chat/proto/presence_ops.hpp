// The presence envelopes of the bus (ARCHITECTURE.md "Presence"): what gateway nodes tell
// presenced about their sessions, the node leases, the resync after a presenced restart,
// the queries, and the presence records presenced publishes.
//
//   chat.presence.<shard(user)>  PresenceRequest [-> PresenceReply]   gatewayd -> presenced
//   chat.lease.<node>            LeaseBeat                            gatewayd -> presenced
//   chat.presence.sync           SyncRequest                          presenced -> gatewayd
//   <SyncRequest.reply_to>       PresenceRequest op "sync"            gatewayd -> presenced
//   chat.evt.guild.<guild>       Event t=PRESENCE_UPDATE, presences   presenced -> gatewayd
//   chat.evt.presence.<user>     Event t=PRESENCE_UPDATE, presences   presenced -> gatewayd
//
// A "node" is one gateway event loop (gatewayd runs gateway.threads of them): it has its own bus
// connection, beats its own lease every presence.lease_timeout_ms / 3, and answers sync
// requests for its own sessions. Node names are subject tokens ([A-Za-z0-9_-], no dots).
//
// PresenceRequest ops (shard = user_id % shards; queries go to every shard and are merged):
//
// op            kind      reads                                  reply
// online        publish   node, sessions[0] (with guilds)        -
// status        publish   node, sessions[0] (op 3: status,       -
//                         since_ms, afk, activities; guilds
//                         empty = unchanged)
// offline       publish   node, session_id, user_id              -
// sync          publish   node, sync_id, sessions (a chunk),     -
//                         last (the node's final chunk)
// guild.join    publish   node, session_id, user_id, guild_id,   -
//                         members (the guild's member count)
// guild.leave   publish   node, session_id, user_id, guild_id    -
// query.guilds  request   guild_ids                              guilds: per guild at or below
//                                                                presence.large_guild_threshold,
//                                                                the presences of members not
//                                                                shown offline
// query.users   request   ids (users)                            presences (not shown offline)
// admin.users   request   ids                                    presences (offline included:
//                                                                status "offline", since_ms)
// admin.guild   request   guild_id                               presences (online members),
//                                                                count (members reported)
//
// guild.join / guild.leave: a user with a session on `node` joined or left a guild after
// its sessions went online (guildd's member.add / member.remove, seen by the gateway as
// GUILD_CREATE / GUILD_DELETE on chat.evt.user.<user>). Each node with a session of the
// user sends it once per change; it is idempotent. On a join, a user shown online is
// announced to the guild (a guild at or below the threshold gets the user's record in its
// batch); on a leave, the guild no longer gets the user's changes. A user presenced does
// not know (no session online) is ignored: its next "online" lists its guilds.
//
// Published PRESENCE_UPDATEs are proto::Event (ops.hpp) with t = "PRESENCE_UPDATE" and
// `presences` filled: on chat.evt.guild.<g> (guild_id = g) for guilds at or below the
// threshold, batched and rate-limited per guild; on chat.evt.presence.<u> (guild_id = 0)
// once per change of user u when u is in any larger guild, for the gateway sessions that
// asked about u (op 8 with presences: true).
//
// status strings: "online", "idle", "dnd", "invisible" (sessions only; shown as
// "offline"), "offline". Times are Unix milliseconds.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "chat/proto/model.hpp"

namespace chat::proto {

// Bumped when one of these envelopes changes incompatibly.
inline constexpr int kPresenceSchemaVersion = 1;

inline constexpr const char* kPresenceSyncSubject = "chat.presence.sync";
inline std::string presence_user_subject(uint64_t user_id) {
  return "chat.evt.presence." + std::to_string(user_id);
}

// A Discord activity (DISCORD_COMPAT.md §1.12): type 0 playing .. 5 competing.
struct Activity {
  std::string name;
  int type = 0;
  std::string url, state;
  bool operator==(const Activity&) const = default;
  MSGPACK_DEFINE_MAP(name, type, url, state)
};

// A guild and how many members it had when the gateway last looked (IDENTIFY's
// guilds.mine): presenced compares it with presence.large_guild_threshold.
struct GuildSize {
  uint64_t id = 0;
  uint32_t members = 0;
  MSGPACK_DEFINE_MAP(id, members)
};

// One gateway session's own presence. `client` is "desktop", "mobile" or "web", from
// IDENTIFY's properties as Discord tells them apart.
struct SessionPresence {
  uint64_t session_id = 0;
  uint64_t user_id = 0;
  std::string status = "online";
  uint64_t since_ms = 0;  // op 3's since (idle since), 0 = none
  bool afk = false;
  std::vector<Activity> activities;
  std::string client = "web";
  std::vector<GuildSize> guilds;
  MSGPACK_DEFINE_MAP(session_id, user_id, status, since_ms, afk, activities, client, guilds)
};

// What others see of one user: the merge of all their sessions.
struct PresenceRecord {
  uint64_t user_id = 0;
  std::string status = "offline";  // online | idle | dnd | offline
  uint64_t since_ms = 0;           // when this status began (presenced's clock)
  std::vector<Activity> activities;
  std::string desktop, mobile, web;  // client_status; empty = absent
  bool same_shown(const PresenceRecord& o) const {
    return status == o.status && activities == o.activities && desktop == o.desktop &&
           mobile == o.mobile && web == o.web;
  }
  MSGPACK_DEFINE_MAP(user_id, status, since_ms, activities, desktop, mobile, web)
};

struct GuildPresences {
  uint64_t guild_id = 0;
  std::vector<PresenceRecord> presences;
  MSGPACK_DEFINE_MAP(guild_id, presences)
};

struct PresenceRequest {
  int v = kPresenceSchemaVersion;
  std::string op;
  std::string node;
  std::vector<SessionPresence> sessions;
  uint64_t session_id = 0, user_id = 0, guild_id = 0;
  std::vector<uint64_t> ids;
  std::vector<uint64_t> guild_ids;
  uint64_t sync_id = 0;
  bool last = false;
  uint32_t members = 0;  // guild.join: the guild's member count (0 = unknown, keep)
  MSGPACK_DEFINE_MAP(v, op, node, sessions, session_id, user_id, guild_id, ids, guild_ids, sync_id,
                     last, members)
};

// status: 200 ok, 400 bad request (undecodable, newer `v`, unknown op), 503 not serving.
struct PresenceReply {
  int v = kPresenceSchemaVersion;
  int status = 200;
  std::string error;
  std::vector<PresenceRecord> presences;
  std::vector<GuildPresences> guilds;
  uint64_t count = 0;
  MSGPACK_DEFINE_MAP(v, status, error, presences, guilds, count)
};

// chat.lease.<node>, every lease_timeout_ms / 3. `sessions` is how many sessions the node
// has announced online; presenced asks for a resync when its own count differs twice.
struct LeaseBeat {
  int v = kPresenceSchemaVersion;
  std::string node;
  uint64_t started_ms = 0;
  uint64_t sessions = 0;
  uint64_t seq = 0;
  MSGPACK_DEFINE_MAP(v, node, started_ms, sessions, seq)
};

// chat.presence.sync: every node (or only `node`, when set) publishes its sessions to
// `reply_to` as PresenceRequest op "sync" chunks with this sync_id, the last with last=true.
struct SyncRequest {
  int v = kPresenceSchemaVersion;
  std::string reply_to;
  std::string node;
  uint64_t sync_id = 0;
  MSGPACK_DEFINE_MAP(v, reply_to, node, sync_id)
};

}  // namespace chat::proto
