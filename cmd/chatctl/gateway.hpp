// A gateway session for `tail -f`: connects the WebSocket, answers HELLO with IDENTIFY,
// heartbeats (a missing ACK means a zombie connection: drop it), and hands READY and the
// dispatches to a Listener. When the connection is lost, for any reason but a fatal close
// code (4004 authentication failed, 4010-4014 bad shard/version/intents), it tells the
// Listener and reconnects by itself with exponential backoff and jitter (250 ms doubling
// to 30 s, reset by a READY). It always IDENTIFYs afresh: the follower fills the gap over
// REST, which also covers a session that outlived the server's resume window.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "chat/ws/client_connection.hpp"

struct event;
struct event_base;

namespace chat::ctl {

class GatewayFeed : public ws::ClientConnection::Listener {
 public:
  class Listener {
   public:
    virtual ~Listener() = default;
    // A new session is ready; dispatches for it follow.
    virtual void on_ready(const nlohmann::json& d) = 0;
    // Any other dispatch ("MESSAGE_CREATE", "GUILD_CREATE", ...).
    virtual void on_dispatch(const std::string& type, const nlohmann::json& d) = 0;
    // The connection is gone; a reconnect is already scheduled.
    virtual void on_lost(const std::string& why) = 0;
    // The server refused us for good (exit code and reason); nothing is scheduled.
    virtual void on_fatal(int exit_code, const std::string& why) = 0;
    // After stop(): the closing handshake is over (or there was no connection).
    virtual void on_stopped() {}
  };

  // GUILDS | GUILD_MESSAGES | DIRECT_MESSAGES | MESSAGE_CONTENT
  static constexpr int kIntents = 1 | 512 | 4096 | 32768;

  GatewayFeed(event_base* base, std::string url, std::string token, Listener& listener);
  ~GatewayFeed();
  GatewayFeed(const GatewayFeed&) = delete;
  GatewayFeed& operator=(const GatewayFeed&) = delete;

  void start();
  // Drops the connection (as if lost) and reconnects after the backoff.
  void reconnect_later(const std::string& why);
  // Closes with 1000 (ending the session on the server) and schedules nothing;
  // on_stopped() follows once the close handshake is done.
  void stop();

 private:
  void on_open(ws::ClientConnection& conn) override;
  void on_message(ws::ClientConnection& conn, ws::Opcode opcode, std::string_view payload) override;
  void on_close(ws::ClientConnection& conn, uint16_t code, std::string_view reason) override;

  void connect();
  void lost(const std::string& why);
  void send_heartbeat();
  void arm_timer(event* ev, long ms);
  static void on_timer(int, short, void* arg);
  static void on_retry(int, short, void* arg);

  event_base* base_;
  std::string url_, token_;
  Listener& listener_;
  std::unique_ptr<ws::ClientConnection> conn_;
  event* heartbeat_ = nullptr;  // HELLO deadline before HELLO, the heartbeat after
  event* retry_ = nullptr;      // reconnect after backoff
  bool hello_seen_ = false;
  bool acked_ = true;
  long interval_ms_ = 41250;
  long long seq_ = -1;  // last dispatch sequence, -1 before the first
  int attempt_ = 0;     // failed connects since the last READY
  bool stopped_ = false;
  std::minstd_rand rng_;
};

}  // namespace chat::ctl
