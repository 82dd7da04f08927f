// guildd's side of the chat.store.<shard> conversation with stored: packs a StoreRequest,
// sends it with the configured deadline, and hands back one StoreResult on the loop
// thread. Bus failures (nobody listening, timeout, bus down) and undecodable replies
// become a failed result with the HTTP status the client should see (503: try again),
// so callers never mistake "no answer" for "stored confirmed".
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "chat/bus/bus.hpp"
#include "chat/proto/ops.hpp"

namespace chat::guildd {

struct StoreResult {
  bool ok = false;           // stored answered 200
  bool unavailable = false;  // no answer from stored (retry later)
  int status = 503;          // stored's status, or 503 when unavailable
  std::string error;         // why, for logs and the client's message
  proto::StoreReply reply;
};

class StoreClient {
 public:
  using Done = std::function<void(StoreResult&)>;

  StoreClient(bus::Bus& bus, int shards, int timeout_ms)
      : bus_(bus), shards_(shards), timeout_ms_(timeout_ms) {}

  // Message ops go to the channel's shard; directory ops to shard 0.
  void call_for_channel(uint64_t channel_id, const proto::StoreRequest& req, Done done);
  void call_directory(const proto::StoreRequest& req, Done done);
  void set_timeout_ms(int ms) { timeout_ms_ = ms; }

 private:
  void call(const std::string& subject, const proto::StoreRequest& req, Done done);

  bus::Bus& bus_;
  int shards_;
  int timeout_ms_;
};

}  // namespace chat::guildd
