// The bus: one NATS connection (libnats) serving one thread's libevent loop.
//
// libnats reads the socket, flushes publishes and calls message handlers on threads of its
// own; Bus hands every message to the owning loop through one queue and one wake-up
// (ARCHITECTURE.md "Threads"): handlers given to subscribe() and request() always run on
// the loop thread, so daemon state needs no locks. Publishing is done from the loop thread.
//
// The socket is not attached to the loop (natsOptions_SetEventLoop), though that was the
// first design: in that mode libnats 3.4.1 keeps its protocol parser's state across a
// reconnect, so a message cut by a dropped connection was completed with the new
// connection's bytes (one garbled message, and the messages swallowed into it lost
// without a word; tests/unit/bus/reconnect_test.cpp), and its libevent adapter could
// deadlock the loop on a reconnect (the reconnect thread freeing a socket event whose
// callback, on the loop, waited for the connection's lock). Its own read thread starts
// every connection with a fresh parser.
//
// Requests use one wildcard inbox subscription per connection; each request has a token,
// a timeout timer on the loop, and fails fast with Status::no_responders when nobody
// listens on the subject (nats-server's no-responders status message).
#pragma once

#include <event2/event.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace chat::bus {

// Call once per process, before any event_base is created: makes libevent thread-aware
// (libnats touches the loop's events from its own threads) and initialises libnats.
void global_init();

enum class Status {
  ok,
  timeout,        // no reply within the deadline
  no_responders,  // nobody subscribes to the subject (e.g. the daemon is down)
  disconnected,   // the connection to the bus is down
  error,
};
const char* to_string(Status s);

struct Message {
  std::string subject;
  std::string reply;  // empty unless the sender expects an answer
  std::string data;
};

class Bus {
 public:
  using Handler = std::function<void(Message&)>;
  using ReplyHandler = std::function<void(Status, Message&)>;

  // Connects to `url` (comma-separated for a cluster). Keeps reconnecting for ever after a
  // loss; the first connection is retried for up to `connect_timeout_ms`. Returns nullptr
  // and sets `error` when the bus cannot be reached. `name` shows in the server's connz.
  static std::unique_ptr<Bus> connect(event_base* base, const std::string& url,
                                      const std::string& name, std::string& error,
                                      int connect_timeout_ms = 5000);
  ~Bus();
  Bus(const Bus&) = delete;
  Bus& operator=(const Bus&) = delete;

  // Handler runs on the loop thread. A non-empty queue group load-balances between
  // subscribers of the same group. Returns an id for unsubscribe(), 0 on failure.
  uint64_t subscribe(const std::string& subject, Handler handler, const std::string& queue = {});
  void unsubscribe(uint64_t id);

  bool publish(const std::string& subject, std::string_view data);
  // Answers a request received by a subscription handler (no-op when no reply is expected).
  bool respond(const Message& request, std::string_view data);
  // Sends a request; `done` runs once on the loop thread with the reply or a failure.
  void request(const std::string& subject, std::string_view data, int timeout_ms,
               ReplyHandler done);

  bool connected() const;

  struct Impl;

 private:
  explicit Bus(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace chat::bus
