// See notify_socket.hpp.
#include "notify_socket.hpp"

#include <event2/event.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "chat/obs/log.hpp"

namespace chat::chatd {
namespace {

// Datagrams larger than this are cut and ignored; sd_notify messages are a few bytes.
constexpr size_t kMaxDatagram = 4096;
// Datagrams handled per wake-up, so a chatty child cannot starve the loop.
constexpr int kMaxPerWakeup = 64;

}  // namespace

NotifySocket::NotifySocket(event_base* base, const std::string& data_path, Listener& listener)
    : listener_(listener) {
  fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::runtime_error(std::string("notify socket: ") + strerror(errno));
  int one = 1;
  if (setsockopt(fd_, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) != 0)
    throw std::runtime_error(std::string("notify socket: SO_PASSCRED: ") + strerror(errno));

  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  socklen_t len = 0;
  std::string dir = data_path + "/run";
  std::string path = dir + "/notify.sock";
  if (path.size() < sizeof addr.sun_path) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) throw std::runtime_error("notify socket: " + dir + ": " + ec.message());
    unlink(path.c_str());  // a datagram socket left by an earlier chatd
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
    address_ = path;
    file_ = path;
  } else {
    std::string name = "chatd-" + std::to_string(getpid());
    addr.sun_path[0] = '\0';
    std::memcpy(addr.sun_path + 1, name.data(), name.size());
    len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
    address_ = "@" + name;
  }
  if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0)
    throw std::runtime_error("notify socket: bind " + address_ + ": " + strerror(errno));
  // Only our own user's processes may talk to it (the children run as chatd's user).
  if (!file_.empty()) chmod(file_.c_str(), 0600);
  ev_ = event_new(base, fd_, EV_READ | EV_PERSIST, &NotifySocket::read_cb, this);
  event_add(ev_, nullptr);
}

NotifySocket::~NotifySocket() {
  if (ev_) event_free(ev_);
  if (fd_ >= 0) close(fd_);
  if (!file_.empty()) unlink(file_.c_str());
}

void NotifySocket::read_cb(int, short, void* arg) {
  static_cast<NotifySocket*>(arg)->drain();
}

void NotifySocket::drain() {
  for (int n = 0; n < kMaxPerWakeup; ++n) {
    char buf[kMaxDatagram];
    // Room for credentials and a few passed descriptors (FDSTORE=1), which we close.
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred)) + CMSG_SPACE(sizeof(int) * 16)];
    iovec iov{buf, sizeof buf};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t got = recvmsg(fd_, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_TRUNC);
    if (got < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        log::warn("chatd", "notify socket read failed", {{"error", strerror(errno)}});
      return;
    }
    pid_t pid = 0;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET) continue;
      if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len >= CMSG_LEN(sizeof(ucred))) {
        ucred cred;
        std::memcpy(&cred, CMSG_DATA(c), sizeof cred);
        pid = cred.pid;
      } else if (c->cmsg_type == SCM_RIGHTS) {
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; ++i) {
          int fd;
          std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
          close(fd);
        }
      }
    }
    if (static_cast<size_t>(got) > sizeof buf || (msg.msg_flags & MSG_TRUNC)) {
      log::warn("chatd", "notify message too long, ignored", {{"pid", pid}});
      continue;
    }
    if (pid <= 0) {
      log::warn("chatd", "notify message without credentials, ignored");
      continue;
    }
    std::string_view text(buf, static_cast<size_t>(got));
    while (!text.empty()) {
      auto nl = text.find('\n');
      std::string_view line = text.substr(0, nl);
      text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
      auto eq = line.find('=');
      if (eq == std::string_view::npos || eq == 0) continue;
      listener_.on_notify(pid, line.substr(0, eq), line.substr(eq + 1));
    }
  }
}

}  // namespace chat::chatd
