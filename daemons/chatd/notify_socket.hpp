// The NOTIFY_SOCKET chatd gives its children, so the daemons that speak sd_notify(3) to
// systemd speak it to chatd unchanged. An AF_UNIX datagram socket at
// <data_dir>/run/notify.sock, or, when that path does not fit in sun_path (108 bytes), the
// abstract name "@chatd-<pid>" (sd_notify turns a leading '@' into the abstract
// namespace). SO_PASSCRED makes the kernel attach each sender's credentials
// (SCM_CREDENTIALS), and the sender's pid says which child spoke: the message itself is
// not trusted to say so. Each datagram is newline-separated KEY=VALUE assignments
// (READY=1, STOPPING=1, RELOADING=1, WATCHDOG=1, STATUS=..., ...).
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

struct event;
struct event_base;

namespace chat::chatd {

class NotifySocket {
 public:
  class Listener {
   public:
    virtual ~Listener() = default;
    // One assignment of one datagram from process `pid`.
    virtual void on_notify(pid_t pid, std::string_view key, std::string_view value) = 0;
  };

  // Binds and starts reading on `base`. Throws std::runtime_error (startup only).
  NotifySocket(event_base* base, const std::string& data_path, Listener& listener);
  ~NotifySocket();
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  // The value of NOTIFY_SOCKET for the children.
  const std::string& address() const { return address_; }

 private:
  static void read_cb(int fd, short what, void* arg);
  void drain();

  Listener& listener_;
  int fd_ = -1;
  event* ev_ = nullptr;
  std::string address_;
  std::string file_;  // the path to unlink at exit; empty for an abstract name
};

}  // namespace chat::chatd
