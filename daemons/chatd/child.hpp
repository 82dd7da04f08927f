// One supervised process: what to run (ChildSpec), where it is in its life (ChildState),
// its pid and process group, and one timer whose meaning follows the state (the ready
// deadline while starting, the SIGKILL deadline while stopping, the restart delay in
// backoff). Child only does what it is told; every decision is the Supervisor's, which
// hears about the timer through Child::Listener.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "restart_policy.hpp"

struct event;
struct event_base;

namespace chat::chatd {

// How a child says it is ready.
enum class Readiness {
  notify,     // READY=1 on NOTIFY_SOCKET (our daemons)
  nats_info,  // accepts TCP on the bus port and sends its INFO line (nats-server)
};

struct ChildSpec {
  std::string name;               // "nats-server", "stored", ...: in logs, status, metrics
  std::string program;            // absolute path
  std::vector<std::string> args;  // after argv[0]
  RestartType restart = RestartType::permanent;
  Strategy strategy = Strategy::one_for_one;  // applied when this child fails
  Readiness readiness = Readiness::notify;
};

enum class ChildState {
  stopped,   // not running; started again when its turn comes (unless retired)
  starting,  // spawned, waiting for readiness
  running,   // ready
  stopping,  // asked to stop (SIGTERM sent, or it said STOPPING=1)
  backoff,   // failed; waiting out the restart delay
  failed,    // will not be started again (temporary, or chatd gave up)
};

std::string_view to_string(ChildState s);

// "status=3" or "signal=KILL" for a waitpid() status, and whether it was a clean exit.
std::string describe_exit(int wstatus);
bool clean_exit(int wstatus);

class Child {
 public:
  class Listener {
   public:
    virtual ~Listener() = default;
    virtual void on_child_timer(Child& child) = 0;
  };

  Child(event_base* base, ChildSpec spec, Listener& listener, int64_t backoff_max_ms);
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  const ChildSpec& spec() const { return spec_; }
  const std::string& name() const { return spec_.name; }

  // Starts the program in a process group of its own with `env` as its environment.
  // Returns 0, or the errno of a failed spawn (no such program, not executable, ...).
  int spawn(const std::vector<std::string>& env, int64_t now_ms);
  // Sends `sig` to the child's process group (the daemon and anything it started).
  void signal_group(int sig) const;
  // The process was reaped: the child has no pid any more. (The supervisor kills what is
  // left in the group just before reaping, while the zombie still holds the group id.)
  void reaped();

  void arm_timer(int64_t ms);
  void cancel_timer();

  pid_t pid() const { return pid_; }
  ChildState state() const { return state_; }
  void set_state(ChildState s) { state_ = s; }
  // Time since this pid was spawned / since it said it was ready; 0 when not running.
  int64_t uptime_ms(int64_t now_ms) const { return pid_ > 0 ? now_ms - started_ms_ : 0; }
  int64_t ready_ms(int64_t now_ms) const {
    return pid_ > 0 && ready_at_ms_ > 0 ? now_ms - ready_at_ms_ : 0;
  }
  void became_ready(int64_t now_ms) { ready_at_ms_ = now_ms; }

  int restarts = 0;          // restarts after this child failed
  bool stop_wanted = false;  // chatd is stopping it on purpose: its exit is no failure
  bool term_sent = false;    // chatd sent SIGTERM to this pid
  bool retired = false;      // never to be started again
  bool reloading = false;    // said RELOADING=1 and not READY=1 since
  int64_t last_watchdog_ms = 0;
  Backoff backoff;

 private:
  static void timer_cb(int fd, short what, void* arg);

  ChildSpec spec_;
  Listener& listener_;
  event* timer_ = nullptr;
  pid_t pid_ = 0;
  int64_t started_ms_ = 0;
  int64_t ready_at_ms_ = 0;  // 0 until READY=1
  ChildState state_ = ChildState::stopped;
};

}  // namespace chat::chatd
