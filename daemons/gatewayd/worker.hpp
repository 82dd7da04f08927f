// One event loop of gatewayd, on its own thread: its SO_REUSEPORT listener on
// gateway.listen, its http::Server (REST, health, the WebSocket upgrade), its own bus
// connection, its sessions and its guild subscriptions (Fanout). A session stays on the
// loop that accepted it for its whole life; nothing here is touched by another thread
// except through post(), which queues a closure and wakes the loop. The cron (every
// few hundred ms) checks heartbeats, resume windows and queued bytes, and sweeps the
// REST rate limiter. Session output is written once per loop turn by the loop's
// ws::WriteBatch; after each flush the worker adds up the turn's deliveries and the
// fan-out latency of the events delivered in it.
#pragma once

#include <event2/event.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "chat/bus/bus.hpp"
#include "chat/config/config.hpp"
#include "chat/http/server.hpp"
#include "chat/net/listener.hpp"
#include "chat/obs/metrics.hpp"
#include "chat/proto/ops.hpp"
#include "chat/sys/daemon.hpp"
#include "chat/ws/server_connection.hpp"
#include "chat/ws/write_batch.hpp"
#include "gateway_metrics.hpp"
#include "resume_registry.hpp"
#include "store_admin.hpp"

namespace chat::gateway {

class Fanout;
class PresenceClient;
class Rest;
class Session;
class Worker;

// What every loop shares; read-only once the loops run, except the atomics.
struct Shared {
  Config config;
  obs::Registry* registry = nullptr;
  GatewayMetrics metrics;
  ResumeRegistry resumes;
  std::vector<Worker*> workers;
  std::string public_url;  // resume_gateway_url and /gateway's url
  std::atomic<bool> draining{false};
};

class Worker : public ws::ServerConnection::Listener {
 public:
  using GuildCallback = std::function<void(bus::Status, proto::GuildReply&)>;

  Worker(int index, Shared& shared);
  ~Worker() override;
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Creates the loop, connects to the bus and listens (on the calling thread). False
  // with `error` when any of that fails.
  bool open(std::string& error);
  void start_thread();
  void join();
  // Thread-safe: runs `fn` on this loop.
  void post(std::function<void()> fn);
  // Loop thread: runs `fn` on this loop in `ms` milliseconds (0: after this turn's
  // writes). False if the timer could not be set (fn is then dropped).
  bool later(int ms, std::function<void()> fn);
  // Thread-safe: RECONNECT every session, close them, stop accepting, exit the loop once
  // empty or at the deadline.
  void begin_drain(int deadline_ms);

  // ---- for sessions, fan-out and REST (loop thread only) ----
  int index() const { return index_; }
  event_base* base() const { return base_; }
  const Config& config() const { return shared_.config; }
  Shared& shared() { return shared_; }
  GatewayMetrics& metrics() { return shared_.metrics; }
  Fanout& fanout() { return *fanout_; }
  PresenceClient& presence() { return *presence_; }
  bus::Bus& bus() { return *bus_; }
  uint64_t now_ms() const;
  std::string& scratch() { return scratch_; }
  Session* find(uint64_t session_id);
  // Frees the session after the current callback (it may be on the stack).
  void retire(uint64_t session_id);
  // One request to guildd on the right shard; `done` runs on this loop.
  void guild_request(const proto::GuildRequest& request, GuildCallback done);
  uint64_t new_session_id();
  uint16_t port() const { return listener_ ? listener_->port() : 0; }
  int64_t queue_bytes() const { return queue_bytes_.load(std::memory_order_relaxed); }
  // A dispatch written to a session (summed into the metric after the turn's flush).
  void note_delivery() {
    ++turn_deliveries_;
    batch_->schedule();
  }
  // A bus event taken at `start` was fanned out: its latency is observed after the flush.
  void note_event(std::chrono::steady_clock::time_point start) {
    turn_events_.push_back(start);
    batch_->schedule();
  }
  ws::WriteBatch& write_batch() { return *batch_; }

  // ---- cross-loop RESUME (each runs on this loop, called through post()) ----
  void remote_resume(uint64_t session_id, Worker* proxy_worker, uint64_t proxy_id,
                     std::string token, uint32_t seq);
  void remote_payload(uint64_t session_id, uint64_t proxy_id, std::string payload);
  void remote_closed(uint64_t session_id, uint64_t proxy_id, uint16_t code);
  void proxy_send(uint64_t proxy_id, std::string text);
  void proxy_close(uint64_t proxy_id, uint16_t code);
  void proxy_refused(uint64_t proxy_id);
  // A RESUME's replay through proxy `proxy_id` (on this loop) waits for the proxy's
  // connection to take what was forwarded; then session `owner_sid` on `owner` goes on.
  void proxy_drained(uint64_t proxy_id, Worker* owner, uint64_t owner_sid);

 private:
  void on_message(ws::ServerConnection& conn, ws::Opcode opcode, std::string_view payload) override;
  void on_close(ws::ServerConnection& conn, uint16_t code, std::string_view reason) override;
  void on_request(http::Request& request, http::Responder responder);
  bool on_upgrade(http::Request& request, bufferevent* bev);
  void cron();
  void run_posted();
  void check_drained();
  void on_flushed();
  std::string not_ready_reason() const;

  int index_;
  Shared& shared_;
  event_base* base_ = nullptr;
  event* wake_ = nullptr;
  event* reap_ = nullptr;
  event* drain_timer_ = nullptr;
  std::unique_ptr<ws::WriteBatch> batch_;
  std::unique_ptr<bus::Bus> bus_;
  std::unique_ptr<net::Listener> listener_;
  std::unique_ptr<http::Server> server_;
  std::unique_ptr<Fanout> fanout_;
  std::unique_ptr<PresenceClient> presence_;
  std::unique_ptr<Rest> rest_;
  StoreAdmin store_admin_{*this};  // /api/v10/admin/store/*
  std::unique_ptr<sys::Timer> cron_;
  std::thread thread_;

  std::mutex post_mu_;
  std::vector<std::function<void()>> posted_;

  std::unordered_map<uint64_t, std::unique_ptr<Session>> sessions_;
  std::vector<std::unique_ptr<Session>> retired_;
  std::string scratch_;
  uint64_t drain_deadline_ms_ = 0;
  bool draining_ = false;
  uint64_t id_state_;
  std::atomic<int64_t> queue_bytes_{0};
  uint64_t turn_deliveries_ = 0;
  std::vector<std::chrono::steady_clock::time_point> turn_events_;
};

}  // namespace chat::gateway
