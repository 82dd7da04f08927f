#include "chat/sys/daemon.hpp"

#include <event2/thread.h>
#include <signal.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "chat/obs/log.hpp"

namespace chat::sys {
namespace {

void setup_logging(const Config& c) {
  log::Level level = log::Level::info;
  log::parse_level(c.log.level, level);
  log::configure(level, c.log.tags);
}

}  // namespace

Config daemon_startup(const char* name, const char* description, int argc, char** argv,
                      DaemonArgs* args_out) {
  static std::once_flag once;
  std::call_once(once, [] { evthread_use_pthreads(); });
  signal(SIGPIPE, SIG_IGN);
  // A gateway holds a socket per session: take every descriptor the hard limit allows.
  rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }

  DaemonArgs args;
  CLI::App app{description, name};
  std::string config_flag;
  app.add_option("--config", config_flag,
                 "chat.toml to read (else $CHAT_CONFIG, ./chat.toml, "
                 "/etc/chat/chat.toml)");
  app.add_option("--set", args.overrides, "override a config key: TABLE.KEY=VALUE (repeatable)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    std::exit(app.exit(e));
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "%s: %s\n", name, e.what());
    std::exit(kExitUsage);
  }
  args.config_file = find_config_file(config_flag);
  Config c;
  try {
    c = load_config(args.config_file, args.overrides);
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "%s: bad config: %s\n", name, e.what());
    std::exit(kExitConfig);
  }
  setup_logging(c);
  if (args_out) *args_out = args;
  return c;
}

Config reload_config(const DaemonArgs& args) {
  Config c = load_config(args.config_file, args.overrides);
  setup_logging(c);
  return c;
}

Signals::Signals(event_base* base, std::function<void()> on_stop, std::function<void()> on_reload)
    : on_stop_(std::move(on_stop)), on_reload_(std::move(on_reload)) {
  signal(SIGPIPE, SIG_IGN);
  auto stop_cb = [](evutil_socket_t, short, void* arg) {
    auto* self = static_cast<Signals*>(arg);
    if (self->on_stop_) self->on_stop_();
  };
  auto hup_cb = [](evutil_socket_t, short, void* arg) {
    auto* self = static_cast<Signals*>(arg);
    if (self->on_reload_) self->on_reload_();
  };
  term_ = evsignal_new(base, SIGTERM, stop_cb, this);
  int_ = evsignal_new(base, SIGINT, stop_cb, this);
  hup_ = evsignal_new(base, SIGHUP, hup_cb, this);
  evsignal_add(term_, nullptr);
  evsignal_add(int_, nullptr);
  evsignal_add(hup_, nullptr);
}

Signals::~Signals() {
  for (event* e : {term_, int_, hup_})
    if (e) event_free(e);
}

Timer::Timer(event_base* base, int interval_ms, std::function<void()> fn) : fn_(std::move(fn)) {
  ev_ = event_new(
      base, -1, EV_PERSIST,
      [](evutil_socket_t, short, void* arg) { static_cast<Timer*>(arg)->fn_(); }, this);
  timeval tv{interval_ms / 1000, (interval_ms % 1000) * 1000};
  event_add(ev_, &tv);
}

Timer::~Timer() {
  if (ev_) event_free(ev_);
}

}  // namespace chat::sys
