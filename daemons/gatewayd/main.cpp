// gatewayd: the WebSocket gateway and REST API (gatewayd(8)). Wiring only: config,
// metrics, one Worker (event loop thread) per gateway.threads, signals on the main
// thread. SIGTERM/SIGINT drain every loop (RECONNECT, close 1001, stop accepting) within
// a deadline and exit 0; SIGHUP reloads the config (logging applies at once; listen
// addresses and thread counts need a restart).
#include <event2/event.h>

#include <algorithm>
#include <memory>
#include <thread>
#include <vector>

#include "chat/bus/bus.hpp"
#include "chat/obs/log.hpp"
#include "chat/obs/metrics.hpp"
#include "chat/sys/daemon.hpp"
#include "chat/sys/notify.hpp"
#include "worker.hpp"

using namespace chat;

namespace {
constexpr int kDrainDeadlineMs = 5000;
}

int main(int argc, char** argv) {
  sys::DaemonArgs args;
  Config config = sys::daemon_startup("gatewayd", "chat gateway: WebSocket sessions and REST API",
                                      argc, argv, &args);
  bus::global_init();

  obs::Registry registry;
  gateway::Shared shared;
  shared.config = config;
  shared.registry = &registry;
  shared.metrics.init(registry);

  // By default one loop per core but one: the rest of the daemon set (nats-server, guildd,
  // stored, presenced) runs on the same machine, and a loop preempted in the middle of a
  // fan-out's writes stretches every delivery still queued behind it. Measured on 2 cores,
  // 5,000 sessions at 500,000 deliveries/s: p99 236 ms with one loop, ~330 ms with two
  // (bench/README.md, "one loop per core but one").
  unsigned cores = std::thread::hardware_concurrency();
  int threads = config.gateway.threads > 0 ? config.gateway.threads
                                           : static_cast<int>(cores > 1 ? cores - 1 : 1);
  std::vector<std::unique_ptr<gateway::Worker>> workers;
  for (int i = 0; i < threads; ++i) {
    workers.push_back(std::make_unique<gateway::Worker>(i, shared));
    shared.workers.push_back(workers.back().get());
  }
  for (int i = 0; i < threads; ++i) {
    std::string error;
    if (!workers[i]->open(error)) {
      log::err("gateway", "cannot start", {{"loop", i}, {"error", error}});
      return sys::kExitUnavailable;
    }
    if (i == 0) {  // port 0: every later loop binds the port the first one got
      HostPort hp = parse_host_port(shared.config.gateway.listen, "gateway.listen");
      if (hp.port == 0) {
        std::string host = hp.host.find(':') != std::string::npos ? "[" + hp.host + "]" : hp.host;
        shared.config.gateway.listen = host + ":" + std::to_string(workers[0]->port());
      }
    }
  }
  shared.public_url = config.gateway.public_url.empty()
                          ? "ws://" + shared.config.gateway.listen + "/gateway"
                          : config.gateway.public_url;
  registry.gauge_fn("chat_gatewayd_queue_bytes", "bytes queued to sessions, all loops", [&] {
    double sum = 0;
    for (auto& w : workers) sum += static_cast<double>(w->queue_bytes());
    return sum;
  });
  registry.gauge_fn("chat_gatewayd_resident_bytes", "resident set size",
                    [] { return static_cast<double>(obs::rss_bytes()); });

  event_base* main_base = event_base_new();
  bool stopping = false;
  auto signals = std::make_unique<sys::Signals>(
      main_base,
      [&] {
        if (stopping) return;
        stopping = true;
        sys::notify_stopping();
        log::notice("gateway", "draining", {{"deadline_ms", kDrainDeadlineMs}});
        shared.draining = true;
        for (auto& w : workers) w->begin_drain(kDrainDeadlineMs);
        event_base_loopbreak(main_base);
      },
      [&] {
        sys::notify_reloading();
        try {
          Config fresh = sys::reload_config(args);
          log::notice("gateway", "config reloaded",
                      {{"file", fresh.path}, {"note", "listen/threads apply on restart"}});
        } catch (const ConfigError& e) {
          log::err("gateway", "reload failed, keeping the old config", {{"error", e.what()}});
        }
        sys::notify_ready();
      });

  for (auto& w : workers) w->start_thread();
  sys::notify_ready();
  log::notice("gateway", "ready",
              {{"listen", shared.config.gateway.listen},
               {"loops", threads},
               {"public_url", shared.public_url}});
  event_base_loop(main_base, EVLOOP_NO_EXIT_ON_EMPTY);

  for (auto& w : workers) w->join();
  workers.clear();
  signals.reset();
  event_base_free(main_base);
  log::notice("gateway", "stopped");
  return sys::kExitOk;
}
