// stored's bus service: subscribes to chat.store.<shard> for every shard (queue group
// "stored", so several instances share the load), decodes each StoreRequest, runs it
// through the RequestHandler and answers — reads at once, writes after the group commit.
// Malformed requests are logged at warning and answered 400; nothing from the bus can
// stop the daemon. stop() is the drain: unsubscribe (no new work), commit what is staged,
// answer those callers.
#pragma once

#include <event2/event.h>

#include <functional>
#include <string>
#include <vector>

#include "chat/bus/bus.hpp"
#include "chat/bus/live_probe.hpp"
#include "chat/obs/metrics.hpp"
#include "chat/store/engine.hpp"
#include "chat/store/request_handler.hpp"
#include "group_commit.hpp"

namespace chat::stored {

class Service {
 public:
  Service(event_base* base, bus::Bus& bus, store::Engine& engine, obs::Registry& registry,
          bool sync);
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  // Subscribes to chat.store.<first..last> (store.shard_range) in queue group "stored";
  // false (logged) when one subscription failed.
  // `on_live` runs once the server has registered the subscriptions: a request to a
  // private subject of ours comes back only after the server processed every SUB we sent
  // before it (one connection is processed in order), so READY=1 is never early.
  bool start(int first_shard, int last_shard, std::function<void()> on_live);
  void stop();
  void set_sync(bool sync) { commit_.set_sync(sync); }
  // Empty when serving; otherwise why not (for /readyz).
  std::string not_ready_reason() const;

 private:
  void on_request(bus::Message& m);
  void answer(const bus::Message& m, const proto::StoreReply& reply);

  event_base* base_;
  bus::Bus& bus_;
  store::RequestHandler handler_;
  GroupCommit commit_;
  std::vector<uint64_t> subs_;
  bus::LiveProbe live_;
  bool serving_ = false;
  obs::Counter& writes_;
  obs::Counter& reads_;
  obs::Counter& bad_;
  obs::Counter& errors_;
};

}  // namespace chat::stored
