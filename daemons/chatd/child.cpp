// See child.hpp. Processes are started with posix_spawn: glibc's is a vfork-style clone
// that reports a failed exec as an error return, so a missing program is an error here
// rather than a child that exits 127 and gets restarted.
#include "child.hpp"

#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>

#include <cerrno>

namespace chat::chatd {

std::string_view to_string(ChildState s) {
  switch (s) {
    case ChildState::stopped:
      return "stopped";
    case ChildState::starting:
      return "starting";
    case ChildState::running:
      return "running";
    case ChildState::stopping:
      return "stopping";
    case ChildState::backoff:
      return "backoff";
    case ChildState::failed:
      return "failed";
  }
  return "?";
}

std::string describe_exit(int wstatus) {
  if (WIFEXITED(wstatus)) return "status=" + std::to_string(WEXITSTATUS(wstatus));
  if (WIFSIGNALED(wstatus)) {
    const char* name = sigabbrev_np(WTERMSIG(wstatus));
    return "signal=" + (name ? std::string(name) : std::to_string(WTERMSIG(wstatus)));
  }
  return "status=?";
}

bool clean_exit(int wstatus) {
  return WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0;
}

Child::Child(event_base* base, ChildSpec spec, Listener& listener, int64_t backoff_max_ms)
    : backoff(backoff_max_ms), spec_(std::move(spec)), listener_(listener) {
  timer_ = evtimer_new(base, &Child::timer_cb, this);
}

Child::~Child() {
  if (timer_) event_free(timer_);
}

int Child::spawn(const std::vector<std::string>& env, int64_t now_ms) {
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(spec_.program.c_str()));
  for (auto& a : spec_.args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  // Its own process group (so one signal reaches whatever it starts), every signal at its
  // default disposition and none blocked, whatever chatd itself does with them.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  // stdin is /dev/null (as under systemd); stdout and stderr are chatd's, so the daemons'
  // log lines go wherever chatd's go.
  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  posix_spawn_file_actions_addopen(&files, 0, "/dev/null", O_RDONLY, 0);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, spec_.program.c_str(), &files, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&files);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return rc;
  pid_ = pid;
  started_ms_ = now_ms;
  ready_at_ms_ = 0;
  reloading = false;
  term_sent = false;
  last_watchdog_ms = 0;
  return 0;
}

void Child::signal_group(int sig) const {
  if (pid_ <= 0) return;
  // The group has the child's pid as its id; fall back to the pid alone if the group is
  // gone already (the leader is a zombie not yet reaped).
  if (killpg(pid_, sig) != 0 && errno == ESRCH) kill(pid_, sig);
}

void Child::reaped() {
  pid_ = 0;
}

void Child::arm_timer(int64_t ms) {
  timeval tv{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>((ms % 1000) * 1000)};
  evtimer_add(timer_, &tv);
}

void Child::cancel_timer() {
  evtimer_del(timer_);
}

void Child::timer_cb(int, short, void* arg) {
  auto* self = static_cast<Child*>(arg);
  self->listener_.on_child_timer(*self);
}

}  // namespace chat::chatd
