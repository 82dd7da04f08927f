// Worker: one loop's wiring (see worker.hpp). Routes each HTTP request to health/metrics,
// REST or the WebSocket upgrade; owns the sessions and frees them only from the reap
// event, after the callback that ended them has returned; carries cross-loop RESUME
// traffic between a proxy session here and its owner elsewhere.
#include "worker.hpp"

#include <event2/bufferevent.h>
#include <event2/event.h>

#include <chrono>
#include <random>

#include "chat/http/admin_endpoint.hpp"
#include "chat/obs/log.hpp"
#include "chat/proto/subjects.hpp"
#include "chat/ws/handshake.hpp"
#include "fanout.hpp"
#include "presence_client.hpp"
#include "rest.hpp"
#include "session.hpp"

namespace chat::gateway {
namespace {

// The id a request is sharded by: the guild, else the channel, else the user.
uint64_t shard_key(const proto::GuildRequest& r) {
  if (r.guild_id) return r.guild_id;
  if (r.channel_id) return r.channel_id;
  return r.user_id;
}

bool is_gateway_path(std::string_view path) {
  return path == "/" || path == "/gateway" || path == "/gateway/";
}

}  // namespace

Worker::Worker(int index, Shared& shared) : index_(index), shared_(shared) {
  std::random_device rd;
  id_state_ = (static_cast<uint64_t>(rd()) << 32) ^ rd() ^ static_cast<uint64_t>(index) << 56;
}

Worker::~Worker() {
  for (auto& [id, s] : sessions_) s.reset();  // aborts live connections, no callbacks
  sessions_.clear();
  retired_.clear();
  fanout_.reset();
  presence_.reset();
  rest_.reset();
  server_.reset();
  listener_.reset();
  cron_.reset();
  bus_.reset();
  batch_.reset();
  for (event* e : {wake_, reap_, drain_timer_})
    if (e) event_free(e);
  if (base_) event_base_free(base_);
}

bool Worker::open(std::string& error) {
  base_ = event_base_new();
  if (!base_) return error = "event_base_new failed", false;
  batch_ = std::make_unique<ws::WriteBatch>(base_);
  batch_->set_on_flushed([this] { on_flushed(); });
  wake_ = event_new(
      base_, -1, EV_PERSIST,
      [](evutil_socket_t, short, void* arg) { static_cast<Worker*>(arg)->run_posted(); }, this);
  reap_ = event_new(
      base_, -1, EV_PERSIST,
      [](evutil_socket_t, short, void* arg) { static_cast<Worker*>(arg)->retired_.clear(); }, this);

  const Config& c = shared_.config;
  bus_ = bus::Bus::connect(base_, c.nats.url, "gatewayd-" + std::to_string(index_), error);
  if (!bus_) return false;

  http::ServerOptions opts;
  server_ = std::make_unique<http::Server>(
      base_, [this](http::Request& r, http::Responder resp) { on_request(r, std::move(resp)); },
      opts);
  server_->set_upgrade_handler(
      [this](http::Request& r, bufferevent* bev) { return on_upgrade(r, bev); });
  net::ListenOptions lo;
  lo.reuse_port = true;
  listener_ = net::Listener::open(
      base_, c.gateway.listen,
      [this](evutil_socket_t fd, const sockaddr*, int) { server_->adopt(fd); }, lo, error);
  if (!listener_) return false;
  fanout_ = std::make_unique<Fanout>(*this);
  presence_ = std::make_unique<PresenceClient>(*this);
  if (!presence_->open()) return error = "cannot subscribe to chat.presence.sync", false;
  rest_ = std::make_unique<Rest>(*this);
  int period = std::clamp(c.gateway.heartbeat_interval_ms / 4, 20, 1000);
  cron_ = std::make_unique<sys::Timer>(base_, period, [this] { cron(); });
  return true;
}

void Worker::start_thread() {
  thread_ = std::thread([this] {
    event_base_loop(base_, EVLOOP_NO_EXIT_ON_EMPTY);
    log::debug("gateway", "loop exited", {{"loop", index_}});
  });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::post(std::function<void()> fn) {
  {
    std::lock_guard lock(post_mu_);
    posted_.push_back(std::move(fn));
  }
  event_active(wake_, EV_READ, 0);
}

bool Worker::later(int ms, std::function<void()> fn) {
  auto* heap = new std::function<void()>(std::move(fn));
  timeval tv{ms / 1000, (ms % 1000) * 1000};
  auto call = [](evutil_socket_t, short, void* arg) {
    std::unique_ptr<std::function<void()>> f(static_cast<std::function<void()>*>(arg));
    (*f)();
  };
  if (event_base_once(base_, -1, EV_TIMEOUT, call, heap, &tv) == 0) return true;
  delete heap;
  return false;
}

void Worker::run_posted() {
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard lock(post_mu_);
    batch.swap(posted_);
  }
  for (auto& fn : batch) fn();
}

uint64_t Worker::now_ms() const {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

uint64_t Worker::new_session_id() {
  for (;;) {  // splitmix64
    uint64_t z = (id_state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    if (z && !sessions_.count(z) && shared_.resumes.find(z) < 0) return z;
  }
}

Session* Worker::find(uint64_t session_id) {
  auto it = sessions_.find(session_id);
  if (it == sessions_.end() || !it->second || it->second->state() == Session::State::closed)
    return nullptr;
  return it->second.get();
}

void Worker::retire(uint64_t session_id) {
  auto it = sessions_.find(session_id);
  if (it == sessions_.end()) return;
  retired_.push_back(std::move(it->second));
  // Erasing now could invalidate an iteration in progress (cron, drain): leave a null
  // slot and let the reap erase it.
  event_active(reap_, EV_READ, 0);
}

void Worker::guild_request(const proto::GuildRequest& request, GuildCallback done) {
  uint32_t shard = subjects::shard_of(shard_key(request), shared_.config.shards);
  bus_->request(
      subjects::guild(shard), proto::pack(request), shared_.config.gateway.request_timeout_ms,
      [done = std::move(done), op = request.op](bus::Status st, bus::Message& m) {
        proto::GuildReply reply;
        if (st != bus::Status::ok) {
          log::warn("bus", "guild request failed", {{"op", op}, {"status", bus::to_string(st)}});
          reply.status = 503;
          reply.message = "service unavailable";
        } else if (std::string err;
                   !proto::unpack(m.data, reply, &err) || reply.v > proto::kSchemaVersion) {
          log::warn("bus", "bad guild reply", {{"op", op}, {"error", err}});
          reply = proto::GuildReply{};
          reply.status = 502;
          reply.message = "bad reply from guildd";
          st = bus::Status::error;
        }
        done(st, reply);
      });
}

// ---- HTTP and WebSocket --------------------------------------------------------------

std::string Worker::not_ready_reason() const {
  if (shared_.draining.load()) return "draining";
  if (!bus_ || !bus_->connected()) return "bus disconnected";
  return {};
}

void Worker::on_request(http::Request& request, http::Responder responder) {
  if (auto r =
          http::admin_response(request, *shared_.registry, [this] { return not_ready_reason(); }))
    return responder.send(std::move(*r));
  if (request.path.starts_with("/api/") && presence_->handle_admin(request, responder)) return;
  if (request.path.starts_with("/api/") && store_admin_.handle(request, responder)) return;
  if (request.path.starts_with("/api/") || request.path == "/api")
    return rest_->handle(request, std::move(responder));
  if (request.is_upgrade() && is_gateway_path(request.path)) {
    // The upgrade handler refused it: say why.
    ws::HandshakeCheck check = ws::check_server_handshake(request);
    if (!check.ok()) return responder.send(ws::handshake_error_response(check));
    if (draining_) return responder.send(rest_error(503, 0, "draining"));
    return responder.send(rest_error(400, 0, "unsupported encoding (only json is offered)"));
  }
  if (request.path == "/" && request.method == "GET")
    return responder.send(
        http::Response::text(200, "chat gateway: REST under /api/v10, WebSocket at /gateway\n"));
  responder.send(rest_error(404, 0, "404: Not Found"));
}

bool Worker::on_upgrade(http::Request& request, bufferevent* bev) {
  if (!is_gateway_path(request.path) || draining_) return false;
  ws::HandshakeCheck check = ws::check_server_handshake(request);
  if (!check.ok()) return false;
  const std::string* encoding = request.param("encoding");
  if (encoding && *encoding != "json") return false;
  const std::string* compress = request.param("compress");
  ws::ServerConnection::Options opts;
  opts.max_message = 64 * 1024;  // over 4096 is closed with 4002 by the session
  opts.batch = batch_.get();
  ws::ServerConnection* conn = ws::ServerConnection::accept(bev, check.accept, this, opts);
  const std::string* v = request.param("v");
  if (!v || *v != "10") {
    shared_.metrics.count_close(4012);
    conn->close(4012, "invalid API version");
    return true;
  }
  uint64_t id = new_session_id();
  auto s = std::make_unique<Session>(*this, id, conn, compress && *compress == "zlib-stream");
  Session* raw = s.get();
  sessions_.emplace(id, std::move(s));
  raw->send_hello();
  return true;
}

void Worker::on_message(ws::ServerConnection& conn, ws::Opcode, std::string_view payload) {
  auto* s = static_cast<Session*>(conn.user());
  if (!s) return;
  if (s->state() != Session::State::proxy) return s->on_payload(payload);
  if (payload.size() > 4096) return conn.close(4002, "payload too large");
  // The proxy forwards to the owning loop, which runs the protocol.
  Worker* owner = s->remote_worker();
  uint64_t owner_session = s->remote_id(), pid = s->id();
  if (!owner) return conn.close(4000, "session gone");
  owner->post([owner, owner_session, pid, p = std::string(payload)]() mutable {
    owner->remote_payload(owner_session, pid, std::move(p));
  });
}

void Worker::on_close(ws::ServerConnection& conn, uint16_t code, std::string_view) {
  auto* s = static_cast<Session*>(conn.user());
  if (!s) return;
  conn.set_user(nullptr);
  s->on_conn_closed(code);
}

// The turn's writes are done: deliveries into the shared counter, and each event fanned
// out this turn has now reached the last of its sessions here.
void Worker::on_flushed() {
  if (turn_deliveries_) {
    shared_.metrics.deliveries->inc(turn_deliveries_);
    turn_deliveries_ = 0;
  }
  if (turn_events_.empty()) return;
  auto now = std::chrono::steady_clock::now();
  for (auto start : turn_events_)
    shared_.metrics.fanout_seconds->observe(std::chrono::duration<double>(now - start).count());
  turn_events_.clear();
}

// ---- cross-loop RESUME ---------------------------------------------------------------

void Worker::remote_resume(uint64_t session_id, Worker* proxy_worker, uint64_t proxy_id,
                           std::string token, uint32_t seq) {
  Session* s = find(session_id);
  if (!s) {
    shared_.metrics.resume_failures->inc();
    return proxy_worker->post([proxy_worker, proxy_id] { proxy_worker->proxy_refused(proxy_id); });
  }
  s->attach_remote(proxy_worker, proxy_id, token, seq);
}

void Worker::remote_payload(uint64_t session_id, uint64_t proxy_id, std::string payload) {
  Session* s = find(session_id);
  if (s && s->remote_id() == proxy_id) s->on_payload(payload);
}

void Worker::remote_closed(uint64_t session_id, uint64_t proxy_id, uint16_t code) {
  if (Session* s = find(session_id)) s->on_remote_closed(proxy_id, code);
}

void Worker::proxy_send(uint64_t proxy_id, std::string text) {
  Session* p = find(proxy_id);
  if (p && p->state() == Session::State::proxy) p->proxy_write(text);
}

void Worker::proxy_close(uint64_t proxy_id, uint16_t code) {
  Session* p = find(proxy_id);
  if (p && p->state() == Session::State::proxy) p->close(code, "closed by owner");
}

void Worker::proxy_drained(uint64_t proxy_id, Worker* owner, uint64_t owner_sid) {
  Session* p = find(proxy_id);
  if (!p || p->state() != Session::State::proxy) return;  // gone: the owner hears of it
  ws::ServerConnection* c = p->conn();
  if (c && c->outbound_bytes() > Session::replay_window(config())) {
    if (later(c->write_armed() ? 10 : 0,
              [this, proxy_id, owner, owner_sid] { proxy_drained(proxy_id, owner, owner_sid); }))
      return;
  }
  owner->post([owner, owner_sid] {
    if (Session* s = owner->find(owner_sid)) s->continue_replay();
  });
}

void Worker::proxy_refused(uint64_t proxy_id) {
  if (Session* p = find(proxy_id)) p->proxy_refused();
}

// ---- cron and drain ------------------------------------------------------------------

void Worker::cron() {
  uint64_t now = now_ms();
  size_t queued = 0;
  for (auto& [id, s] : sessions_)
    if (s) queued += s->cron(now);
  queue_bytes_.store(static_cast<int64_t>(queued), std::memory_order_relaxed);
  rest_->sweep(now);
  // Drop the slots of retired sessions (never while iterating elsewhere).
  for (auto it = sessions_.begin(); it != sessions_.end();)
    it = it->second ? std::next(it) : sessions_.erase(it);
}

void Worker::begin_drain(int deadline_ms) {
  post([this, deadline_ms] {
    draining_ = true;
    listener_->disable();
    for (auto& [id, s] : sessions_)
      if (s && s->has_local_conn()) s->drain();
    server_->close_idle();
    drain_deadline_ms_ = now_ms() + static_cast<uint64_t>(deadline_ms);
    drain_timer_ = event_new(
        base_, -1, EV_PERSIST,
        [](evutil_socket_t, short, void* arg) { static_cast<Worker*>(arg)->check_drained(); },
        this);
    timeval tv{0, 50 * 1000};
    event_add(drain_timer_, &tv);
  });
}

void Worker::check_drained() {
  size_t live = 0;
  for (auto& [id, s] : sessions_)
    if (s && s->has_local_conn()) ++live;
  // Closed sessions' connections finish their closing handshake (bounded by the close
  // timeout) before the loop stops: stopping it under them would leak them.
  size_t closing = ws::ServerConnection::live_count();
  if ((live == 0 && server_->connection_count() == 0 && closing == 0) ||
      now_ms() >= drain_deadline_ms_) {
    log::notice("gateway", "loop drained",
                {{"loop", index_},
                 {"open_sessions", live},
                 {"http_connections", server_->connection_count()},
                 {"ws_connections", closing}});
    event_base_loopbreak(base_);
  }
}

}  // namespace chat::gateway
