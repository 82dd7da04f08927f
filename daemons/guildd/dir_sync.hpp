// DirSync: keeps this guildd's in-memory directory equal to the other instances' when
// several guildd split the shards (guild.shard_range). Every instance holds the whole
// directory, but each directory write is sequenced and made durable by the one instance
// that got the request; DirSync publishes that write on chat.dir.changed (the records put
// and the keys deleted, proto/dir_ops.hpp) once stored confirmed it, and applies the
// writes the other instances publish.
//
// Start order matters: the subscription must be live at the server before the startup
// scan reads the directory, or a write landing between the two would be missed. start()
// confirms the subscription (a request to a private subject comes back only after the
// server processed our SUB) and only then calls `on_live`; events that arrive while the
// scan is still running are held and applied, in order, by release(). Applying a record
// the scan already saw is harmless (a put of the same value, a delete of a missing key).
//
// Limits: two instances writing the same record at once both succeed and the last event
// wins on each side, which may differ; names are checked for uniqueness by the instance
// that takes the write only. Such races need two admins acting within milliseconds.
#pragma once

#include <event2/event.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "chat/bus/bus.hpp"
#include "chat/bus/live_probe.hpp"
#include "chat/obs/metrics.hpp"
#include "chat/proto/dir_ops.hpp"
#include "directory.hpp"

namespace chat::guildd {

class DirSync {
 public:
  DirSync(bus::Bus& bus, Directory& dir, obs::Registry& metrics);

  // Subscribes to chat.dir.changed and holds events until release(); `on_live` runs once
  // the server has the subscription. False if subscribing failed.
  bool start(event_base* base, std::function<void()> on_live);
  // Applies the held events and from then on applies each as it comes; `on_applied` runs
  // after each applied event (gauges).
  void release(std::function<void()> on_applied);
  // Tells the other instances about a durable write of ours.
  void publish(const std::vector<proto::DirEntry>& puts, const std::vector<std::string>& dels);

  const std::string& origin() const { return origin_; }

 private:
  void on_event(bus::Message& m);
  void apply(const proto::DirChanged& e);

  bus::Bus& bus_;
  Directory& dir_;
  std::string origin_;  // random per process: our own events come back and are skipped
  bus::LiveProbe live_;
  std::function<void()> on_applied_;
  bool holding_ = true;
  std::vector<proto::DirChanged> held_;
  obs::Counter* published_;
  obs::Counter* applied_;
  obs::Counter* bad_;
};

}  // namespace chat::guildd
