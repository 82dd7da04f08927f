// See child.hpp. Processes are started with fork and exec, the exec's errno coming back on
// a close-on-exec pipe, so a missing program is an error here rather than a child that
// exits 127 and gets restarted. fork rather than posix_spawn for PR_SET_PDEATHSIG: a
// child must not outlive chatd, even when chatd is killed with SIGKILL.
#include "child.hpp"

#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

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

// In the child, between fork and exec: async-signal-safe calls only. Reports a failed
// step's errno on `report` (close-on-exec, so a successful exec reports nothing).
[[noreturn]] static void exec_child(const char* program, char* const* argv, char* const* envp,
                                    pid_t parent, int report) {
  int err = 0;
  // Its own process group (so one signal reaches whatever it starts).
  if (setpgid(0, 0) != 0) err = errno;
  // Every signal at its default disposition, whatever chatd itself does with them.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  for (int sig = 1; sig < NSIG; ++sig) sigaction(sig, &dfl, nullptr);  // EINVAL for KILL/STOP
  // SIGTERM when chatd dies, even by SIGKILL: the daemons drain and exit instead of
  // living on unsupervised. If chatd died before this took effect, we were reparented
  // already and nobody will send it: leave now.
  if (!err && prctl(PR_SET_PDEATHSIG, SIGTERM) != 0) err = errno;
  if (!err && getppid() != parent) _exit(0);
  // stdin is /dev/null (as under systemd); stdout and stderr are chatd's, so the daemons'
  // log lines go wherever chatd's go.
  if (!err) {
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || dup2(fd, 0) < 0) err = errno;
  }
  if (!err) {
    // None blocked: chatd blocked them all around fork().
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execve(program, argv, envp);
    err = errno;
  }
  ssize_t ignored = write(report, &err, sizeof err);
  (void)ignored;
  _exit(127);
}

int Child::spawn(const std::vector<std::string>& env, int64_t now_ms) {
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(spec_.program.c_str()));
  for (auto& a : spec_.args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) return errno;
  // All signals blocked across fork, so none runs chatd's handlers in the child before
  // their dispositions are reset.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    close(report[0]);
    exec_child(spec_.program.c_str(), argv.data(), envp.data(), parent, report[1]);
  }
  int fork_errno = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  close(report[1]);
  if (pid < 0) {
    close(report[0]);
    return fork_errno;
  }
  // The exec's outcome: end of file once it succeeded, an errno if it did not.
  int child_errno = 0;
  ssize_t n;
  do n = read(report[0], &child_errno, sizeof child_errno);
  while (n < 0 && errno == EINTR);
  close(report[0]);
  if (n == static_cast<ssize_t>(sizeof child_errno)) {
    int ignored;
    while (waitpid(pid, &ignored, 0) < 0 && errno == EINTR) {
    }
    return child_errno ? child_errno : ECHILD;
  }
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
