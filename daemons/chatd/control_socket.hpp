// chatd's control socket, for `chatctl status` and scripts: a Unix stream socket at
// <data_dir>/chatd.sock, mode 0600 (whoever may read the data directory's secrets may ask;
// nobody else). A socket file left by a chatd that died is replaced; one that still
// answers means another chatd owns this data_dir, and startup fails.
//
// Protocol (one request per connection, text lines, UTF-8):
//
//   client: "status\n"
//   chatd:  one JSON object per line per child, in start order, then closes:
//           {"name":"stored","pid":1234,"state":"running","restarts":0,"uptime_s":42}
//             name      "nats-server" (only when chatd spawns it), "stored", "guildd",
//                       "gatewayd"
//             pid       the process id, 0 when not running
//             state     "starting" (spawned, not ready yet) | "running" (ready) |
//                       "stopping" | "stopped" | "backoff" (failed, waiting to restart) |
//                       "failed" (will not be restarted)
//             restarts  times it was restarted after it failed, since chatd started
//                       (daemons restarted because nats-server failed, rest_for_one,
//                       get new pids but are not counted)
//             uptime_s  seconds since this pid became ready, 0 when not running or
//                       not ready yet
//
//   client: "stop\n"
//   chatd:  {"ok":true} and closes, then stops everything as on SIGTERM.
//
//   Anything else (an unknown command, a line over 256 bytes, nothing within 5 s) gets
//   {"error":"<reason>"} and the connection is closed. "\r\n" is accepted for "\n".
#pragma once

#include <list>
#include <string>

struct bufferevent;
struct sockaddr;
struct event_base;
struct evconnlistener;

namespace chat::chatd {

class ControlSocket {
 public:
  class Listener {
   public:
    virtual ~Listener() = default;
    // The answer to "status": newline-terminated JSON lines.
    virtual std::string status_lines() = 0;
    // "stop" was asked for (after the answer is queued).
    virtual void on_stop_request() = 0;
  };

  // Binds <data_path>/chatd.sock. Throws ConfigError when the path is too long for a
  // Unix socket, std::runtime_error when it cannot be bound or another chatd answers.
  ControlSocket(event_base* base, const std::string& data_path, Listener& listener);
  ~ControlSocket();
  ControlSocket(const ControlSocket&) = delete;
  ControlSocket& operator=(const ControlSocket&) = delete;

  const std::string& path() const { return path_; }

 private:
  struct Conn {
    ControlSocket* owner;
    bufferevent* bev;
    bool answered = false;
  };
  using ConnIt = std::list<Conn>::iterator;

  static void accept_cb(evconnlistener*, int fd, struct sockaddr*, int, void* arg);
  static void read_cb(bufferevent* bev, void* arg);
  static void write_cb(bufferevent* bev, void* arg);
  static void event_cb(bufferevent* bev, short what, void* arg);
  void handle(Conn& conn, const std::string& command);
  void answer(Conn& conn, const std::string& text);
  void close_conn(Conn* conn);

  event_base* base_;
  Listener& listener_;
  std::string path_;
  evconnlistener* evl_ = nullptr;
  std::list<Conn> conns_;
};

}  // namespace chat::chatd
