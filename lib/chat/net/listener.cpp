// See listener.hpp. Accept errors such as EMFILE leave the listening socket readable, so
// a naive loop would spin on it; instead accepting pauses for 100 ms and resumes.
#include "chat/net/listener.hpp"

#include <arpa/inet.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "chat/config/config.hpp"
#include "chat/obs/log.hpp"

namespace chat::net {

std::unique_ptr<Listener> Listener::open(event_base* base, const std::string& host, uint16_t port,
                                         AcceptFn on_accept, const ListenOptions& options,
                                         std::string& error) {
  evutil_addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  hints.ai_flags = EVUTIL_AI_PASSIVE | EVUTIL_AI_ADDRCONFIG;
  evutil_addrinfo* res = nullptr;
  std::string port_s = std::to_string(port);
  int rc = evutil_getaddrinfo(host.empty() ? nullptr : host.c_str(), port_s.c_str(), &hints, &res);
  if (rc != 0 || !res) {
    error = "cannot resolve " + host + ": " + evutil_gai_strerror(rc);
    return nullptr;
  }
  std::unique_ptr<Listener> l(new Listener());
  l->on_accept_ = std::move(on_accept);
  l->no_delay_ = options.no_delay;
  unsigned flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC;
  if (options.reuse_port) flags |= LEV_OPT_REUSEABLE_PORT;
  l->listener_ = evconnlistener_new_bind(base, &Listener::accept_cb, l.get(), flags,
                                         options.backlog, res->ai_addr, int(res->ai_addrlen));
  int err = errno;
  evutil_freeaddrinfo(res);
  if (!l->listener_) {
    error = "cannot listen on " + host + ":" + port_s + ": " + std::strerror(err);
    return nullptr;
  }
  evconnlistener_set_error_cb(l->listener_, &Listener::error_cb);
  l->resume_timer_ = evtimer_new(base, &Listener::resume_cb, l.get());
  return l;
}

std::unique_ptr<Listener> Listener::open(event_base* base, const std::string& host_port,
                                         AcceptFn on_accept, const ListenOptions& options,
                                         std::string& error) {
  HostPort hp;
  try {
    hp = parse_host_port(host_port, "listen");
  } catch (const ConfigError& e) {
    error = e.what();
    return nullptr;
  }
  return open(base, hp.host, hp.port, std::move(on_accept), options, error);
}

Listener::~Listener() {
  if (resume_timer_) event_free(resume_timer_);
  if (listener_) evconnlistener_free(listener_);
}

void Listener::accept_cb(evconnlistener*, evutil_socket_t fd, sockaddr* addr, int len, void* arg) {
  auto* self = static_cast<Listener*>(arg);
  if (self->no_delay_ && addr && (addr->sa_family == AF_INET || addr->sa_family == AF_INET6)) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  if (self->on_accept_)
    self->on_accept_(fd, addr, len);
  else
    evutil_closesocket(fd);
}

void Listener::error_cb(evconnlistener*, void* arg) {
  auto* self = static_cast<Listener*>(arg);
  int err = EVUTIL_SOCKET_ERROR();
  log::warn("net", "accept failed",
            {{"error", evutil_socket_error_to_string(err)}, {"port", self->port()}});
  if (self->enabled_) {
    evconnlistener_disable(self->listener_);
    timeval tv{0, 100 * 1000};
    evtimer_add(self->resume_timer_, &tv);
  }
}

void Listener::resume_cb(evutil_socket_t, short, void* arg) {
  auto* self = static_cast<Listener*>(arg);
  if (self->enabled_) evconnlistener_enable(self->listener_);
}

uint16_t Listener::port() const {
  return bound_port(fd());
}

evutil_socket_t Listener::fd() const {
  return listener_ ? evconnlistener_get_fd(listener_) : -1;
}

void Listener::enable() {
  enabled_ = true;
  evconnlistener_enable(listener_);
}

void Listener::disable() {
  enabled_ = false;
  evtimer_del(resume_timer_);
  evconnlistener_disable(listener_);
}

uint16_t bound_port(evutil_socket_t fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (fd < 0 || getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return 0;
}

std::string format_address(const sockaddr* addr) {
  if (!addr) return {};
  char buf[INET6_ADDRSTRLEN] = {};
  if (addr->sa_family == AF_INET) {
    auto* in = reinterpret_cast<const sockaddr_in*>(addr);
    inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf);
    return std::string(buf) + ":" + std::to_string(ntohs(in->sin_port));
  }
  if (addr->sa_family == AF_INET6) {
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(addr);
    inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf);
    return "[" + std::string(buf) + "]:" + std::to_string(ntohs(in6->sin6_port));
  }
  return {};
}

}  // namespace chat::net
