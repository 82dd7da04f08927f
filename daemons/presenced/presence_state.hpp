// The whole of presenced's logic, without the bus: the sessions each gateway node has
// announced, the node leases, each user's merged presence, the per-user coalescing window
// and the per-guild rate-limited batches. The service (service.cpp) feeds it decoded
// messages and a clock and publishes what tick() hands to the Sink; the unit tests drive
// it the same way with a fake clock.
//
// Merge (per user, over all sessions on all nodes): the most present status wins, in the
// order online > dnd > idle > invisible > offline; invisible and offline show as offline
// with no activities and an empty client_status. Activities come from the winning
// session (the most recently updated one on a tie). client_status holds, per client type
// (desktop, mobile, web), the most present status of that type's visible sessions.
//
// Coalescing: a change marks the user dirty; coalesce_ms after the first change the
// user's presence as it is then is compared with what was last published, and only a
// real difference is published (online -> offline -> online within the window is
// nothing). Fan-out: each of the user's guilds at or below large_guild_threshold gets the
// record queued in its pending batch (a newer record of the same user replaces the
// queued one); a token bucket per guild (guild_rate records per second, guild_burst deep)
// decides how many go out per tick, batch_max per message. Users in any larger guild get
// one record on their own subject instead, for the sessions that asked about them.
//
// Leases: a node that has not beaten for lease_timeout_ms loses all its sessions. A beat
// whose session count differs from ours twice in a row asks that node for a resync.
// Sessions learned from a resync within sync_window_ms of start are installed silently:
// after a presenced restart nobody is announced again, and nobody flickers offline.
//
// Shard range (presence.shard_range, several presenced instances): gateway nodes send a
// user's online/status/offline to chat.presence.<shard_of(user)> only, but answer a resync
// with all their sessions. Only the sessions of users in this instance's range are kept
// from a resync (sync_session), so nothing else is held, published or dropped on lease
// expiry here. A node's beat counts all its sessions, so with a partial range a beat can
// only show that we hold too many (stale ones): only that counts as a mismatch.
#pragma once

#include <cstdint>
#include <deque>
#include <list>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "chat/proto/presence_ops.hpp"

namespace chat::presenced {

// The users an instance answers for: those whose shard_of(user_id, shards) lies in
// first..last. The default covers every user.
struct UserRange {
  int shards = 1;
  int first = 0;
  int last = 0;
  bool all() const { return first <= 0 && last >= shards - 1; }
  bool owns(uint64_t user_id) const;
};

struct PresenceSettings {
  uint64_t lease_timeout_ms = 15000;
  uint64_t coalesce_ms = 500;
  double guild_rate = 50;  // records per second per guild
  uint32_t guild_burst = 200;
  uint32_t large_guild_threshold = 1000;
  uint64_t sync_window_ms = 3000;
  uint32_t batch_max = 100;  // records per published event
  // Work per tick, so that one storm neither starves the loop's reading nor floods the
  // bus connection in one go: users leaving the window, and events published.
  uint32_t users_per_tick = 1000;
  uint32_t messages_per_tick = 500;
};

// Where tick() puts its results.
class Sink {
 public:
  virtual ~Sink() = default;
  // A batch of PRESENCE_UPDATE records for one guild at or below the threshold.
  virtual void guild_update(uint64_t guild_id, std::vector<proto::PresenceRecord> records) = 0;
  // One user's new presence, for the sessions watching them in large guilds.
  virtual void user_update(const proto::PresenceRecord& record) = 0;
  // Ask `node` to send all its sessions again.
  virtual void request_sync(const std::string& node) = 0;
  // A node's lease ran out; it had `sessions` sessions.
  virtual void node_expired(const std::string& node, size_t sessions) = 0;
};

struct PresenceStats {
  uint64_t changes = 0;         // merged presence changed (before coalescing)
  uint64_t coalesced = 0;       // dirty users whose change cancelled out in the window
  uint64_t user_publishes = 0;  // records that left the coalescing window
  uint64_t guild_records = 0;   // records published on guild subjects
  uint64_t guild_messages = 0;  // events published on guild subjects
  uint64_t replaced = 0;        // queued records replaced by a newer one of the same user
  uint64_t user_messages = 0;   // events published on per-user subjects
  uint64_t expired_nodes = 0;
  uint64_t expired_sessions = 0;
  uint64_t sync_requests = 0;
};

class PresenceState {
 public:
  // `wall_offset_ms` turns the monotonic `now` given to every call into Unix time for
  // since_ms (wall = now + offset).
  PresenceState(PresenceSettings settings, uint64_t start_ms, int64_t wall_offset_ms = 0);

  void set_settings(const PresenceSettings& s) { settings_ = s; }
  void set_range(const UserRange& r) { range_ = r; }
  const UserRange& range() const { return range_; }
  const PresenceSettings& settings() const { return settings_; }

  // ---- input from gateway nodes ----
  // A session came online, or (from_sync) was listed by a resync.
  void online(const std::string& node, const proto::SessionPresence& s, uint64_t now,
              bool from_sync = false);
  // op 3 on a session: status, since, afk, activities (guilds, when given, replace).
  void status(const std::string& node, const proto::SessionPresence& s, uint64_t now);
  void offline(const std::string& node, uint64_t session_id, uint64_t now);
  // The user joined (left) a guild after its sessions went online: see presence_ops.hpp
  // guild.join / guild.leave. A join of a user shown online queues its last published
  // record for the guild (at or below the threshold); `members` (0 = keep) updates the
  // guild's size. Unknown users and repeated joins/leaves are ignored.
  void guild_join(uint64_t user_id, uint64_t guild_id, uint32_t members, uint64_t now);
  void guild_leave(uint64_t user_id, uint64_t guild_id);
  void beat(const proto::LeaseBeat& beat, uint64_t now);
  // A node's resync `sync_id` is complete: its sessions not listed in it are dropped.
  void sync_done(const std::string& node, uint64_t sync_id, uint64_t now);
  // A sync chunk's session, remembered as seen for sync_done.
  void sync_seen(const std::string& node, uint64_t sync_id, uint64_t session_id, uint64_t now);
  // One session of a resync chunk: installed (online, from_sync) and remembered as seen
  // when its user is in range; false, and nothing kept, when it is not.
  bool sync_session(const std::string& node, uint64_t sync_id, const proto::SessionPresence& s,
                    uint64_t now);

  // ---- the periodic work: leases, the coalescing window, the guild batches ----
  void tick(uint64_t now, Sink& sink);

  // ---- queries ----
  // The user's current merged presence (status "offline" when unknown).
  proto::PresenceRecord presence_of(uint64_t user_id) const;
  // Members not shown offline of a guild at or below the threshold; false for a larger one.
  bool guild_presences(uint64_t guild_id, std::vector<proto::PresenceRecord>& out) const;
  // Members shown online/idle/dnd of any guild, and the member count reported for it.
  void guild_online(uint64_t guild_id, std::vector<proto::PresenceRecord>& out,
                    uint32_t& members) const;

  size_t session_count() const { return sessions_.size(); }
  size_t user_count() const { return users_.size(); }
  size_t node_count() const { return nodes_.size(); }
  size_t guild_count() const { return guilds_.size(); }
  size_t pending_records() const;
  const PresenceStats& stats() const { return stats_; }

 private:
  struct Session {
    std::string node;
    uint64_t user_id = 0;
    int rank = 0;  // status_rank(status), 0..4
    int slot = 2;  // client type: 0 desktop, 1 mobile, 2 web
    std::string status;
    std::vector<proto::Activity> activities;
    std::string client;
    std::list<uint64_t>::iterator pos;  // in its user's by_rank[rank]
  };
  struct User {
    // The sessions by status rank, each list in update order (oldest first, an update
    // moves its session to the end): the winner is the last of the highest non-empty list.
    // With the counts per client type and rank this makes a change cost the same for a
    // user with one session or twenty thousand.
    std::list<uint64_t> by_rank[5];
    uint32_t client_count[3][5] = {};
    size_t sessions = 0;
    std::vector<uint64_t> guilds;
    proto::PresenceRecord current;    // merged now
    proto::PresenceRecord published;  // last one that left the window
    bool dirty = false;
    uint64_t dirty_since = 0;
  };
  struct Guild {
    uint32_t members = 0;
    uint32_t refs = 0;                   // users listing it
    std::unordered_set<uint64_t> shown;  // users not shown offline
    std::deque<uint64_t> order;          // pending users, oldest first
    std::unordered_map<uint64_t, proto::PresenceRecord> pending;
    double tokens = 0;
    uint64_t refill_ms = 0;
    bool active = false;  // in active_guilds_
  };
  struct Node {
    uint64_t last_beat = 0;
    std::unordered_set<uint64_t> sessions;
    int mismatches = 0;
    uint64_t sync_asked = 0;
    uint64_t sync_id = 0;
    std::unordered_set<uint64_t> sync_seen;
  };

  void upsert(const std::string& node, const proto::SessionPresence& s, uint64_t now,
              bool keep_guilds_if_empty);
  void remove_session(uint64_t session_id, uint64_t now);
  // Adds the session to (takes it out of) its user's rank list and client counts.
  static void link(uint64_t session_id, Session& s, User& u);
  static void unlink(Session& s, User& u);
  void set_guilds(uint64_t user_id, User& u, const std::vector<proto::GuildSize>& guilds);
  void recompute(uint64_t user_id, User& u, uint64_t now);
  void set_shown(uint64_t user_id, const User& u, bool shown);
  void publish_user(uint64_t user_id, User& u, uint64_t now, Sink& sink);
  // Puts `record` in guild `gid`'s pending batch (replacing a queued one of the same user).
  void queue_record(uint64_t gid, Guild& g, const proto::PresenceRecord& record, uint64_t now);
  void flush_guilds(uint64_t now, Sink& sink);
  bool is_large(const Guild& g) const { return g.members > settings_.large_guild_threshold; }
  Node& node(const std::string& name, uint64_t now);

  PresenceSettings settings_;
  UserRange range_;
  uint64_t start_ms_;
  int64_t wall_offset_ms_;
  std::unordered_map<uint64_t, Session> sessions_;
  std::unordered_map<uint64_t, User> users_;
  std::unordered_map<uint64_t, Guild> guilds_;
  std::unordered_map<std::string, Node> nodes_;
  std::unordered_map<uint64_t, uint64_t> offline_since_;  // users last seen, for admin
  std::vector<uint64_t> dirty_;                           // users, in order of first change
  std::vector<uint64_t> active_guilds_;                   // guilds with pending records
  PresenceStats stats_;
};

// online 4, dnd 3, idle 2, invisible 1, anything else 0.
int status_rank(const std::string& status);

}  // namespace chat::presenced
