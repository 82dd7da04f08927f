// chatd: the supervisor of the daemon set. This file is wiring only: flags, config, the
// event loop, signals, the health/metrics endpoint; the supervising is in supervisor.cpp.
#include <event2/event.h>
#include <signal.h>
#include <string.h>
#include <CLI/CLI.hpp>

#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "chat/config/config.hpp"
#include "chat/http/admin_endpoint.hpp"
#include "chat/obs/log.hpp"
#include "chat/obs/metrics.hpp"
#include "supervisor.hpp"

namespace {

// sysexits(3)
constexpr int kExUsage = 64;
constexpr int kExUnavailable = 69;  // chatd(8): could not start, or gave up
constexpr int kExConfig = 78;

struct Signals {
  chat::chatd::Supervisor* sup;
};

void on_stop_signal(int sig, short, void* arg) {
  chat::log::notice("chatd", "signal received", {{"signal", sigabbrev_np(sig)}});
  static_cast<Signals*>(arg)->sup->shutdown(0);
}

void on_hup(int, short, void* arg) {
  static_cast<Signals*>(arg)->sup->reload();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"chatd: starts, watches and stops the chat daemon set"};
  std::string config_flag;
  std::vector<std::string> overrides;
  app.add_option("--config", config_flag,
                 "chat.toml to read (else $CHAT_CONFIG, ./chat.toml, "
                 "/etc/chat/chat.toml)");
  app.add_option("--set", overrides,
                 "table.key=value override, repeatable; passed on to "
                 "the daemons")
      ->allow_extra_args(false);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : kExUsage;
  }

  chat::Config cfg;
  std::string config_path;
  try {
    config_path = chat::find_config_file(config_flag);
    if (!config_path.empty()) config_path = std::filesystem::absolute(config_path).string();
    cfg = chat::load_config(config_path, overrides);
    chat::parse_host_port(cfg.chatd.listen, "chatd.listen");
  } catch (const chat::ConfigError& e) {
    std::cerr << "chatd: " << e.what() << "\n";
    return kExConfig;
  }
  chat::log::Level level = chat::log::Level::info;
  chat::log::parse_level(cfg.log.level, level);
  chat::log::configure(level, cfg.log.tags);
  signal(SIGPIPE, SIG_IGN);

  std::unique_ptr<event_base, decltype(&event_base_free)> base(event_base_new(), &event_base_free);
  chat::obs::Registry metrics;
  chat::chatd::Supervisor sup(base.get(), cfg, config_path, overrides, metrics);

  try {
    sup.open();
  } catch (const chat::ConfigError& e) {
    std::cerr << "chatd: " << e.what() << "\n";
    return kExConfig;
  } catch (const std::exception& e) {
    chat::log::err("chatd", "cannot start", {{"error", e.what()}});
    return kExUnavailable;
  }
  auto admin = chat::http::start_admin_http(base.get(), cfg.chatd.listen, metrics,
                                            [&sup] { return sup.not_ready_reason(); });
  if (!admin.endpoint) {
    chat::log::err("chatd", "cannot serve health and metrics",
                   {{"listen", cfg.chatd.listen}, {"error", admin.error}});
    return kExUnavailable;
  }
  sup.start();

  Signals signals{&sup};
  using EventPtr = std::unique_ptr<event, decltype(&event_free)>;
  std::vector<EventPtr> events;
  events.emplace_back(evsignal_new(base.get(), SIGTERM, on_stop_signal, &signals), &event_free);
  events.emplace_back(evsignal_new(base.get(), SIGINT, on_stop_signal, &signals), &event_free);
  events.emplace_back(evsignal_new(base.get(), SIGHUP, on_hup, &signals), &event_free);
  for (auto& ev : events) event_add(ev.get(), nullptr);

  event_base_dispatch(base.get());
  int code = sup.exit_code();
  chat::log::notice("chatd", "exiting", {{"exit_code", code}});
  return code;
}
