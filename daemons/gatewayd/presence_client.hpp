// The gateway's part of presence (ARCHITECTURE.md "Presence"), one per loop. Each loop is
// a presence "node" (presence_ops.hpp): it beats chat.lease.<node> every
// presence.lease_timeout_ms / 3, tells presenced when one of its sessions comes online
// (READY; with the user's guilds and their member counts, guilds.mine's member_count),
// changes status (IDENTIFY's presence, then op 3), detaches, resumes or ends, and answers
// chat.presence.sync with all of its sessions. It asks presenced for the presences that
// go into GUILD_CREATE (small guilds, sessions with GUILD_PRESENCES) and into
// GUILD_MEMBERS_CHUNK (op 8 with presences: true); for members of guilds above
// presence.large_guild_threshold that a session asked about, it subscribes to
// chat.evt.presence.<user> and dispatches their changes to that session, for at most
// gateway.max_presence_watches members per session (asks past it still get the chunk,
// with presences, but no watch; counted in chat_gatewayd_presence_watch_refused_total and
// logged once per session). It also
// delivers the batched PRESENCE_UPDATE events of chat.evt.guild.<g> (one dispatch per
// record, encoded once) and serves GET /api/v10/admin/presence/{users/U,guilds/G}.
//
// Guilds joined or left after READY (guildd's member.add / member.remove arrive as
// GUILD_CREATE / GUILD_DELETE on chat.evt.user.<u>, see fanout.cpp) go through
// guild_change(): presenced is told (guild.join / guild.leave) so that the guild's members
// see the user's presence, the sessions' guild lists (what a resync sends) follow, and a
// GUILD_CREATE of a guild at or below the threshold for a session with GUILD_PRESENCES is
// held until presenced has answered with the guild's presences, as at IDENTIFY.
//
// Presence never holds up a session for long: when presenced does not answer within
// presence.request_timeout_ms, GUILD_CREATE goes out with empty presences.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "chat/bus/bus.hpp"
#include "chat/http/server.hpp"
#include "chat/obs/metrics.hpp"
#include "chat/proto/ops.hpp"
#include "chat/sys/daemon.hpp"

namespace chat::gateway {

class Session;
class Worker;

// guild id -> GUILD_CREATE's `presences` array.
using GuildPresenceMap = std::unordered_map<uint64_t, nlohmann::json>;

class PresenceClient {
 public:
  explicit PresenceClient(Worker& worker);
  ~PresenceClient();
  PresenceClient(const PresenceClient&) = delete;
  PresenceClient& operator=(const PresenceClient&) = delete;

  // Subscribes to chat.presence.sync and starts the lease beat (loop thread).
  bool open();
  const std::string& node() const { return node_; }

  // ---- session hooks (loop thread) ----
  // IDENTIFY: the initial presence and the client type. False (with `why`) when the
  // presence is malformed; the session then starts "online" with no activities.
  bool identify(uint64_t session_id, const nlohmann::json& d, std::string& why);
  // guilds.mine answered: announce the session online and fetch the presences for its
  // GUILD_CREATEs; `then` runs on this loop (at once when there is nothing to ask).
  void ready(Session& s, const proto::GuildReply& reply,
             std::function<void(GuildPresenceMap)> then);
  // op 3. False (with `why`) when `d` is malformed.
  bool update(Session& s, const nlohmann::json& d, std::string& why);
  void detached(uint64_t session_id);
  void resumed(uint64_t session_id);
  void ended(uint64_t session_id);
  // op 8's answer: fills chunk["presences"] when asked (and allowed), watches the members
  // of a large guild, then dispatches GUILD_MEMBERS_CHUNK to the session and runs `sent`
  // (not run when the session is gone before the chunk could go out).
  void member_chunk(Session& s, uint64_t guild_id, nlohmann::json chunk, bool presences,
                    std::vector<uint64_t> user_ids, std::function<void()> sent = {});

  // ---- fan-out hook: a PRESENCE_UPDATE event from chat.evt.guild.<g> ----
  void deliver_guild(const proto::Event& ev, const std::vector<Session*>& targets);

  // ---- fan-out hook: GUILD_CREATE / GUILD_DELETE on chat.evt.user.<u> ----
  // `sessions` are the user's sessions on this loop. True when this took the event over:
  // it then delivers the GUILD_CREATE itself, with the guild's presences, to the sessions
  // that join (those the caller would have delivered it to), and joins them to the guild,
  // once presenced answers or presence.request_timeout_ms has passed. False: the caller
  // delivers it as usual (no session wants presences, a large guild, a GUILD_DELETE).
  bool guild_change(const proto::Event& ev, const std::vector<Session*>& sessions);

  // ---- admin routes: true when the path is ours (the answer is sent, now or later) ----
  bool handle_admin(http::Request& request, http::Responder& responder);

 private:
  struct Entry {
    proto::SessionPresence presence;
    bool announced = false;
    bool cap_logged = false;         // the watch cap was reached (logged once)
    std::vector<uint64_t> watching;  // users watched for large guilds
  };
  struct Watch {
    uint64_t sub = 0;
    std::vector<std::pair<uint64_t, uint64_t>> sessions;  // (session id, guild id)
  };
  using ReplyFn = std::function<void(bool ok, proto::PresenceReply&)>;

  void publish(uint64_t user_id, const proto::PresenceRequest& req);
  void request(uint32_t shard, const proto::PresenceRequest& req, ReplyFn done);
  // Sends `req` to every shard and merges the answers.
  void request_all(const proto::PresenceRequest& req, ReplyFn done);
  void beat();
  void on_sync(bus::Message& m);
  // False when the session is at gateway.max_presence_watches (the watch is refused).
  bool watch(Entry& e, uint64_t session_id, uint64_t guild_id, uint64_t user_id);
  void unwatch_all(Entry& e, uint64_t session_id);
  // The session left the guild: its watches for that guild go.
  void unwatch_guild(Entry& e, uint64_t session_id, uint64_t guild_id);
  // A held GUILD_CREATE (guild_change) goes out to `joining`, with `presences`.
  void deliver_joined(const proto::Event& ev, const std::vector<uint64_t>& joining,
                      const nlohmann::json& presences);
  void on_user_presence(uint64_t user_id, bus::Message& m);
  bool large_guild(const Entry& e, uint64_t guild_id) const;
  void admin_answer(const std::string& what, uint64_t id, http::Responder responder);

  Worker& worker_;
  std::string node_;
  uint64_t started_ms_ = 0;
  uint64_t beat_seq_ = 0;
  uint64_t announced_ = 0;
  uint64_t sync_sub_ = 0;
  std::unique_ptr<sys::Timer> beat_timer_;
  std::unordered_map<uint64_t, Entry> sessions_;
  std::unordered_map<uint64_t, Watch> watches_;
  // GUILD_CREATEs held for presences, by (user, guild): the hold's number, so that a
  // GUILD_DELETE in between (which erases it) cancels the delivery.
  std::map<std::pair<uint64_t, uint64_t>, uint64_t> held_;
  uint64_t hold_seq_ = 0;
  obs::Counter* refused_;  // chat_gatewayd_presence_watch_refused_total, shared by the loops
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // for bus callbacks
};

}  // namespace chat::gateway
