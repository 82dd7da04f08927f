// Every NATS subject of the design (ARCHITECTURE.md "The bus"), in one place.
#pragma once

#include <cstdint>
#include <string>

namespace chat::subjects {

// The shard serving id: a 64-bit mix of the id (splitmix64's finalizer) modulo shards.
// Not the id itself modulo shards: snowflakes made in different milliseconds share their
// low 12 bits (the per-millisecond sequence, nearly always 0), so with 8 shards almost
// every guild, channel and user would land on shard 0. The mix spreads them evenly.
inline uint32_t shard_of(uint64_t id, int shards) {
  uint64_t x = id;
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return static_cast<uint32_t>(x % static_cast<uint64_t>(shards < 1 ? 1 : shards));
}
// gatewayd -> guildd requests: every write and every permission-checked read.
inline std::string guild(uint32_t shard) {
  return "chat.guild." + std::to_string(shard);
}
// guildd -> stored requests: append, page, edit, delete, directory reads and writes.
inline std::string store(uint32_t shard) {
  return "chat.store." + std::to_string(shard);
}
// Dispatch events for one guild (MESSAGE_CREATE, CHANNEL_CREATE, ...).
inline std::string guild_events(uint64_t guild_id) {
  return "chat.evt.guild." + std::to_string(guild_id);
}
// Events for one user wherever connected (guild joins and leaves, DMs).
inline std::string user_events(uint64_t user_id) {
  return "chat.evt.user." + std::to_string(user_id);
}
inline constexpr const char* kUserEventsWildcard = "chat.evt.user.*";
inline std::string presence(uint32_t shard) {
  return "chat.presence." + std::to_string(shard);
}
inline std::string lease(const std::string& node) {
  return "chat.lease." + node;
}
inline std::string voice(const std::string& sfu) {
  return "chat.voice." + sfu;
}
// guildd -> every guildd: a directory write made durable (proto::DirChanged), so that
// instances owning other shard ranges keep the same in-memory directory.
inline constexpr const char* kDirChanged = "chat.dir.changed";
// Operator requests to one daemon: stats, compaction, backup, reload.
inline std::string admin(const std::string& daemon) {
  return "chat.admin." + daemon;
}

}  // namespace chat::subjects
