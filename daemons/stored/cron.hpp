// stored's cron: the daemon's one periodic function (as Redis's serverCron), run every
// kCronIntervalMs on the loop thread. Every duty it has, in the order it does them:
//
//   1. watchdog   WATCHDOG=1 to chatd or systemd: the loop is turning.
//   2. retention  every kRetentionIntervalMs (the first kFirstRetentionMs after start),
//                 queue a retention sweep on the slow worker unless one is queued or
//                 running (store/retention.hpp; the sweep itself runs off the loop).
//   3. stalls     read RocksDB's is-write-stopped and actual-delayed-write-rate; log once
//                 when writes start being stopped or slowed and once when they recover,
//                 so an operator sees stalls in the log, not only in `store stats`.
//
// Each duty is cheap on the loop: a few property reads and, at most, one job posted.
#pragma once

#include <event2/event.h>

#include <cstdint>

#include "chat/store/engine.hpp"
#include "chat/sys/daemon.hpp"

namespace chat::stored {

class AdminService;

inline constexpr int kCronIntervalMs = 1000;
inline constexpr uint64_t kRetentionIntervalMs = 60000;
inline constexpr uint64_t kFirstRetentionMs = 5000;

class Cron {
 public:
  Cron(event_base* base, store::Engine& engine, AdminService& admin);

 private:
  void run();

  store::Engine& engine_;
  AdminService& admin_;
  uint64_t ticks_ = 0;
  uint64_t next_retention_ms_ = kFirstRetentionMs;
  bool stalled_ = false;
  sys::Timer timer_;  // last: starts once the members above exist
};

}  // namespace chat::stored
