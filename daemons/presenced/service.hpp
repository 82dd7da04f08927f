// presenced's bus side: subscribes to chat.presence.<shard> (every shard), chat.lease.*
// and its own resync inbox; decodes each message (a bad one is logged and, when it asked
// for an answer, answered with status 400), feeds PresenceState, answers the queries, and
// publishes what the state's tick hands over: PRESENCE_UPDATE events on
// chat.evt.guild.<g> and chat.evt.presence.<u>, and resync requests on chat.presence.sync.
// On start it confirms its subscriptions with the server, then asks every gateway node
// for its sessions (the restart path: see presence_state.hpp on the sync window).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "chat/bus/bus.hpp"
#include "chat/config/config.hpp"
#include "chat/obs/metrics.hpp"
#include "chat/proto/presence_ops.hpp"
#include "presence_state.hpp"

namespace chat::presenced {

PresenceSettings settings_from(const Config& cfg);

class Service : public Sink {
 public:
  Service(bus::Bus& bus, const Config& cfg, obs::Registry& registry);

  // Subscribes; `on_live` runs once the server has the subscriptions and the resync
  // request is out. False when a subscription fails.
  bool start(std::function<void()> on_live);
  // The cron: leases, coalescing, guild batches.
  void tick();
  void reload(const Config& cfg);
  void stop();
  bool serving() const { return serving_; }
  PresenceState& state() { return state_; }

  // Sink
  void guild_update(uint64_t guild_id, std::vector<proto::PresenceRecord> records) override;
  void user_update(const proto::PresenceRecord& record) override;
  void request_sync(const std::string& node) override;
  void node_expired(const std::string& node, size_t sessions) override;

 private:
  void on_request(bus::Message& m);
  void on_lease(bus::Message& m);
  void answer(const bus::Message& m, const proto::PresenceReply& reply);
  void query(const bus::Message& m, const proto::PresenceRequest& req);
  void probe();
  uint64_t now() const;

  bus::Bus& bus_;
  ShardRange shards_;  // chat.presence.<shard> served here (presence.shard_range)
  PresenceState state_;
  std::vector<uint64_t> subs_;
  std::string inbox_;  // where nodes send resync chunks
  std::string probe_subject_;
  uint64_t sync_counter_ = 0;
  // Per node, sessions of a resync in progress left out as outside our shard range.
  std::unordered_map<std::string, uint64_t> sync_foreign_;
  bool serving_ = false;
  std::function<void()> on_live_;
  obs::Counter* bad_messages_;
  obs::Counter* published_events_;
  obs::Counter* published_records_;
  obs::Counter* queries_;
};

}  // namespace chat::presenced
