// Session: the gateway protocol state machine of one client (see session.hpp). Every
// client payload goes through on_payload(), which bounds it (4096 bytes, 120 per 60 s),
// decodes it and switches on the opcode; every way out goes through close() or
// on_conn_closed(), which decide between ending the session and keeping it resumable.
#include "session.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "chat/obs/log.hpp"
#include "chat/proto/discord_json.hpp"
#include "chat/proto/json_limits.hpp"
#include "chat/proto/snowflake.hpp"
#include "fanout.hpp"
#include "intents.hpp"
#include "json_text.hpp"
#include "presence_client.hpp"
#include "worker.hpp"

namespace chat::gateway {
namespace {

using Json = nlohmann::json;

constexpr size_t kMaxPayload = 4096;

// Server-side closes after which Discord lets the client RESUME.
bool resumable_code(uint16_t code) {
  switch (code) {
    case 4000:
    case 4001:
    case 4002:
    case 4003:
    case 4005:
    case 4007:
    case 4008:
      return true;
    default:
      return false;
  }
}

}  // namespace

Session::Session(Worker& worker, uint64_t id, ws::ServerConnection* conn, bool compress)
    : worker_(worker), id_(id), conn_(conn), compress_(compress) {
  if (compress) deflater_ = std::make_unique<ws::ZlibDeflater>();
  last_beat_ms_ = worker_.now_ms();
  if (conn_) conn_->set_user(this);
  worker_.metrics().sessions->add(1);
}

Session::~Session() {
  if (conn_) {  // only at shutdown: drop the connection without callbacks
    conn_->set_user(nullptr);
    conn_->abort();
  }
  if (counted_) worker_.metrics().sessions->add(-1);
}

bool Session::in_guild(uint64_t guild_id) const {
  return std::find(guilds_.begin(), guilds_.end(), guild_id) != guilds_.end();
}

bool Session::wants_guild(uint64_t guild_id) const {
  return shard_count_ <= 1 || ((guild_id >> 22) % shard_count_) == shard_id_;
}

void Session::join_guild(uint64_t guild_id) {
  if (in_guild(guild_id)) return;
  guilds_.push_back(guild_id);
  worker_.fanout().join_guild(guild_id, this);
}

void Session::leave_guild(uint64_t guild_id) {
  auto it = std::find(guilds_.begin(), guilds_.end(), guild_id);
  if (it == guilds_.end()) return;
  *it = guilds_.back();
  guilds_.pop_back();
  worker_.fanout().leave_guild(guild_id, this);
}

// ---- output ------------------------------------------------------------------------

void Session::write_local(std::string_view text) {
  if (!conn_) return;
  if (deflater_) {
    thread_local std::string zbuf;
    zbuf.clear();
    if (!deflater_->compress(text, zbuf)) {
      log::warn("ws", "deflate failed", {{"session", hex_id(id_)}});
      return close(4000, "compression error", true);
    }
    conn_->send_binary(zbuf);
  } else {
    conn_->send_text(text);
  }
  check_queue();
}

void Session::check_queue() {
  if (!conn_) return;
  size_t queued = conn_->outbound_bytes();
  if (queued <= static_cast<size_t>(worker_.config().gateway.max_queue_bytes)) return;
  worker_.metrics().slow_consumer_closes->inc();
  log::warn("ws", "client closed",
            {{"session", hex_id(id_)}, {"reason", "slow_consumer"}, {"queued", queued}});
  ws::ServerConnection* c = conn_;
  conn_ = nullptr;
  c->set_user(nullptr);
  c->abort();  // no close frame: it would wait behind the queue
  // As if it dropped (a resumable session stays resumable), counted as a slow consumer.
  on_conn_closed(GatewayMetrics::kSlowConsumerClose);
}

void Session::send_dispatch(const FramePtr& frame, uint32_t seq) {
  if (conn_ && !deflater_) {
    char prefix[128];
    if (size_t n = frame_prefix(*frame, seq, prefix, sizeof prefix)) {
      worker_.write_batch().keep(frame);  // the tail is borrowed until the turn's flush
      conn_->send_text_borrowed({prefix, n}, frame->tail);
      return check_queue();
    }
  }
  std::string& out = worker_.scratch();
  splice_frame(*frame, seq, out);
  write(out);
}

void Session::write(std::string_view text) {
  if (conn_) return write_local(text);
  if (remote_worker_ && state_ != State::proxy) {
    Worker* w = remote_worker_;
    uint64_t pid = remote_id_;
    w->post([w, pid, s = std::string(text)]() mutable { w->proxy_send(pid, std::move(s)); });
  }
}

void Session::proxy_write(std::string_view text) {
  write_local(text);
}

void Session::dispatch(const FramePtr& frame, bool replayable) {
  uint32_t s = ++seq_;
  if (replayable)
    replay_.push(frame, s);
  else
    replay_.skip(s);
  if (!conn_ && !remote_worker_) return;  // detached: kept for RESUME
  if (replay_next_) return;               // the replay still going will send it in order
  worker_.note_delivery();
  send_dispatch(frame, s);
}

void Session::send_hello() {
  write(R"({"op":10,"d":{"heartbeat_interval":)" +
        std::to_string(worker_.config().gateway.heartbeat_interval_ms) + R"(},"s":null,"t":null})");
}

void Session::send_invalid_session(bool resumable) {
  write(resumable ? R"({"op":9,"d":true,"s":null,"t":null})"
                  : R"({"op":9,"d":false,"s":null,"t":null})");
}

// ---- input -------------------------------------------------------------------------

void Session::on_payload(std::string_view payload) {
  if (state_ == State::closed) return;
  uint64_t now = worker_.now_ms();
  if (payload.size() > kMaxPayload) return close(4002, "payload too large", true);
  if (!events_.allow(static_cast<uint32_t>(now / 1000))) return close(4008, "rate limited", true);
  Json j;
  proto::JsonLimits limits;
  limits.max_bytes = kMaxPayload;
  if (proto::parse_json(payload, j, limits) != proto::JsonError::none || !j.is_object())
    return close(4002, "decode error", true);
  auto op_it = j.find("op");
  if (op_it == j.end() || !op_it->is_number_integer()) return close(4002, "decode error", true);
  int64_t op = op_it->get<int64_t>();
  static const Json null_json;
  auto d_it = j.find("d");
  const Json& d = d_it == j.end() ? null_json : *d_it;

  switch (op) {
    case 1:  // HEARTBEAT
      last_beat_ms_ = now;
      if (d.is_number_unsigned()) replay_.ack(static_cast<uint32_t>(d.get<uint64_t>()));
      write(R"({"op":11,"d":null,"s":null,"t":null})");
      return;
    case 2:  // IDENTIFY
      if (state_ != State::hello) return close(4005, "already authenticated", true);
      return handle_identify(d);
    case 6:  // RESUME
      if (state_ != State::hello) return close(4005, "already authenticated", true);
      return handle_resume(d);
    case 3:  // PRESENCE_UPDATE
    case 4:  // VOICE_STATE_UPDATE
    case 8:  // REQUEST_GUILD_MEMBERS
      if (state_ != State::ready) return close(4003, "not authenticated", true);
      if (op == 8) handle_request_members(d);
      if (std::string why; op == 3 && !worker_.presence().update(*this, d, why))
        return close(4002, "decode error", true);
      return;  // voice belongs to sfud, not served yet
    default:
      return close(4001, "unknown opcode", true);
  }
}

void Session::handle_identify(const Json& d) {
  if (!d.is_object()) return close(4002, "decode error", true);
  auto tok = d.find("token");
  if (tok == d.end() || !tok->is_string()) return close(4002, "decode error", true);
  const std::string& token = tok->get_ref<const std::string&>();
  if (token.empty()) return close(4004, "authentication failed");

  uint32_t intents = intent::fallback;
  auto in = d.find("intents");
  if (in != d.end() && !in->is_null()) {
    if (!in->is_number_integer() || !valid_intents(in->get<int64_t>()))
      return close(4013, "invalid intents");
    intents = static_cast<uint32_t>(in->get<int64_t>());
  }
  auto sh = d.find("shard");
  if (sh != d.end() && !sh->is_null()) {
    if (!sh->is_array() || sh->size() != 2 || !(*sh)[0].is_number_integer() ||
        !(*sh)[1].is_number_integer())
      return close(4010, "invalid shard");
    int64_t sid = (*sh)[0].get<int64_t>(), count = (*sh)[1].get<int64_t>();
    if (count < 1 || count > 65535 || sid < 0 || sid >= count) return close(4010, "invalid shard");
    shard_id_ = static_cast<uint16_t>(sid);
    shard_count_ = static_cast<uint16_t>(count);
  }
  // 50..250; Discord clamps a value outside the range rather than refusing it.
  int64_t large = proto::kLargeThresholdDefault;
  auto lt = d.find("large_threshold");
  if (lt != d.end() && !lt->is_null()) {
    if (!lt->is_number_integer()) return close(4002, "decode error", true);
    large = std::clamp<int64_t>(lt->get<int64_t>(), proto::kLargeThresholdMin,
                                proto::kLargeThresholdMax);
  }
  large_threshold_ = static_cast<uint8_t>(large);
  intents_ = intents;
  token_ = token;
  state_ = State::identifying;
  if (std::string why; !worker_.presence().identify(id_, d, why))
    log::info("ws", "identify presence ignored", {{"session", hex_id(id_)}, {"why", why}});

  proto::GuildRequest req;
  req.op = "auth";
  req.token = token_;
  Worker* w = &worker_;
  uint64_t sid = id_;
  worker_.guild_request(req, [w, sid](bus::Status, proto::GuildReply& reply) {
    Session* s = w->find(sid);
    if (s && s->state_ == State::identifying) s->on_auth_reply(reply);
  });
}

void Session::on_auth_reply(const proto::GuildReply& reply) {
  if (reply.status == 401 || reply.status == 403) return close(4004, "authentication failed");
  if (reply.status != 200 || reply.users.empty()) {
    log::warn("ws", "identify failed",
              {{"session", hex_id(id_)}, {"status", reply.status}, {"message", reply.message}});
    return close(4000, "unknown error");
  }
  const proto::User& u = reply.users[0];
  user_id_ = u.id;
  user_name_ = u.name;
  user_bot_ = u.bot;

  proto::GuildRequest req;
  req.op = "guilds.mine";
  req.token = token_;
  Worker* w = &worker_;
  uint64_t sid = id_;
  worker_.guild_request(req, [w, sid](bus::Status, proto::GuildReply& r) {
    Session* s = w->find(sid);
    if (s && s->state_ == State::identifying) s->on_guilds_reply(r);
  });
}

void Session::on_guilds_reply(const proto::GuildReply& reply) {
  if (reply.status == 401 || reply.status == 403) return close(4004, "authentication failed");
  if (reply.status != 200) {
    log::warn("ws", "identify failed",
              {{"session", hex_id(id_)}, {"status", reply.status}, {"message", reply.message}});
    return close(4000, "unknown error");
  }
  // presenced first: the session goes online and GUILD_CREATE gets the presences.
  auto kept = std::make_shared<proto::GuildReply>(reply);
  Worker* w = &worker_;
  uint64_t sid = id_;
  worker_.presence().ready(*this, reply, [w, sid, kept](GuildPresenceMap presences) {
    Session* s = w->find(sid);
    if (s && s->state_ == State::identifying) s->on_guilds_ready(*kept, presences);
  });
}

void Session::on_guilds_ready(const proto::GuildReply& reply,
                              std::unordered_map<uint64_t, nlohmann::json>& presences) {
  state_ = State::ready;
  last_beat_ms_ = worker_.now_ms();
  worker_.shared().resumes.add(id_, worker_.index());

  Json guilds = Json::array();
  for (const proto::Guild& g : reply.guilds)
    if (wants_guild(g.id))
      guilds.push_back({{"id", proto::id_string(g.id)}, {"unavailable", true}});
  Json ready = {
      {"v", 10},
      {"user", proto::user_json(user_id_, user_name_, user_bot_, true)},
      {"guilds", std::move(guilds)},
      {"session_id", hex_id(id_)},
      {"session_type", "normal"},
      {"resume_gateway_url", worker_.shared().public_url},
      {"application", {{"id", proto::id_string(user_id_)}, {"flags", 0}}},
      {"shard", {shard_id_, shard_count_}},
      {"private_channels", Json::array()},
      {"relationships", Json::array()},
      {"presences", Json::array()},
      {"guild_join_requests", Json::array()},
      {"geo_ordered_rtc_regions", Json::array()},
      {"user_settings", Json::object()},
      {"auth", Json::object()},
  };
  // Neither READY nor these GUILD_CREATEs are replayed (a RESUME needs READY's session id).
  dispatch(make_dispatch("READY", dump(ready)), false);
  for (const proto::Guild& g : reply.guilds) {
    if (!wants_guild(g.id)) continue;
    if (state_ != State::ready) break;  // closed while writing (slow consumer)
    // Above large_threshold: large, with the own member only (guilds.mine lists no more
    // of a guild over kFullMemberListMax >= any threshold); op 8 pages the rest.
    Json gc =
        proto::guild_create_json(g, reply.channels, reply.members, user_id_, large_threshold_);
    if (auto p = presences.find(g.id); p != presences.end()) gc["presences"] = std::move(p->second);
    dispatch(make_dispatch("GUILD_CREATE", dump(gc)), false);
  }
  if (!receiving()) return;
  worker_.fanout().join_user(user_id_, this);
  for (const proto::Guild& g : reply.guilds)
    if (wants_guild(g.id)) join_guild(g.id);
  log::info("ws", "identified",
            {{"session", hex_id(id_)},
             {"user", user_id_},
             {"guilds", guilds_.size()},
             {"intents", intents_},
             {"compress", compress_ ? 1 : 0}});
}

void Session::handle_resume(const Json& d) {
  if (!d.is_object()) return close(4002, "decode error", true);
  auto tok = d.find("token");
  auto sid_it = d.find("session_id");
  auto seq_it = d.find("seq");
  if (tok == d.end() || !tok->is_string() || sid_it == d.end() || !sid_it->is_string())
    return close(4002, "decode error", true);
  uint32_t seq = 0;
  if (seq_it != d.end() && seq_it->is_number_unsigned())
    seq = static_cast<uint32_t>(seq_it->get<uint64_t>());
  uint64_t sid = 0;
  int owner = parse_hex_id(sid_it->get_ref<const std::string&>(), sid)
                  ? worker_.shared().resumes.find(sid)
                  : -1;
  const std::string& token = tok->get_ref<const std::string&>();
  if (owner < 0) {
    worker_.metrics().resume_failures->inc();
    return send_invalid_session(false);
  }
  if (owner == worker_.index()) {
    Session* s = worker_.find(sid);
    if (!s || !s->receiving() || s->token_ != token || !s->replay_.covers(seq, s->seq_)) {
      worker_.metrics().resume_failures->inc();
      return send_invalid_session(false);
    }
    s->take_connection(*this);
    s->finish_resume(seq);
    state_ = State::closed;
    worker_.retire(id_);
    return;
  }
  // The session lives on another loop: become its proxy and ask that loop.
  state_ = State::proxy;
  counted_ = false;
  worker_.metrics().sessions->add(-1);
  Worker* target = worker_.shared().workers[owner];
  remote_worker_ = target;
  remote_id_ = sid;
  Worker* self = &worker_;
  uint64_t pid = id_;
  target->post(
      [target, sid, self, pid, token, seq] { target->remote_resume(sid, self, pid, token, seq); });
}

void Session::attach_remote(Worker* proxy_worker, uint64_t proxy_id, const std::string& token,
                            uint32_t seq) {
  if (!receiving() || token_ != token || !replay_.covers(seq, seq_)) {
    worker_.metrics().resume_failures->inc();
    proxy_worker->post([proxy_worker, proxy_id] { proxy_worker->proxy_refused(proxy_id); });
    return;
  }
  detach_link();
  remote_worker_ = proxy_worker;
  remote_id_ = proxy_id;
  finish_resume(seq);
}

void Session::proxy_refused() {
  if (state_ != State::proxy) return;
  state_ = State::hello;
  counted_ = true;
  worker_.metrics().sessions->add(1);
  remote_worker_ = nullptr;
  remote_id_ = 0;
  send_invalid_session(false);
}

void Session::take_connection(Session& other) {
  detach_link();
  conn_ = other.conn_;
  other.conn_ = nullptr;
  if (conn_) conn_->set_user(this);
  deflater_ = std::move(other.deflater_);
  compress_ = other.compress_;
}

// Drops whatever link the session has (an older connection a RESUME replaces).
void Session::detach_link() {
  if (conn_) {
    ws::ServerConnection* c = conn_;
    conn_ = nullptr;
    c->set_user(nullptr);
    c->close(4000, "session resumed elsewhere");
  } else if (remote_worker_) {
    Worker* w = remote_worker_;
    uint64_t pid = remote_id_;
    w->post([w, pid] { w->proxy_close(pid, 4000); });
  }
  remote_worker_ = nullptr;
  remote_id_ = 0;
}

void Session::finish_resume(uint32_t seq) {
  state_ = State::ready;
  worker_.presence().resumed(id_);
  last_beat_ms_ = worker_.now_ms();
  detached_ms_ = 0;
  replay_from_ = seq;
  replay_next_ = seq + 1;
  // A continuation still pending from an earlier link may fire later: it just goes on
  // with this replay. One that will never come (a proxy gone) must not hold this one up.
  replay_waiting_ = false;
  continue_replay();
}

void Session::continue_replay() {
  replay_waiting_ = false;
  if (!replay_next_) return;
  if (state_ != State::ready) {  // dropped meanwhile: a new RESUME starts its own replay
    replay_next_ = 0;
    return;
  }
  size_t window = replay_window(worker_.config());
  size_t forwarded = 0;  // to a proxy on another loop, this call
  while (replay_next_ <= seq_) {
    if (conn_ ? conn_->outbound_bytes() > window : forwarded > window)
      return wait_for_replay_window();
    const FramePtr* frame = replay_.at(replay_next_);
    if (!frame) {
      // Pushed out of the ring by newer dispatches while the client was slow to read:
      // what is missing cannot be sent in order any more.
      replay_next_ = 0;
      log::warn("ws", "replay overrun", {{"session", hex_id(id_)}, {"user", user_id_}});
      return close(4000, "resume backlog lost");
    }
    FramePtr keep = *frame;  // send_dispatch may close the session; the ring may change
    forwarded += keep->tail.size();
    send_dispatch(keep, replay_next_++);
    if (state_ != State::ready) {  // dropped as a slow consumer while replaying
      replay_next_ = 0;
      return;
    }
  }
  uint32_t replayed = replay_next_ - 1 - replay_from_;
  replay_next_ = 0;
  dispatch(make_dispatch("RESUMED", "{}"));
  worker_.metrics().resumes->inc();
  log::info("ws", "resumed",
            {{"session", hex_id(id_)},
             {"user", user_id_},
             {"from_seq", replay_from_},
             {"replayed", replayed},
             {"remote", remote_worker_ ? 1 : 0}});
  if (state_ == State::ready) resume_member_paging();
}

void Session::wait_for_replay_window() {
  if (replay_waiting_) return;
  Worker* w = &worker_;
  uint64_t sid = id_;
  auto go_on = [w, sid] {
    if (Session* s = w->find(sid)) s->continue_replay();
  };
  if (conn_) {
    // Bytes still in this turn's batch: look again after the flush; bytes the socket
    // refused: give the client time to read.
    replay_waiting_ = worker_.later(conn_->write_armed() ? 10 : 0, go_on);
  } else if (remote_worker_) {
    // Asked behind the frames already posted to the proxy's loop.
    Worker* pw = remote_worker_;
    uint64_t pid = remote_id_;
    pw->post([pw, pid, w, sid] { pw->proxy_drained(pid, w, sid); });
    replay_waiting_ = true;
  }
  if (!replay_waiting_) {  // no timer: cannot pace, so end the link (resumable)
    replay_next_ = 0;
    close(4000, "cannot pace replay", true);
  }
}

// ---- endings -----------------------------------------------------------------------

void Session::close(uint16_t code, std::string_view reason, bool resumable) {
  if (state_ == State::closed) return;
  worker_.metrics().count_close(code);
  log::info("ws", "closing session",
            {{"session", hex_id(id_)}, {"code", code}, {"reason", reason}, {"user", user_id_}});
  if (conn_) {
    ws::ServerConnection* c = conn_;
    conn_ = nullptr;
    c->set_user(nullptr);
    c->close(code, reason);
  } else if (remote_worker_ && state_ != State::proxy) {
    Worker* w = remote_worker_;
    uint64_t pid = remote_id_;
    w->post([w, pid, code] { w->proxy_close(pid, code); });
    remote_worker_ = nullptr;
    remote_id_ = 0;
  }
  if (resumable && resumable_code(code) && receiving()) {
    state_ = State::detached;
    detached_ms_ = worker_.now_ms();
    worker_.presence().detached(id_);
    return;
  }
  end();
}

void Session::on_conn_closed(uint16_t code) {
  conn_ = nullptr;
  if (state_ == State::proxy) {
    Worker* w = remote_worker_;
    uint64_t owner = remote_id_, pid = id_;
    if (w) w->post([w, owner, pid, code] { w->remote_closed(owner, pid, code); });
    state_ = State::closed;
    worker_.retire(id_);
    return;
  }
  on_remote_closed(0, code);
}

void Session::on_remote_closed(uint64_t proxy_id, uint16_t code) {
  if (proxy_id != 0) {  // from another loop: only the current proxy counts
    if (proxy_id != remote_id_ || !remote_worker_) return;
    remote_worker_ = nullptr;
    remote_id_ = 0;
  }
  if (state_ == State::closed) return;
  worker_.metrics().count_close(code);
  if (receiving() && code != 1000 && code != 1001) {
    state_ = State::detached;
    detached_ms_ = worker_.now_ms();
    worker_.presence().detached(id_);
    log::info("ws", "session detached",
              {{"session", hex_id(id_)}, {"code", code}, {"user", user_id_}});
    return;
  }
  end();
}

void Session::end() {
  if (state_ == State::closed) return;
  worker_.presence().ended(id_);
  if (receiving()) {
    while (!guilds_.empty()) leave_guild(guilds_.back());
    worker_.fanout().leave_user(user_id_, this);
    worker_.shared().resumes.remove(id_);
  }
  if (remote_worker_ && state_ != State::proxy) {
    Worker* w = remote_worker_;
    uint64_t pid = remote_id_;
    w->post([w, pid] { w->proxy_close(pid, 1000); });
  }
  remote_worker_ = nullptr;
  parked_paging_.clear();  // op 8 requests left for a RESUME that will not come
  state_ = State::closed;
  worker_.retire(id_);
}

void Session::drain() {
  if (!conn_) return;
  write(R"({"op":7,"d":null,"s":null,"t":null})");
  if (state_ == State::proxy) {  // the owner loop ends the session itself
    ws::ServerConnection* c = conn_;
    conn_ = nullptr;
    c->set_user(nullptr);
    c->close(1001, "going away");
    on_conn_closed(1001);
    return;
  }
  close(1001, "going away");
}

size_t Session::cron(uint64_t now_ms) {
  switch (state_) {
    case State::closed:
      return 0;
    case State::detached:
      if (now_ms - detached_ms_ >
          static_cast<uint64_t>(worker_.config().gateway.resume_window_s) * 1000) {
        log::info("ws", "resume window over", {{"session", hex_id(id_)}, {"user", user_id_}});
        end();
      }
      return 0;
    case State::proxy:
      return conn_ ? conn_->outbound_bytes() : 0;
    default:
      break;
  }
  uint64_t limit = static_cast<uint64_t>(worker_.config().gateway.heartbeat_interval_ms) * 3 / 2;
  if (now_ms - last_beat_ms_ > limit) {
    // Bytes from the client still in the kernel: the loop, not the client, is late (a
    // heartbeat may be among them). Judge once they are read; a client that keeps
    // sending without heartbeating meets the op rate limit (4008) instead.
    if (conn_ && conn_->unread_bytes() > 0) {
      worker_.metrics().heartbeat_checks_deferred->inc();
      return conn_->outbound_bytes();
    }
    close(4009, "session timed out");
    return 0;
  }
  if (!conn_) return 0;
  conn_->trim();  // an idle connection keeps no output buffer
  return conn_->outbound_bytes();
}

}  // namespace chat::gateway
