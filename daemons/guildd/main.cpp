// guildd: the directory and sequencer daemon. Wiring only: config, bus, the stored
// client, the directory, the directory feed from other guildd instances (DirSync: live
// before the load), startup (load + admin bootstrap), the request service on
// guild.shard_range, the health/metrics endpoint, and the signals (SIGTERM drains,
// SIGHUP reloads).
#include <event2/event.h>

#include <chrono>
#include <memory>

#include "chat/bus/bus.hpp"
#include "chat/http/admin_endpoint.hpp"
#include "chat/obs/log.hpp"
#include "chat/obs/metrics.hpp"
#include "chat/proto/snowflake.hpp"
#include "chat/sys/daemon.hpp"
#include "chat/sys/notify.hpp"
#include "dir_sync.hpp"
#include "directory.hpp"
#include "service.hpp"
#include "startup.hpp"
#include "store_client.hpp"

namespace {

using namespace chat;

enum class State { loading, serving, draining };

constexpr int kDrainPollMs = 20;
constexpr int kDrainSlackMs = 1000;  // beyond the stored deadline, for answers to go out

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

}  // namespace

int main(int argc, char** argv) {
  sys::DaemonArgs args;
  Config cfg =
      sys::daemon_startup("guildd", "chat directory and sequencer daemon", argc, argv, &args);
  bus::global_init();
  event_base* base = event_base_new();
  if (!base) {
    log::err("guild", "cannot create the event loop");
    return sys::kExitSoftware;
  }
  // Freed last, after every object below that holds events on it (signals, startup).
  std::unique_ptr<event_base, decltype(&event_base_free)> base_owner(base, &event_base_free);

  std::string error;
  std::unique_ptr<bus::Bus> bus = bus::Bus::connect(base, cfg.nats.url, "guildd", error);
  if (!bus) {
    log::err("guild", "cannot connect to the bus", {{"error", error}});
    return sys::kExitUnavailable;
  }

  obs::Registry metrics;
  guildd::Directory dir;
  SnowflakeGenerator ids(static_cast<unsigned>(cfg.guild.worker),
                         static_cast<unsigned>(cfg.guild.process));
  guildd::StoreClient store(*bus, cfg.shards, cfg.guild.request_timeout_ms);
  guildd::DirSync sync(*bus, dir, metrics);
  ShardRange range = cfg.guild_shards();
  guildd::Service service(*bus, store, dir, sync, ids, metrics, range);

  State state = State::loading;
  int exit_code = sys::kExitOk;
  http::AdminStart admin =
      http::start_admin_http(base, cfg.guild.listen, metrics, [&]() -> std::string {
        if (state == State::loading) return "loading directory";
        if (state == State::draining) return "stopping";
        if (!bus->connected()) return "bus disconnected";
        return {};
      });
  if (!admin.endpoint) {
    log::err("guild", "cannot serve health",
             {{"listen", cfg.guild.listen}, {"error", admin.error}});
    return sys::kExitUnavailable;
  }

  guildd::Startup startup(base, store, dir, sync, ids, cfg.data_path(), range.contains(0),
                          [&](bool ok, const std::string& why) {
                            if (state != State::loading) return;
                            if (!ok) {
                              log::err("guild", "startup failed", {{"error", why}});
                              exit_code = sys::kExitUnavailable;
                              event_base_loopbreak(base);
                              return;
                            }
                            sync.release([&] { service.update_gauges(); });
                            bool subscribed = service.start(base, [&] {
                              if (state != State::loading) return;
                              state = State::serving;
                              sys::notify_ready();
                              log::notice("guild", "ready",
                                          {{"shards", cfg.shards},
                                           {"shard_first", range.first},
                                           {"shard_last", range.last},
                                           {"listen", cfg.guild.listen},
                                           {"origin", sync.origin()}});
                            });
                            if (!subscribed) {
                              log::err("guild", "cannot subscribe to requests");
                              exit_code = sys::kExitUnavailable;
                              event_base_loopbreak(base);
                            }
                          });

  // SIGTERM: refuse new requests, let in-flight ones finish (each is bounded by the stored
  // deadline), then leave the loop.
  std::unique_ptr<sys::Timer> drain;
  int64_t drain_deadline = 0;
  bool idle_once = false;  // one more poll after the last answer, so the loop sends it
  auto on_stop = [&] {
    if (state == State::draining) return;
    bool was_loading = state == State::loading;
    state = State::draining;
    sys::notify_stopping();
    service.stop_taking();
    log::notice("guild", "stopping", {{"in_flight", service.in_flight()}});
    if (was_loading) {
      event_base_loopbreak(base);
      return;
    }
    drain_deadline = now_ms() + cfg.guild.request_timeout_ms + kDrainSlackMs;
    drain = std::make_unique<sys::Timer>(base, kDrainPollMs, [&] {
      bool idle = service.in_flight() == 0;
      if ((idle && idle_once) || now_ms() >= drain_deadline) {
        if (!idle)
          log::warn("guild", "drain deadline passed", {{"in_flight", service.in_flight()}});
        event_base_loopbreak(base);
      }
      idle_once = idle;
    });
  };
  auto on_reload = [&] {
    sys::notify_reloading();
    try {
      Config fresh = sys::reload_config(args);
      store.set_timeout_ms(fresh.guild.request_timeout_ms);
      cfg.guild.request_timeout_ms = fresh.guild.request_timeout_ms;
      log::notice("guild", "config reloaded",
                  {{"note", "listen, shards, shard_range and snowflake ids apply at restart"}});
    } catch (const ConfigError& e) {
      log::warn("guild", "reload failed; keeping the old config", {{"error", e.what()}});
    }
    sys::notify_ready();
  };
  sys::Signals signals(base, on_stop, on_reload);

  // The directory feed first: a write another instance makes during our load is held,
  // then applied after it.
  if (!sync.start(base, [&] {
        if (state == State::loading) startup.start();
      })) {
    log::err("guild", "cannot subscribe to directory changes");
    return sys::kExitUnavailable;
  }
  event_base_dispatch(base);

  drain.reset();
  admin.endpoint.reset();
  service.detach();
  bus.reset();  // closes the connection after flushing what was published
  log::notice("guild", "stopped", {{"exit", exit_code}});
  return exit_code;
}
