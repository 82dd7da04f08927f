// stored: the storage daemon (ARCHITECTURE.md "Storage"). Wiring only: config, the
// RocksDB engine under <data_dir>/store, the bus service on chat.store.<shard>, the
// operator service on chat.admin.stored (backups under <data_dir>/backups), the
// health/metrics endpoint on store.listen, signals and the cron (cron.hpp).
//
// Exit codes: 0 after a clean stop; 64/78 for a bad command line or chat.toml; 78 when
// store.bucket_days disagrees with the data; 70 when the data has a newer schema; 69 when
// the database, the bus or the listen address cannot be had.
#include <event2/event.h>
#include <rocksdb/db.h>

#include <memory>

#include "admin_service.hpp"
#include "chat/bus/bus.hpp"
#include "chat/http/admin_endpoint.hpp"
#include "chat/obs/log.hpp"
#include "chat/obs/metrics.hpp"
#include "chat/store/engine.hpp"
#include "chat/sys/daemon.hpp"
#include "chat/sys/notify.hpp"
#include "cron.hpp"
#include "service.hpp"

using namespace chat;

namespace {

int exit_code_for(const store::Status& s) {
  switch (s.code()) {
    case store::Status::Code::config_mismatch:
      return sys::kExitConfig;
    case store::Status::Code::incompatible:
      return sys::kExitSoftware;
    default:
      return sys::kExitUnavailable;
  }
}

}  // namespace

int main(int argc, char** argv) {
  sys::DaemonArgs args;
  Config cfg = sys::daemon_startup("stored", "chat storage daemon (RocksDB behind the bus)", argc,
                                   argv, &args);
  bus::global_init();
  // Owned, so that the early returns below free it too (LeakSanitizer counts it).
  std::unique_ptr<event_base, decltype(&event_base_free)> base_owner(event_base_new(),
                                                                     &event_base_free);
  event_base* base = base_owner.get();

  store::EngineOptions eo;
  eo.path = cfg.data_path() + "/store";
  eo.bucket_ms = static_cast<uint64_t>(cfg.store.bucket_days) * store::kMsPerDay;
  eo.block_cache_mb = static_cast<size_t>(cfg.store.block_cache_mb);
  std::unique_ptr<store::Engine> engine;
  if (store::Status s = store::Engine::open(eo, engine); !s.is_ok()) {
    log::err("store", "cannot open the database", {{"path", eo.path}, {"error", s.message()}});
    return exit_code_for(s);
  }
  log::notice("store", "database open", {{"path", eo.path}, {"bucket_ms", eo.bucket_ms}});

  obs::Registry registry;
  std::string error;
  std::unique_ptr<bus::Bus> bus = bus::Bus::connect(base, cfg.nats.url, "stored", error);
  if (!bus) {
    log::err("store", "cannot reach the bus", {{"url", cfg.nats.url}, {"error", error}});
    return sys::kExitUnavailable;
  }
  auto service =
      std::make_unique<stored::Service>(base, *bus, *engine, registry, cfg.store.sync == "batch");
  bool stopping = false;
  auto admin = http::start_admin_http(base, cfg.store.listen, registry, [&]() -> std::string {
    if (stopping) return "stopping";
    return service->not_ready_reason();
  });
  if (!admin.endpoint) {
    log::err("store", "cannot listen", {{"listen", cfg.store.listen}, {"error", admin.error}});
    return sys::kExitUnavailable;
  }
  registry.gauge_fn("chat_stored_resident_bytes", "Resident set size",
                    [] { return static_cast<double>(obs::rss_bytes()); });
  store::Engine* eng = engine.get();
  auto rocks_gauge = [eng](const char* property) {
    return [eng, property]() -> double {
      uint64_t v = 0;
      if (eng->db()) eng->db()->GetIntProperty(eng->messages_cf(), property, &v);
      return static_cast<double>(v);
    };
  };
  registry.gauge_fn("chat_stored_live_sst_bytes", "Live SST bytes of the messages column family",
                    rocks_gauge("rocksdb.live-sst-files-size"));
  registry.gauge_fn("chat_stored_pending_compaction_bytes",
                    "RocksDB's estimate of the bytes compaction still has to rewrite",
                    rocks_gauge("rocksdb.estimate-pending-compaction-bytes"));
  auto admin_service = std::make_unique<stored::AdminService>(base, *bus, *engine, registry,
                                                              cfg.data_path() + "/backups");
  if (!admin_service->start()) return sys::kExitUnavailable;
  // READY=1 once the server has our subscriptions (see Service::start).
  ShardRange range = cfg.store_shards();
  bool started = service->start(range.first, range.last, [&] {
    sys::notify_ready();
    log::notice("store", "ready",
                {{"listen", cfg.store.listen},
                 {"shards", cfg.shards},
                 {"shard_first", range.first},
                 {"shard_last", range.last},
                 {"sync", cfg.store.sync}});
  });
  if (!started) return sys::kExitUnavailable;

  {  // the signal events and the cron must go before the loop is freed
    sys::Signals signals(
        base,
        [&] {
          if (stopping) return;
          stopping = true;
          sys::notify_stopping();
          log::notice("store", "stopping");
          service->stop();        // no new requests; commit and answer what is staged
          admin_service->stop();  // cancel a compaction, join the workers
          if (store::Status s = engine->close(); !s.is_ok())
            log::err("store", "close failed", {{"error", s.message()}});
          event_base_loopbreak(base);
        },
        [&] {
          sys::notify_reloading();
          try {
            Config next = sys::reload_config(args);
            if (next.store.bucket_days != cfg.store.bucket_days)
              log::warn("store", "store.bucket_days is fixed once data exists; keeping it",
                        {{"bucket_days", cfg.store.bucket_days}});
            service->set_sync(next.store.sync == "batch");
            cfg.store.sync = next.store.sync;
            log::notice("store", "reloaded", {{"sync", cfg.store.sync}});
          } catch (const ConfigError& e) {
            log::err("store", "reload failed, keeping the old config", {{"error", e.what()}});
          }
          sys::notify_ready();
        });
    auto cron = std::make_unique<stored::Cron>(base, *engine, *admin_service);

    event_base_dispatch(base);
  }

  service.reset();
  admin_service.reset();
  bus.reset();
  admin.endpoint.reset();
  engine.reset();
  base_owner.reset();
  log::notice("store", "stopped");
  return sys::kExitOk;
}
