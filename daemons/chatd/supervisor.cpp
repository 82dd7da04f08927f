// See supervisor.hpp. The one routine to read first is advance(): it walks the children
// in start order and starts the first one that should run and does not, but only once
// every child before it is running. Start order, restarts after a backoff and restarts
// after rest_for_one all come out of calling it after each change.
#include "supervisor.hpp"

#include <event2/event.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "chat/obs/log.hpp"
#include "chat/sys/notify.hpp"
#include "child_specs.hpp"

extern char** environ;

namespace chat::chatd {
namespace {

constexpr int kCronMs = 1000;
// Exit status after the restart intensity was exceeded: EX_UNAVAILABLE, as chatd(8) says.
constexpr int kExitGaveUp = 69;

int64_t now_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// Variables that describe chatd's own supervisor (systemd), not the children's.
bool belongs_to_chatd(std::string_view entry) {
  for (std::string_view name : {"NOTIFY_SOCKET=", "WATCHDOG_USEC=", "WATCHDOG_PID=", "LISTEN_FDS=",
                                "LISTEN_PID=", "LISTEN_FDNAMES="})
    if (entry.substr(0, name.size()) == name) return true;
  return false;
}

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

void log_exit(const Child& child, pid_t pid, int wstatus, bool wanted) {
  const char* msg = wanted ? "stopped" : "exited";
  if (WIFSIGNALED(wstatus)) {
    const char* sig = sigabbrev_np(WTERMSIG(wstatus));
    log::write(wanted ? log::Level::notice : log::Level::warning, "chatd", msg,
               {{"child", child.name()}, {"pid", pid}, {"signal", sig ? sig : "?"}});
  } else {
    int status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
    log::write(wanted || status == 0 ? log::Level::notice : log::Level::warning, "chatd", msg,
               {{"child", child.name()}, {"pid", pid}, {"status", status}});
  }
}

}  // namespace

Supervisor::Supervisor(event_base* base, Config cfg, std::string config_path,
                       std::vector<std::string> overrides, obs::Registry& metrics)
    : base_(base),
      cfg_(std::move(cfg)),
      config_path_(std::move(config_path)),
      overrides_(std::move(overrides)),
      metrics_(metrics),
      intensity_(cfg_.chatd.intensity, int64_t{cfg_.chatd.period_s} * 1000) {}

Supervisor::~Supervisor() {
  if (sigchld_) event_free(sigchld_);
  if (cron_) event_free(cron_);
}

void Supervisor::open() {
  bus_ = nats_host_port(cfg_.nats.url);
  for (auto& spec : child_specs(cfg_, config_path_, overrides_))
    children_.push_back(
        std::make_unique<Child>(base_, std::move(spec), *this, cfg_.chatd.backoff_max_ms));

  // The control socket first: it is the one that notices another chatd on this data_dir
  // before anything of that chatd's (its notify socket) is touched.
  std::string data = cfg_.data_path();
  std::error_code ec;
  std::filesystem::create_directories(data, ec);
  if (ec) throw std::runtime_error("data_dir: " + data + ": " + ec.message());
  control_ = std::make_unique<ControlSocket>(base_, data, *this);
  notify_ = std::make_unique<NotifySocket>(base_, data, *this);
  env_ = child_environment(notify_->address());
  nats_probe_ = std::make_unique<NatsProbe>(base_, [this] {
    for (auto& c : children_)
      if (c->spec().readiness == Readiness::nats_info && c->state() == ChildState::starting)
        child_ready(*c);
  });

  running_ = &metrics_.gauge("chat_chatd_children_running", "Children that are running (ready)");
  metrics_.gauge("chat_chatd_children", "Children chatd supervises")
      .set(static_cast<int64_t>(children_.size()));
  recent_restarts_ = &metrics_.gauge("chat_chatd_recent_restarts",
                                     "Restarts within the current restart-intensity period");
  // One family at a time: the exposition format wants each family's samples together.
  child_metrics_.resize(children_.size());
  auto label = [this](size_t i) { return "child=" + json_string(children_[i]->name()); };
  for (size_t i = 0; i < children_.size(); ++i)
    child_metrics_[i].restarts = &metrics_.counter("chat_chatd_restarts_total",
                                                   "Restarts of a child after it failed", label(i));
  for (size_t i = 0; i < children_.size(); ++i)
    child_metrics_[i].up =
        &metrics_.gauge("chat_chatd_child_up", "1 when the child is running (ready)", label(i));
  for (size_t i = 0; i < children_.size(); ++i)
    child_metrics_[i].uptime_s = &metrics_.gauge("chat_chatd_child_uptime_seconds",
                                                 "Seconds since the child started", label(i));

  sigchld_ = evsignal_new(base_, SIGCHLD, &Supervisor::sigchld_cb, this);
  event_add(sigchld_, nullptr);
  cron_ = event_new(base_, -1, EV_PERSIST, &Supervisor::cron_cb, this);
  timeval tv{kCronMs / 1000, (kCronMs % 1000) * 1000};
  event_add(cron_, &tv);
}

void Supervisor::start() {
  log::notice("chatd", "starting",
              {{"children", static_cast<int>(children_.size())},
               {"notify_socket", notify_->address()},
               {"control_socket", control_->path()},
               {"config", config_path_.empty() ? "(none)" : config_path_}});
  advance();
}

std::vector<std::string> Supervisor::child_environment(const std::string& notify_address) const {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e)
    if (!belongs_to_chatd(*e)) env.emplace_back(*e);
  env.push_back("NOTIFY_SOCKET=" + notify_address);
  return env;
}

// Starts the first child that should run and does not, once all before it are running;
// announces readiness when every child runs. Called after every change of state.
void Supervisor::advance() {
  if (shutting_down_) return;
  for (auto& c : children_) {
    if (c->retired) continue;
    switch (c->state()) {
      case ChildState::running:
      case ChildState::failed:
        continue;
      case ChildState::stopped:
        start_child(*c);
        return;
      case ChildState::starting:
      case ChildState::stopping:
      case ChildState::backoff:
        return;  // wait for it before touching anything after it
    }
  }
  if (!announced_ready_) {
    announced_ready_ = true;
    log::notice("chatd", "all children ready", {{"children", static_cast<int>(children_.size())}});
    sys::notify_ready();
  }
}

void Supervisor::start_child(Child& c) {
  int err = c.spawn(env_, now_ms());
  if (err != 0) {
    log::err("chatd", "cannot start",
             {{"child", c.name()}, {"program", c.spec().program}, {"error", std::strerror(err)}});
    child_failed(c, false, 0);
    return;
  }
  log::notice("chatd", "started", {{"child", c.name()}, {"pid", c.pid()}});
  transition(c, ChildState::starting);
  c.arm_timer(cfg_.chatd.ready_timeout_ms);
  if (c.spec().readiness == Readiness::nats_info) nats_probe_->start(bus_);
}

void Supervisor::child_ready(Child& c) {
  c.cancel_timer();
  c.became_ready(now_ms());
  transition(c, ChildState::running);
  log::notice("chatd", "ready",
              {{"child", c.name()}, {"pid", c.pid()}, {"startup_ms", c.uptime_ms(now_ms())}});
  advance();
}

void Supervisor::on_child_timer(Child& c) {
  switch (c.state()) {
    case ChildState::backoff:
      transition(c, ChildState::stopped);
      advance();
      break;
    case ChildState::starting:
      // Not ready in time: a failure like any other, reported when the exit is reaped.
      log::err("chatd", "not ready in time, killing",
               {{"child", c.name()},
                {"pid", c.pid()},
                {"ready_timeout_ms", cfg_.chatd.ready_timeout_ms}});
      if (c.spec().readiness == Readiness::nats_info) nats_probe_->stop();
      c.signal_group(SIGKILL);
      break;
    case ChildState::stopping:
      log::warn(
          "chatd", "did not stop in time, killing",
          {{"child", c.name()}, {"pid", c.pid()}, {"stop_timeout_ms", cfg_.chatd.stop_timeout_ms}});
      c.signal_group(SIGKILL);
      break;
    default:
      break;
  }
}

void Supervisor::sigchld_cb(int, short, void* arg) {
  static_cast<Supervisor*>(arg)->reap();
}

// Reaps every exited child. Each is first looked at without reaping (WNOWAIT), so that
// what it left in its process group is killed while the zombie still holds the group id,
// which therefore cannot name anyone else's processes.
void Supervisor::reap() {
  while (true) {
    siginfo_t info{};
    if (waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid == 0) return;
    pid_t pid = info.si_pid;
    Child* c = find(pid);
    if (c) c->signal_group(SIGKILL);
    int wstatus = 0;
    if (waitpid(pid, &wstatus, 0) != pid) return;
    if (c) child_exited(*c, wstatus);
  }
}

void Supervisor::child_exited(Child& c, int wstatus) {
  int64_t uptime = c.uptime_ms(now_ms());
  pid_t pid = c.pid();
  bool wanted = c.stop_wanted || shutting_down_;
  c.cancel_timer();
  if (c.spec().readiness == Readiness::nats_info) nats_probe_->stop();
  c.reaped();
  log_exit(c, pid, wstatus, wanted);
  if (wanted) {
    c.stop_wanted = false;
    transition(c, ChildState::stopped);
    drive_stops();
    advance();
    return;
  }
  child_failed(c, clean_exit(wstatus), uptime);
}

// A child failed (exited unasked, never got ready, or could not be spawned): apply its
// restart type, the restart intensity, its strategy and its backoff.
void Supervisor::child_failed(Child& c, bool clean, int64_t uptime_ms) {
  if (shutting_down_) {
    transition(c, ChildState::stopped);
    drive_stops();
    return;
  }
  if (!should_restart(c.spec().restart, clean)) {
    c.retired = true;
    transition(c, clean ? ChildState::stopped : ChildState::failed);
    log::notice("chatd", "not restarted",
                {{"child", c.name()}, {"restart", to_string(c.spec().restart)}});
    advance();
    return;
  }
  if (!intensity_.record(now_ms())) {
    log::err("chatd", "giving up: too many restarts",
             {{"child", c.name()},
              {"intensity", cfg_.chatd.intensity},
              {"period_s", cfg_.chatd.period_s}});
    transition(c, ChildState::failed);
    c.retired = true;
    shutdown(kExitGaveUp);
    return;
  }
  size_t index = index_of(c);
  Affected hit = affected_by(c.spec().strategy, index, children_.size());
  for (size_t i = index + 1; i < hit.last; ++i) {
    Child& other = *children_[i];
    if (other.pid() > 0) {
      other.stop_wanted = true;
    } else if (other.state() == ChildState::backoff) {
      other.cancel_timer();
      transition(other, ChildState::stopped);
    }
  }
  int64_t delay = c.backoff.next(uptime_ms);
  ++c.restarts;
  child_metrics_[index].restarts->inc();
  transition(c, ChildState::backoff);
  c.arm_timer(delay);
  log::notice("chatd", "restarting",
              {{"child", c.name()},
               {"in_ms", delay},
               {"restarts", c.restarts},
               {"strategy", to_string(c.spec().strategy)}});
  drive_stops();
}

// Stops the children that should stop (all of them when shutting down), one at a time and
// last started first. When shutting down and nothing is left, ends the loop.
void Supervisor::drive_stops() {
  for (size_t i = children_.size(); i-- > 0;) {
    Child& c = *children_[i];
    if (!shutting_down_ && !c.stop_wanted) continue;
    if (c.pid() <= 0) {
      c.stop_wanted = false;
      if (c.state() == ChildState::backoff) {
        c.cancel_timer();
        transition(c, ChildState::stopped);
      }
      continue;
    }
    if (c.state() == ChildState::stopping && c.term_sent) return;  // wait for this one
    log::notice("chatd", "stopping", {{"child", c.name()}, {"pid", c.pid()}});
    if (c.spec().readiness == Readiness::nats_info) nats_probe_->stop();
    c.term_sent = true;
    transition(c, ChildState::stopping);
    c.signal_group(SIGTERM);
    c.arm_timer(cfg_.chatd.stop_timeout_ms);
    return;
  }
  if (shutting_down_) {
    log::notice("chatd", "all children stopped", {{"exit_code", exit_code_}});
    event_base_loopexit(base_, nullptr);
  }
}

void Supervisor::shutdown(int exit_code) {
  if (exit_code != 0) exit_code_ = exit_code;
  if (shutting_down_) {
    // Asked again while stopping: no more waiting.
    log::warn("chatd", "stop asked again, killing every child");
    for (auto& c : children_) c->signal_group(SIGKILL);
    return;
  }
  shutting_down_ = true;
  log::notice("chatd", "stopping all children", {{"exit_code", exit_code_}});
  sys::notify_stopping();
  drive_stops();
}

void Supervisor::on_stop_request() {
  shutdown(0);
}

void Supervisor::reload() {
  Config next;
  try {
    next = load_config(config_path_, overrides_);
    nats_host_port(next.nats.url);
    parse_host_port(next.chatd.listen, "chatd.listen");
  } catch (const ConfigError& e) {
    log::err("chatd", "reload failed, keeping the old config", {{"error", e.what()}});
    return;
  }
  sys::notify_reloading();
  if (next.nats.url != cfg_.nats.url || next.nats.spawn != cfg_.nats.spawn ||
      next.nats.server != cfg_.nats.server || next.data_dir != cfg_.data_dir ||
      next.chatd.listen != cfg_.chatd.listen || next.chatd.programs != cfg_.chatd.programs)
    log::warn("chatd",
              "data_dir, [nats], chatd.listen and chatd.programs changes take effect on restart");
  log::Level level = log::Level::info;
  if (log::parse_level(next.log.level, level)) log::configure(level, next.log.tags);
  intensity_.set_limits(next.chatd.intensity, int64_t{next.chatd.period_s} * 1000);
  for (auto& c : children_) c->backoff.set_max(next.chatd.backoff_max_ms);
  // Keep what only a restart can change, so status and metrics tell the truth.
  next.nats = cfg_.nats;
  next.data_dir = cfg_.data_dir;
  next.chatd.listen = cfg_.chatd.listen;
  next.chatd.programs = cfg_.chatd.programs;
  cfg_ = std::move(next);
  // nats-server was started without a config file, so it has nothing to reload.
  int forwarded = 0;
  for (auto& c : children_) {
    if (c->pid() > 0 && c->spec().readiness == Readiness::notify) {
      kill(c->pid(), SIGHUP);
      ++forwarded;
    }
  }
  log::notice("chatd", "reloaded", {{"forwarded_to", forwarded}});
  sys::notify_ready();
}

void Supervisor::on_notify(pid_t pid, std::string_view key, std::string_view value) {
  Child* c = find(pid);
  if (!c) {
    log::debug("chatd", "notify from a process that is no child, ignored", {{"pid", pid}});
    return;
  }
  if (key == "READY" && value == "1") {
    if (c->state() == ChildState::starting) {
      child_ready(*c);
    } else if (c->reloading) {
      c->reloading = false;
      log::info("chatd", "child reloaded", {{"child", c->name()}, {"pid", pid}});
    }
  } else if (key == "STOPPING" && value == "1") {
    if (c->state() != ChildState::stopping) {
      // Stopping on its own (someone else signalled it): its exit will count as a failure.
      log::notice("chatd", "child stopping", {{"child", c->name()}, {"pid", pid}});
      c->cancel_timer();
      transition(*c, ChildState::stopping);
    }
  } else if (key == "RELOADING" && value == "1") {
    c->reloading = true;
    log::info("chatd", "child reloading", {{"child", c->name()}, {"pid", pid}});
  } else if (key == "WATCHDOG" && value == "1") {
    c->last_watchdog_ms = now_ms();
  } else if (key == "STATUS") {
    log::debug("chatd", "child status", {{"child", c->name()}, {"status", value}});
  }
}

std::string Supervisor::status_lines() {
  int64_t now = now_ms();
  std::string out;
  for (auto& c : children_) {
    out += "{\"name\":" + json_string(c->name()) + ",\"pid\":" + std::to_string(c->pid()) +
           ",\"state\":" + json_string(to_string(c->state())) +
           ",\"restarts\":" + std::to_string(c->restarts) +
           ",\"uptime_s\":" + std::to_string(c->ready_ms(now) / 1000) + "}\n";
  }
  return out;
}

std::string Supervisor::not_ready_reason() const {
  if (shutting_down_) return "stopping";
  for (auto& c : children_)
    if (c->state() != ChildState::running)
      return c->name() + " is " + std::string(to_string(c->state()));
  return "";
}

void Supervisor::cron_cb(int, short, void* arg) {
  static_cast<Supervisor*>(arg)->cron();
}

// Once a second: a reaping sweep (in case a SIGCHLD was merged with one being handled),
// the metrics that move with time, and chatd's own watchdog ping.
void Supervisor::cron() {
  reap();
  update_metrics();
  sys::notify_watchdog();
}

void Supervisor::transition(Child& c, ChildState state) {
  c.set_state(state);
  update_metrics();
}

void Supervisor::update_metrics() {
  if (!running_) return;
  int64_t now = now_ms();
  int64_t running = 0;
  for (size_t i = 0; i < children_.size(); ++i) {
    bool up = children_[i]->state() == ChildState::running;
    running += up;
    child_metrics_[i].up->set(up);
    child_metrics_[i].uptime_s->set(children_[i]->ready_ms(now) / 1000);
  }
  running_->set(running);
  recent_restarts_->set(static_cast<int64_t>(intensity_.recent(now)));
}

Child* Supervisor::find(pid_t pid) {
  if (pid <= 0) return nullptr;
  for (auto& c : children_)
    if (c->pid() == pid) return c.get();
  return nullptr;
}

size_t Supervisor::index_of(const Child& child) const {
  for (size_t i = 0; i < children_.size(); ++i)
    if (children_[i].get() == &child) return i;
  return children_.size();
}

}  // namespace chat::chatd
