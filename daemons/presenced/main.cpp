// presenced: who is online (presenced(8)). Wiring only: config, bus, the Service (state,
// subscriptions, publishing), the cron that drives leases, coalescing and the per-guild
// batches, the health/metrics endpoint on presence.listen, and the signals: SIGTERM
// flushes what the windows still hold and exits 0; SIGHUP reloads the [presence] knobs.
// The state lives in memory only: after a restart it is rebuilt from the gateway nodes.
#include <event2/event.h>

#include <memory>

#include "chat/bus/bus.hpp"
#include "chat/http/admin_endpoint.hpp"
#include "chat/obs/log.hpp"
#include "chat/obs/metrics.hpp"
#include "chat/sys/daemon.hpp"
#include "chat/sys/notify.hpp"
#include "service.hpp"

using namespace chat;

namespace {
constexpr int kCronMs = 50;
}

int main(int argc, char** argv) {
  sys::DaemonArgs args;
  Config cfg = sys::daemon_startup("presenced", "chat presence daemon", argc, argv, &args);
  bus::global_init();
  event_base* base = event_base_new();
  if (!base) {
    log::err("presence", "cannot create the event loop");
    return sys::kExitSoftware;
  }
  std::string error;
  std::unique_ptr<bus::Bus> bus = bus::Bus::connect(base, cfg.nats.url, "presenced", error);
  if (!bus) {
    log::err("presence", "cannot reach the bus", {{"url", cfg.nats.url}, {"error", error}});
    return sys::kExitUnavailable;
  }
  obs::Registry registry;
  registry.gauge_fn("chat_presenced_resident_bytes", "resident set size",
                    [] { return static_cast<double>(obs::rss_bytes()); });
  auto service = std::make_unique<presenced::Service>(*bus, cfg, registry);
  bool stopping = false, live = false;
  auto admin = http::start_admin_http(base, cfg.presence.listen, registry, [&]() -> std::string {
    if (stopping) return "stopping";
    if (!live) return "starting";
    if (!bus->connected()) return "bus disconnected";
    return {};
  });
  if (!admin.endpoint) {
    log::err("presence", "cannot listen",
             {{"listen", cfg.presence.listen}, {"error", admin.error}});
    return sys::kExitUnavailable;
  }
  bool started = service->start([&] {
    live = true;
    sys::notify_ready();
    log::notice("presence", "ready",
                {{"listen", cfg.presence.listen},
                 {"lease_timeout_ms", cfg.presence.lease_timeout_ms},
                 {"large_guild_threshold", cfg.presence.large_guild_threshold}});
  });
  if (!started) return sys::kExitUnavailable;

  {
    sys::Timer cron(base, kCronMs, [&] {
      service->tick();
      sys::notify_watchdog();
    });
    sys::Signals signals(
        base,
        [&] {
          if (stopping) return;
          stopping = true;
          sys::notify_stopping();
          log::notice("presence", "stopping", {{"sessions", service->state().session_count()}});
          service->tick();  // what has left its window goes out before we do
          service->stop();
          event_base_loopbreak(base);
        },
        [&] {
          sys::notify_reloading();
          try {
            Config fresh = sys::reload_config(args);
            service->reload(fresh);
            log::notice("presence", "config reloaded",
                        {{"note", "listen and shards apply at restart"}});
          } catch (const ConfigError& e) {
            log::warn("presence", "reload failed; keeping the old config", {{"error", e.what()}});
          }
          sys::notify_ready();
        });
    event_base_dispatch(base);
  }
  admin.endpoint.reset();
  service.reset();
  bus.reset();
  event_base_free(base);
  log::notice("presence", "stopped");
  return sys::kExitOk;
}
