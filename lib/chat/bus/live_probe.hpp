// LiveProbe: tells a daemon when the subscriptions it just sent are in force at the server.
//
// nats-server handles one connection's protocol in order, so once a request to a private
// subject of ours comes back, every SUB sent before it has been processed. start()
// subscribes such a subject (it answers "ok"), asks it with a 2 s deadline and, until one
// answer arrives, logs a warning and asks again 250 ms later (a failed publish answers at
// once: no tight loop). On the first answer it unsubscribes the probe and calls `ready`
// once, on the loop thread. Daemons send READY=1 (or start their scan) from `ready`, so
// they never claim readiness before requests can reach them.
//
// cancel() stops asking, unsubscribes and drops `ready`. Destroying the probe stops it too
// but touches neither the bus nor the loop, so it may be destroyed after either is gone.
#pragma once

#include <event2/event.h>

#include <functional>
#include <memory>
#include <string>

#include "chat/bus/bus.hpp"

namespace chat::bus {

class LiveProbe {
 public:
  LiveProbe() = default;
  ~LiveProbe();
  LiveProbe(const LiveProbe&) = delete;
  LiveProbe& operator=(const LiveProbe&) = delete;

  // `tag` and `waiting` are the log tag and message of the retry warning. False when the
  // probe subject cannot be subscribed (`ready` is then never called).
  bool start(event_base* base, Bus& bus, std::string subject, std::string tag, std::string waiting,
             std::function<void()> ready);
  // Stops asking, unsubscribes the probe subject; `ready` will not run.
  void cancel();
  // Whether the server confirmed the subscriptions.
  bool live() const;

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace chat::bus
