// Group commit (ARCHITECTURE.md "Storage", "Durability"): every write request that arrives
// during one loop turn is staged into the engine's one batch, and its reply is held here.
// The first deferred reply of a turn activates a dedicated event; libevent runs it after
// the callback that is running now (the bus drains every queued message in one callback),
// so one commit — one WriteBatch, fsynced when store.sync = "batch" — covers the whole
// drain, and only then is each caller answered, with 500 if the write failed. Requests that
// arrive while the fsync runs queue up on the bus and form the next batch.
#pragma once

#include <event2/event.h>

#include <string>
#include <vector>

#include "chat/bus/bus.hpp"
#include "chat/obs/metrics.hpp"
#include "chat/proto/ops.hpp"
#include "chat/store/engine.hpp"

namespace chat::stored {

class GroupCommit {
 public:
  GroupCommit(event_base* base, store::Engine& engine, bus::Bus& bus, obs::Registry& registry,
              bool sync);
  ~GroupCommit();
  GroupCommit(const GroupCommit&) = delete;
  GroupCommit& operator=(const GroupCommit&) = delete;

  void set_sync(bool sync) { sync_ = sync; }
  bool sync() const { return sync_; }

  // Holds `reply` for `reply_subject` until the next commit, which it schedules.
  void defer(std::string reply_subject, proto::StoreReply reply);
  // Commits what is staged now and answers every held caller (also used at shutdown).
  void flush();
  size_t held() const { return held_.size(); }

 private:
  static void on_commit(evutil_socket_t, short, void* arg);

  struct Held {
    std::string reply_subject;
    proto::StoreReply reply;
  };
  store::Engine& engine_;
  bus::Bus& bus_;
  bool sync_;
  event* commit_ev_ = nullptr;
  bool scheduled_ = false;
  std::vector<Held> held_;
  obs::Counter& commits_;
  obs::Counter& commit_failures_;
  obs::Histogram& commit_seconds_;
  obs::Histogram& batch_size_;
};

}  // namespace chat::stored
