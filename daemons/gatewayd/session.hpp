// One gateway session (PROTOCOL.md "Gateway"), driven by an explicit state:
//
//   hello        connected, HELLO sent; only HEARTBEAT, IDENTIFY and RESUME are accepted
//   identifying  IDENTIFY is being checked with guildd (auth, then guilds.mine)
//   ready        READY sent; dispatches flow; the session is in its guilds' fan-out
//   detached     its connection dropped; dispatches still go to the replay buffer until
//                a RESUME picks it up or the resume window ends
//   proxy        this connection RESUMEd a session that lives on another loop: payloads
//                are forwarded there and frames come back (the session never moves)
//   closed       finished; the worker frees it after the current callback
//
// The session's link to its client is either a local ws::ServerConnection or, after a
// RESUME that arrived on another loop, that loop's proxy session (remote_*). Frames are
// compressed by whichever side owns the connection, since the zlib stream belongs to it.
// Idle sessions hold no buffers: the replay buffer empties as heartbeats acknowledge.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "chat/config/config.hpp"
#include "chat/proto/ops.hpp"
#include "chat/ws/server_connection.hpp"
#include "chat/ws/zlib_stream.hpp"
#include "dispatch_frame.hpp"
#include "ratelimit.hpp"
#include "replay_buffer.hpp"

namespace chat::gateway {

class Worker;

class Session {
 public:
  enum class State : uint8_t { hello, identifying, ready, detached, proxy, closed };

  Session(Worker& worker, uint64_t id, ws::ServerConnection* conn, bool compress);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  uint64_t id() const { return id_; }
  State state() const { return state_; }
  uint64_t user_id() const { return user_id_; }
  uint32_t intents() const { return intents_; }
  bool has_local_conn() const { return conn_ != nullptr; }
  ws::ServerConnection* conn() const { return conn_; }
  // In the fan-out: gets dispatches (live or into the replay buffer).
  bool receiving() const { return state_ == State::ready || state_ == State::detached; }
  bool in_guild(uint64_t guild_id) const;
  // Whether this session's shard covers the guild.
  bool wants_guild(uint64_t guild_id) const;

  void send_hello();
  // A payload from the client (local connection, or forwarded by a proxy on another loop).
  void on_payload(std::string_view payload);
  // The local connection is finished (the object is gone after this).
  void on_conn_closed(uint16_t code);
  // A dispatch: takes the next sequence number, keeps it for RESUME (unless `replayable`
  // is false: READY and its GUILD_CREATEs), writes it.
  void dispatch(const FramePtr& frame, bool replayable = true);
  // Closes the client's connection with `code`; the session ends, or is kept for RESUME
  // when `resumable`.
  void close(uint16_t code, std::string_view reason, bool resumable = false);
  // SIGTERM: op 7 RECONNECT, then close 1001.
  void drain();
  // The periodic check: heartbeat timeout, resume window, queued bytes (returned).
  size_t cron(uint64_t now_ms);

  // Guild membership as the fan-out sees it.
  void join_guild(uint64_t guild_id);
  void leave_guild(uint64_t guild_id);

  // Cross-loop resume, on the owning loop: attach a proxy on loop `proxy_worker`.
  void attach_remote(Worker* proxy_worker, uint64_t proxy_id, const std::string& token,
                     uint32_t seq);
  // A proxy's connection ended.
  void on_remote_closed(uint64_t proxy_id, uint16_t code);
  uint64_t remote_id() const { return remote_id_; }
  Worker* remote_worker() const { return remote_worker_; }

  // Proxy side: a frame from the owning loop, to send on our connection.
  void proxy_write(std::string_view text);
  // Proxy side: the owning loop refused the RESUME; back to `hello`.
  void proxy_refused();

  // Adopts `other`'s connection (a local RESUME): other is left without one.
  void take_connection(Session& other);

  // A RESUME's replay goes out in windows of this many bytes, each once the client has
  // taken most of the one before: a long backlog (op 8 chunks are ~430 KB each) never
  // trips the slow-consumer bound that a burst of all of it would.
  static size_t replay_window(const Config& c) {
    return static_cast<size_t>(c.gateway.max_queue_bytes) / 4;
  }
  // Sends the next window of the replay, or ends it (RESUMED); runs again when the
  // connection (or the proxy's, on another loop) has drained.
  void continue_replay();

 private:
  void write(std::string_view text);
  void write_local(std::string_view text);
  // Writes dispatch `frame` with sequence number `seq`: on a local uncompressed connection
  // the shared tail is not copied; otherwise spliced and written as text.
  void send_dispatch(const FramePtr& frame, uint32_t seq);
  // The slow-consumer bound: a connection queuing more than gateway.max_queue_bytes is
  // dropped (the session stays resumable, as after any dropped connection).
  void check_queue();
  void handle_identify(const nlohmann::json& d);
  void handle_resume(const nlohmann::json& d);
  void handle_request_members(const nlohmann::json& d);
  void on_auth_reply(const proto::GuildReply& reply);
  void on_guilds_reply(const proto::GuildReply& reply);
  // READY and GUILD_CREATEs, once presenced gave the guilds' presences (guild -> array).
  void on_guilds_ready(const proto::GuildReply& reply,
                       std::unordered_map<uint64_t, nlohmann::json>& presences);
  void finish_resume(uint32_t seq);
  // Waits for the connection to drain, then continue_replay().
  void wait_for_replay_window();
  void end();
  void detach_link();
  void send_invalid_session(bool resumable);

  Worker& worker_;
  uint64_t id_;
  ws::ServerConnection* conn_ = nullptr;        // local connection, if any
  Worker* remote_worker_ = nullptr;             // owner: the proxy's loop; proxy: the owner's loop
  uint64_t remote_id_ = 0;                      // the other side's session id
  std::unique_ptr<ws::ZlibDeflater> deflater_;  // only when compress=zlib-stream
  uint64_t user_id_ = 0;
  uint64_t last_beat_ms_ = 0;  // heartbeat (or connect) time, for 4009
  uint64_t detached_ms_ = 0;   // when the link dropped, for the resume window
  uint32_t intents_ = 0;
  uint32_t seq_ = 0;
  uint16_t shard_id_ = 0, shard_count_ = 1;
  State state_ = State::hello;
  bool compress_ = false;
  bool counted_ = true;           // in the sessions gauge (proxies are not)
  uint8_t large_threshold_ = 50;  // IDENTIFY's large_threshold, clamped to 50..250
  EventWindow events_;
  std::string token_;  // kept for RESUME's check and guildd requests
  std::string user_name_;
  bool user_bot_ = false;
  std::vector<uint64_t> guilds_;
  ReplayBuffer replay_;
  // A RESUME's replay in progress: the next sequence number to send (0: none). Meanwhile
  // new dispatches only go into the replay buffer, so the client sees them in order.
  uint32_t replay_next_ = 0;
  uint32_t replay_from_ = 0;     // the client's seq in RESUME
  bool replay_waiting_ = false;  // a continuation is scheduled

  // ---- op 8 for a whole guild: GUILD_MEMBERS_CHUNKs paged from guildd's member.list,
  // one page in flight (member_chunks.cpp) ----
  struct MemberPaging;
  void request_member_page(const std::shared_ptr<MemberPaging>& p);
  void on_member_page(const std::shared_ptr<MemberPaging>& p, const proto::GuildReply& reply);
  // The chunk went out: the next page, or (`last`) the end of the request.
  void member_page_sent(const std::shared_ptr<MemberPaging>& p, bool last);
  // The chunks still owed go out empty, so the last one says chunk_index + 1 == chunk_count.
  void finish_member_paging(const std::shared_ptr<MemberPaging>& p);
  // A detached session keeps its requests' paging where it stopped (`last`: only the
  // empty chunks at the end are owed); a closed one drops it.
  void park_member_paging(const std::shared_ptr<MemberPaging>& p, bool last);
  // After RESUMED: the parked requests go on from where they stopped.
  void resume_member_paging();
  std::vector<std::shared_ptr<MemberPaging>> parked_paging_;
};

}  // namespace chat::gateway
