// What every daemon does the same way at startup and on signals, so each main.cpp is
// wiring only: parse `--config FILE` and `--set KEY=VALUE` (CLI11), load chat.toml
// (flags > CHAT_* env > file > defaults), set up logging, make libevent thread-aware,
// and turn SIGTERM/SIGINT/SIGHUP into callbacks on the main loop (evsignal).
#pragma once

#include <event2/event.h>

#include <functional>
#include <string>
#include <vector>

#include "chat/config/config.hpp"

namespace chat::sys {

// sysexits codes daemons exit with.
inline constexpr int kExitOk = 0;
inline constexpr int kExitUsage = 64;
inline constexpr int kExitUnavailable = 69;  // the bus or storage cannot be reached
inline constexpr int kExitSoftware = 70;
inline constexpr int kExitConfig = 78;  // bad chat.toml

struct DaemonArgs {
  std::string config_file;             // as found (explicit, $CHAT_CONFIG, ./, /etc)
  std::vector<std::string> overrides;  // --set values, in order
};

// Parses the command line and loads the config. On --help, a usage error or a bad config,
// prints one line to stderr and exits (0, 64 or 78).
Config daemon_startup(const char* name, const char* description, int argc, char** argv,
                      DaemonArgs* args_out = nullptr);

// Re-reads the config with the same arguments (for SIGHUP). Throws ConfigError.
Config reload_config(const DaemonArgs& args);

// SIGTERM/SIGINT -> on_stop, SIGHUP -> on_reload, on `base`'s thread. SIGPIPE is ignored.
class Signals {
 public:
  Signals(event_base* base, std::function<void()> on_stop, std::function<void()> on_reload);
  ~Signals();
  Signals(const Signals&) = delete;
  Signals& operator=(const Signals&) = delete;

 private:
  std::function<void()> on_stop_, on_reload_;
  event* term_ = nullptr;
  event* int_ = nullptr;
  event* hup_ = nullptr;
};

// A repeating timer on a loop (the daemon's cron, flush timers, ...).
class Timer {
 public:
  Timer(event_base* base, int interval_ms, std::function<void()> fn);
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

 private:
  std::function<void()> fn_;
  event* ev_ = nullptr;
};

}  // namespace chat::sys
