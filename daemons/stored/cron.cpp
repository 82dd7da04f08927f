// See cron.hpp.
#include "cron.hpp"

#include <rocksdb/db.h>

#include "admin_service.hpp"
#include "chat/obs/log.hpp"
#include "chat/sys/notify.hpp"

namespace chat::stored {

Cron::Cron(event_base* base, store::Engine& engine, AdminService& admin)
    : engine_(engine), admin_(admin), timer_(base, kCronIntervalMs, [this] { run(); }) {}

void Cron::run() {
  ++ticks_;
  const uint64_t uptime_ms = ticks_ * kCronIntervalMs;

  // 1. watchdog
  sys::notify_watchdog();

  // 2. retention
  if (uptime_ms >= next_retention_ms_) {
    next_retention_ms_ = uptime_ms + kRetentionIntervalMs;
    admin_.schedule_retention_sweep();
  }

  // 3. stalls
  rocksdb::DB* db = engine_.db();
  if (!db) return;
  uint64_t stopped = 0, delayed_rate = 0;
  db->GetIntProperty(engine_.messages_cf(), "rocksdb.is-write-stopped", &stopped);
  db->GetIntProperty(engine_.messages_cf(), "rocksdb.actual-delayed-write-rate", &delayed_rate);
  bool stalled = stopped != 0 || delayed_rate != 0;
  if (stalled != stalled_) {
    stalled_ = stalled;
    if (stalled)
      log::warn("store", "writes stalled by RocksDB",
                {{"stopped", stopped != 0}, {"delayed_write_rate", delayed_rate}});
    else
      log::notice("store", "write stall over");
  }
}

}  // namespace chat::stored
