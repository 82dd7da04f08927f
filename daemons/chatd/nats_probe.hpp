// Readiness of nats-server, which does not speak sd_notify: it is ready once a TCP
// connection to the bus port succeeds and the server sends its first protocol line,
// "INFO {...}". Tried every 50 ms on the event loop (never a blocking connect), until it
// works or stop() is called; the overall deadline is the child's ready timer.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "chat/config/config.hpp"

struct bufferevent;
struct event;
struct event_base;

namespace chat::chatd {

// Host and port of the first server in nats.url ("nats://[user:pass@]host:port[,...]").
// Throws ConfigError naming nats.url.
HostPort nats_host_port(const std::string& url);

class NatsProbe {
 public:
  NatsProbe(event_base* base, std::function<void()> on_ready);
  ~NatsProbe();
  NatsProbe(const NatsProbe&) = delete;
  NatsProbe& operator=(const NatsProbe&) = delete;

  void start(const HostPort& where);
  void stop();

 private:
  static void retry_cb(int, short, void* arg);
  static void read_cb(bufferevent* bev, void* arg);
  static void event_cb(bufferevent* bev, short what, void* arg);
  void attempt();
  void close_attempt();
  void schedule_retry();

  event_base* base_;
  std::function<void()> on_ready_;
  event* retry_ = nullptr;
  bufferevent* bev_ = nullptr;
  HostPort where_;
  bool active_ = false;
};

}  // namespace chat::chatd
