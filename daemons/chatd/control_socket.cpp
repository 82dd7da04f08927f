// See control_socket.hpp for the protocol. Each connection is one bufferevent that reads
// one line, queues the whole answer, and closes once the answer has been written.
#include "control_socket.hpp"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "chat/config/config.hpp"
#include "chat/obs/log.hpp"

namespace chat::chatd {
namespace {

constexpr size_t kMaxLine = 256;
constexpr int kTimeoutS = 5;

// True when something accepts connections at `addr`: another chatd is alive there.
bool answers(const sockaddr_un& addr) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  bool ok = connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

}  // namespace

ControlSocket::ControlSocket(event_base* base, const std::string& data_path, Listener& listener)
    : base_(base), listener_(listener), path_(data_path + "/chatd.sock") {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path_.size() >= sizeof addr.sun_path)
    throw ConfigError("data_dir: \"" + data_path + "\" is too long for a Unix socket path (" +
                      path_ + " must be under " + std::to_string(sizeof addr.sun_path) + " bytes)");
  std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);

  struct stat st {};
  if (lstat(path_.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) throw std::runtime_error(path_ + " exists and is not a socket");
    if (answers(addr)) throw std::runtime_error("another chatd is running on " + path_);
    unlink(path_.c_str());
  }

  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("control socket: " + std::string(strerror(errno)));
  // The mode is set at bind through the umask, so there is no moment at which it is open
  // to others; the chmod is for umasks that already clear more.
  mode_t old = umask(0177);
  int rc = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  int err = errno;
  umask(old);
  if (rc != 0) {
    close(fd);
    throw std::runtime_error("control socket: bind " + path_ + ": " + strerror(err));
  }
  chmod(path_.c_str(), 0600);
  evl_ = evconnlistener_new(base, &ControlSocket::accept_cb, this,
                            LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 16, fd);
  if (!evl_) {
    close(fd);
    throw std::runtime_error("control socket: listen " + path_ + " failed");
  }
}

ControlSocket::~ControlSocket() {
  while (!conns_.empty()) close_conn(&conns_.front());
  if (evl_) {
    evconnlistener_free(evl_);
    unlink(path_.c_str());
  }
}

void ControlSocket::accept_cb(evconnlistener*, int fd, sockaddr*, int, void* arg) {
  auto* self = static_cast<ControlSocket*>(arg);
  bufferevent* bev = bufferevent_socket_new(self->base_, fd, BEV_OPT_CLOSE_ON_FREE);
  if (!bev) {
    close(fd);
    return;
  }
  self->conns_.push_back(Conn{self, bev});
  Conn* conn = &self->conns_.back();
  bufferevent_setcb(bev, &ControlSocket::read_cb, nullptr, &ControlSocket::event_cb, conn);
  timeval tv{kTimeoutS, 0};
  bufferevent_set_timeouts(bev, &tv, &tv);
  bufferevent_enable(bev, EV_READ);
}

void ControlSocket::read_cb(bufferevent* bev, void* arg) {
  auto* conn = static_cast<Conn*>(arg);
  ControlSocket* self = conn->owner;
  if (conn->answered) return;
  evbuffer* in = bufferevent_get_input(bev);
  size_t len = 0;
  char* line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF);
  if (!line) {
    if (evbuffer_get_length(in) > kMaxLine) self->answer(*conn, "{\"error\":\"line too long\"}\n");
    return;
  }
  std::string command(line, len);
  std::free(line);
  self->handle(*conn, command);
}

void ControlSocket::handle(Conn& conn, const std::string& command) {
  if (command.size() > kMaxLine) {
    answer(conn, "{\"error\":\"line too long\"}\n");
  } else if (command == "status") {
    answer(conn, listener_.status_lines());
  } else if (command == "stop") {
    answer(conn, "{\"ok\":true}\n");
    log::notice("chatd", "stop requested on the control socket");
    listener_.on_stop_request();
  } else {
    answer(conn, "{\"error\":\"unknown command\"}\n");
  }
}

void ControlSocket::answer(Conn& conn, const std::string& text) {
  conn.answered = true;
  bufferevent_disable(conn.bev, EV_READ);
  bufferevent_setcb(conn.bev, nullptr, &ControlSocket::write_cb, &ControlSocket::event_cb, &conn);
  bufferevent_write(conn.bev, text.data(), text.size());
}

void ControlSocket::write_cb(bufferevent*, void* arg) {
  // Called once the output buffer is empty: the whole answer is with the kernel.
  auto* conn = static_cast<Conn*>(arg);
  conn->owner->close_conn(conn);
}

void ControlSocket::event_cb(bufferevent*, short what, void* arg) {
  auto* conn = static_cast<Conn*>(arg);
  ControlSocket* self = conn->owner;
  if ((what & BEV_EVENT_TIMEOUT) && !conn->answered) {
    self->answer(*conn, "{\"error\":\"timeout\"}\n");
    return;
  }
  // A client that half-closes after a last line without '\n' still gets its answer.
  evbuffer* in = bufferevent_get_input(conn->bev);
  if ((what & BEV_EVENT_EOF) && !conn->answered && evbuffer_get_length(in) > 0) {
    size_t len = evbuffer_get_length(in);
    std::string command(len, '\0');
    evbuffer_remove(in, command.data(), len);
    if (!command.empty() && command.back() == '\r') command.pop_back();
    self->handle(*conn, command);
    return;
  }
  self->close_conn(conn);
}

void ControlSocket::close_conn(Conn* conn) {
  bufferevent_free(conn->bev);
  for (auto it = conns_.begin(); it != conns_.end(); ++it) {
    if (&*it == conn) {
      conns_.erase(it);
      break;
    }
  }
}

}  // namespace chat::chatd
