// stored's operator interface: requests on chat.admin.stored (lib/chat/proto/admin_ops.hpp:
// stats, compact, backup, retention.run) and the retention sweeps the cron asks for.
//
// Nothing here runs on the loop but the decoding and the answer: `stats` runs on a "fast"
// worker, and compact, backup and retention sweeps on a "slow" one, so a long compaction
// never delays a stats request or the writes of the loop, and two slow jobs never overlap
// (a sweep and a compaction of the same range would only fight). A full queue answers 503.
// Malformed requests are logged and answered 400, as on chat.store.*.
#pragma once

#include <event2/event.h>

#include <atomic>
#include <string>

#include "chat/bus/bus.hpp"
#include "chat/obs/metrics.hpp"
#include "chat/proto/admin_ops.hpp"
#include "chat/store/engine.hpp"
#include "worker.hpp"

namespace chat::stored {

// Decodes a chat.admin.* body with bounded sizes; false with a reason on truncated or
// mistyped msgpack and on a newer version.
bool decode_admin_request(std::string_view bytes, proto::AdminRequest& out, std::string& error);

class AdminService {
 public:
  AdminService(event_base* base, bus::Bus& bus, store::Engine& engine, obs::Registry& registry,
               std::string backups_dir);
  AdminService(const AdminService&) = delete;
  AdminService& operator=(const AdminService&) = delete;

  bool start();  // subscribes to chat.admin.stored; false (logged) on failure
  // Unsubscribes, cancels a running compaction, and joins the workers. Must run before
  // the engine is closed.
  void stop();
  // Queues a retention sweep on the slow worker unless one is queued or running.
  void schedule_retention_sweep();

 private:
  void on_request(bus::Message& m);
  void answer(const std::string& reply_subject, const proto::AdminReply& reply);
  void run(Worker& worker, const std::string& reply_subject, const std::string& op,
           std::function<store::Status(std::string& text)> job);

  bus::Bus& bus_;
  store::Engine& engine_;
  std::string backups_dir_;
  Worker fast_;
  Worker slow_;
  uint64_t sub_ = 0;
  bool sweep_queued_ = false;
  obs::Counter& requests_;
  obs::Counter& bad_;
  obs::Counter& retention_messages_;
  obs::Counter& retention_buckets_;
  obs::Counter& retention_runs_;
};

}  // namespace chat::stored
