// TCP listening sockets on an event loop. A Listener owns one evconnlistener bound to
// host:port and hands each accepted, non-blocking fd to a callback; the callback owns the
// fd from then on. With reuse_port, several loops (threads) may each open their own
// Listener on the same port and the kernel spreads connections between them, which is
// how gatewayd runs one loop per core. Port 0 binds an ephemeral port; port() says which.
#pragma once

#include <event2/util.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

struct event_base;
struct evconnlistener;
struct event;
struct sockaddr;

namespace chat::net {

struct ListenOptions {
  bool reuse_port = false;  // SO_REUSEPORT: several listeners on one port
  int backlog = 1024;
  bool no_delay = true;  // TCP_NODELAY on accepted sockets (chat frames are small)
};

class Listener {
 public:
  // Called on the loop thread for every accepted connection. `fd` is non-blocking and
  // close-on-exec; the callee must close it or hand it on.
  using AcceptFn = std::function<void(evutil_socket_t fd, const sockaddr* peer, int peer_len)>;

  // Binds and listens. Returns nullptr and sets `error` on failure (never throws).
  static std::unique_ptr<Listener> open(event_base* base, const std::string& host, uint16_t port,
                                        AcceptFn on_accept, const ListenOptions& options,
                                        std::string& error);
  // Same, from "host:port" (config::parse_host_port syntax, "[::1]:80" for IPv6).
  static std::unique_ptr<Listener> open(event_base* base, const std::string& host_port,
                                        AcceptFn on_accept, const ListenOptions& options,
                                        std::string& error);

  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  uint16_t port() const;  // the bound port (useful after binding port 0)
  evutil_socket_t fd() const;
  void enable();   // resume accepting
  void disable();  // stop accepting (drain, lame duck); the socket stays bound

 private:
  Listener() = default;
  static void accept_cb(evconnlistener*, evutil_socket_t fd, sockaddr* addr, int len, void* arg);
  static void error_cb(evconnlistener*, void* arg);
  static void resume_cb(evutil_socket_t, short, void* arg);
  evconnlistener* listener_ = nullptr;
  event* resume_timer_ = nullptr;  // re-enables accepting after EMFILE and the like
  AcceptFn on_accept_;
  bool no_delay_ = true;
  bool enabled_ = true;
};

// The local port a socket is bound to, 0 on error.
uint16_t bound_port(evutil_socket_t fd);

// "1.2.3.4:5678" or "[::1]:5678" for a socket address; "" if not IP.
std::string format_address(const sockaddr* addr);

}  // namespace chat::net
