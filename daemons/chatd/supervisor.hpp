// The supervisor: an OTP-style supervisor over the daemon set, driven by one libevent
// loop. It owns the children (in start order), chatd's NOTIFY_SOCKET and control socket,
// the nats-server readiness probe, SIGCHLD, the restart intensity, and chatd's metrics.
//
// Life of the set:
//   start     children are started one at a time, in order; the next one only after the
//             previous reported ready (advance()). When all are running chatd itself
//             says READY=1 to whoever supervises it.
//   failure   a child that exits without being asked to is restarted after its backoff
//             delay, per its restart type and strategy (restart_policy.hpp). More than
//             `intensity` restarts within `period_s` is a failure of the whole set:
//             chatd stops everything and exits non-zero, so that systemd takes over.
//   stop      SIGTERM/SIGINT or "stop" on the control socket: children are stopped one at
//             a time, last started first (SIGTERM to the process group, SIGKILL after
//             stop_timeout_ms), then the loop ends and chatd exits.
//   reload    SIGHUP: the file is read again (a bad one is logged and the old config
//             kept), the [chatd] limits take effect, and SIGHUP goes on to the daemons.
//
// Nothing here blocks: exits arrive as SIGCHLD, readiness as datagrams or probe
// callbacks, deadlines as each child's timer.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "chat/config/config.hpp"
#include "chat/obs/metrics.hpp"
#include "child.hpp"
#include "control_socket.hpp"
#include "nats_probe.hpp"
#include "notify_socket.hpp"
#include "restart_policy.hpp"

struct event;
struct event_base;

namespace chat::chatd {

class Supervisor : public Child::Listener,
                   public NotifySocket::Listener,
                   public ControlSocket::Listener {
 public:
  // `config_path` is absolute ("" when no file was found); `overrides` are the --set
  // values, re-applied on reload and passed on to the children.
  Supervisor(event_base* base, Config cfg, std::string config_path,
             std::vector<std::string> overrides, obs::Registry& metrics);
  ~Supervisor() override;

  // Finds the programs and opens the sockets. Throws (startup only): ConfigError for bad
  // settings, std::runtime_error for anything else that prevents running.
  void open();
  // Starts the first child; the rest follow as each gets ready.
  void start();

  // Stops everything, last child first; the loop exits when all are gone. Idempotent; a
  // second call while stopping SIGKILLs what is left.
  void shutdown(int exit_code);
  void reload();

  // What main() returns once the loop has ended.
  int exit_code() const { return exit_code_; }
  // "" when every child is running, else why not (for /readyz).
  std::string not_ready_reason() const;

  // Child::Listener, NotifySocket::Listener, ControlSocket::Listener.
  void on_child_timer(Child& child) override;
  void on_notify(pid_t pid, std::string_view key, std::string_view value) override;
  std::string status_lines() override;
  void on_stop_request() override;

 private:
  static void sigchld_cb(int, short, void* arg);
  static void cron_cb(int, short, void* arg);

  void advance();
  void start_child(Child& child);
  void child_ready(Child& child);
  void child_exited(Child& child, int wstatus);
  void child_failed(Child& child, bool clean, int64_t uptime_ms);
  void drive_stops();
  void reap();
  void cron();
  void transition(Child& child, ChildState state);
  void update_metrics();
  Child* find(pid_t pid);
  size_t index_of(const Child& child) const;
  std::vector<std::string> child_environment(const std::string& notify_address) const;

  event_base* base_;
  Config cfg_;
  std::string config_path_;
  std::vector<std::string> overrides_;
  obs::Registry& metrics_;

  std::vector<std::unique_ptr<Child>> children_;  // in start order
  std::vector<std::string> env_;                  // the children's environment
  HostPort bus_;
  RestartIntensity intensity_;
  std::unique_ptr<NotifySocket> notify_;
  std::unique_ptr<ControlSocket> control_;
  std::unique_ptr<NatsProbe> nats_probe_;
  event* sigchld_ = nullptr;
  event* cron_ = nullptr;

  bool shutting_down_ = false;
  bool announced_ready_ = false;
  int exit_code_ = 0;

  struct ChildMetrics {
    obs::Counter* restarts = nullptr;
    obs::Gauge* up = nullptr;
    obs::Gauge* uptime_s = nullptr;
  };
  std::vector<ChildMetrics> child_metrics_;  // parallel to children_
  obs::Gauge* running_ = nullptr;
  obs::Gauge* recent_restarts_ = nullptr;
};

}  // namespace chat::chatd
