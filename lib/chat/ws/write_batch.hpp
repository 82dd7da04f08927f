// Per-loop write batching for server WebSocket connections. A connection that has a
// WriteBatch queues its frames in its output buffer with the write event off (so
// queuing costs no epoll_ctl) and is put on the batch's pending list; once per loop turn
// (an event activated by the first queued frame, run after the callbacks already active,
// e.g. a whole fan-out) every pending connection is written with one writev. Only a
// connection whose socket did not take everything gets its write event armed, and it is
// disarmed again when it has drained. So a fan-out of one event to N
// connections costs about N writev calls and no epoll_ctl, and several frames queued for
// one connection in a turn go out in one writev.
//
// One batch per event_base, used on that loop's thread only. It must outlive its
// connections, or be destroyed first (it then detaches them and they write directly).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

struct event;
struct event_base;

namespace chat::ws {

class ServerConnection;

class WriteBatch {
 public:
  explicit WriteBatch(event_base* base);
  ~WriteBatch();
  WriteBatch(const WriteBatch&) = delete;
  WriteBatch& operator=(const WriteBatch&) = delete;

  // Runs after every flush (the loop turn's writes are done), e.g. for latency metrics.
  void set_on_flushed(std::function<void()> fn) { on_flushed_ = std::move(fn); }
  // Makes sure a flush runs this turn even if nothing is queued (on_flushed still runs).
  void schedule();
  // Writes every pending connection now.
  void flush();
  size_t pending() const { return pending_.size(); }  // may count removed slots
  // Totals since creation, for tests and metrics.
  uint64_t writes() const { return writes_; }  // writev calls made by flush()
  uint64_t armed() const { return armed_; }    // times a write event had to be armed

 private:
  friend class ServerConnection;
  void add(ServerConnection* c);
  void remove(ServerConnection* c);

  event* ev_ = nullptr;
  std::vector<ServerConnection*> pending_;  // null slots: removed since queued
  std::function<void()> on_flushed_;
  bool scheduled_ = false;
  uint64_t writes_ = 0;
  uint64_t armed_ = 0;
};

}  // namespace chat::ws
