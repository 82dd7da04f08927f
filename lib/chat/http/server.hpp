// HTTP/1.1 server on one event_base. It adopts accepted fds (from net::Listener), reads
// requests with RequestParser, and calls an asynchronous handler for each; responses go
// out in request order even when handlers answer out of order (pipelining). Keep-alive by
// default, an idle timeout between requests, and an upgrade hook through which a
// WebSocket handler takes over a connection's bufferevent. One Server per loop thread;
// nothing here is thread-safe, by design.
#pragma once

#include <event2/util.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>

#include "chat/http/message.hpp"
#include "chat/http/request_parser.hpp"

struct event_base;
struct bufferevent;

namespace chat::http {

class Connection;

// A handle for answering one request, later if need be (after a bus round trip), from the
// same loop thread. Copyable; the first send() wins and later ones are ignored. If the
// connection has closed meanwhile, send() does nothing.
class Responder {
 public:
  Responder() = default;
  void send(Response response) const;
  // False once the connection is gone or this request was answered.
  bool pending() const;

 private:
  friend class Connection;
  Responder(std::weak_ptr<Connection> conn, uint64_t seq) : conn_(std::move(conn)), seq_(seq) {}
  std::weak_ptr<Connection> conn_;
  uint64_t seq_ = 0;
};

struct ServerOptions {
  ParserLimits limits;
  int idle_timeout_ms = 60000;  // no request starts within this: close quietly
  int read_timeout_ms = 30000;  // a started request must complete within this (408)
  size_t max_pipelined = 32;    // unanswered requests before we stop reading
  size_t max_output = 8 << 20;  // stop reading while this many bytes wait to be sent
};

class Server {
 public:
  using Handler = std::function<void(Request& request, Responder responder)>;
  // Called instead of Handler for a request with "Connection: upgrade" and an Upgrade
  // header, once every earlier request on the connection was answered. Return true to
  // take the bufferevent: its callbacks and timeouts are cleared, bytes after the request
  // are still in its input, and the caller now owns (and must eventually free) it; the
  // server forgets the connection. Return false to pass the request to Handler instead.
  using UpgradeHandler = std::function<bool(Request& request, bufferevent* bev)>;

  Server(event_base* base, Handler handler, ServerOptions options = {});
  ~Server();  // closes every connection it still owns
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void set_upgrade_handler(UpgradeHandler handler) { upgrade_ = std::move(handler); }
  // Takes ownership of an accepted socket (from net::Listener).
  void adopt(evutil_socket_t fd);
  // Closes connections that have no request in progress and makes the rest close after
  // their current response (for drain).
  void close_idle();

  size_t connection_count() const { return conns_.size(); }
  event_base* base() const { return base_; }
  const ServerOptions& options() const { return options_; }
  uint64_t requests_total() const { return requests_total_; }

 private:
  friend class Connection;
  void forget(Connection* conn);

  event_base* base_;
  Handler handler_;
  UpgradeHandler upgrade_;
  ServerOptions options_;
  uint64_t requests_total_ = 0;
  std::unordered_map<Connection*, std::shared_ptr<Connection>> conns_;
};

}  // namespace chat::http
