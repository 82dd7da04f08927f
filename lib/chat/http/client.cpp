// See client.hpp. Both clients share the request writer and ResponseParser. The blocking
// fetch() is a plain non-blocking socket driven by poll() against one deadline; the async
// Client is a bufferevent with one request in flight. A request sent on a reused
// keep-alive connection that the server closed before answering is retried once on a
// fresh one, since the server may close an idle connection at any moment.
#include "chat/http/client.hpp"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "chat/http/response_parser.hpp"

namespace chat::http {
namespace {

std::string host_header(const std::string& host, uint16_t port) {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return h + ":" + std::to_string(port);
}

std::string build_request(std::string_view method, std::string_view target, const std::string& host,
                          uint16_t port, const Headers& headers, std::string_view body,
                          bool close) {
  std::string out;
  out.reserve(128 + target.size() + body.size());
  out.append(method);
  out.append(" ");
  out.append(target.empty() ? std::string_view("/") : target);
  out.append(" HTTP/1.1\r\n");
  if (!headers.has("Host")) {
    out.append("Host: ");
    out.append(host_header(host, port));
    out.append("\r\n");
  }
  bool wants_length = !body.empty() || method == "POST" || method == "PUT" || method == "PATCH";
  if (wants_length && !headers.has("Content-Length")) {
    out.append("Content-Length: ");
    out.append(std::to_string(body.size()));
    out.append("\r\n");
  }
  if (close && !headers.has("Connection")) out.append("Connection: close\r\n");
  for (const auto& [k, v] : headers) {
    out.append(k);
    out.append(": ");
    out.append(v);
    out.append("\r\n");
  }
  out.append("\r\n");
  out.append(body);
  return out;
}

int connect_with_deadline(const std::string& host, uint16_t port, int timeout_ms,
                          std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res);
  if (rc != 0) {
    error = "cannot resolve " + host + ": " + gai_strerror(rc);
    return -1;
  }
  int fd = -1;
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) continue;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) break;
    if (errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      int err = 0;
      socklen_t len = sizeof err;
      if (poll(&p, 1, timeout_ms) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 &&
          err == 0)
        break;
      error = err ? std::strerror(err) : "connect timed out";
    } else {
      error = std::strerror(errno);
    }
    ::close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  if (fd < 0) error = "cannot connect to " + host_header(host, port) + ": " + error;
  return fd;
}

}  // namespace

bool parse_url(std::string_view url, Url& out, std::string* error) {
  auto bad = [error](std::string why) {
    if (error) *error = std::move(why);
    return false;
  };
  size_t sep = url.find("://");
  if (sep == std::string_view::npos) return bad("URL has no scheme");
  out.scheme.assign(url.substr(0, sep));
  for (char& c : out.scheme) c = char(std::tolower(static_cast<unsigned char>(c)));
  uint16_t default_port;
  if (out.scheme == "http" || out.scheme == "ws")
    default_port = 80;
  else if (out.scheme == "https" || out.scheme == "wss")
    default_port = 443;
  else
    return bad("unsupported URL scheme " + out.scheme);
  std::string_view rest = url.substr(sep + 3);
  size_t slash = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, slash);
  std::string_view target =
      slash == std::string_view::npos ? std::string_view("/") : rest.substr(slash);
  if (size_t at = authority.rfind('@'); at != std::string_view::npos)
    authority.remove_prefix(at + 1);
  std::string_view port_s;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad("bad IPv6 address in URL");
    out.host.assign(authority.substr(1, close - 1));
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return bad("bad port in URL");
      port_s = authority.substr(close + 2);
    }
  } else {
    size_t colon = authority.rfind(':');
    out.host.assign(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_s = authority.substr(colon + 1);
  }
  if (out.host.empty()) return bad("URL has no host");
  out.port = default_port;
  if (!port_s.empty()) {
    unsigned long p = 0;
    for (char c : port_s) {
      if (c < '0' || c > '9') return bad("bad port in URL");
      p = p * 10 + unsigned(c - '0');
      if (p > 65535) return bad("bad port in URL");
    }
    if (p == 0) return bad("bad port in URL");
    out.port = uint16_t(p);
  }
  out.target.assign(target);
  if (out.target.front() == '?') out.target.insert(0, "/");
  return true;
}

Result fetch(std::string_view method, std::string_view url, const Headers& headers,
             std::string_view body, int timeout_ms) {
  Result result;
  Url u;
  if (!parse_url(url, u, &result.error)) return result;
  if (u.scheme != "http") {
    result.error = "only http:// URLs are supported";
    return result;
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  auto left_ms = [&deadline]() {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  deadline - std::chrono::steady_clock::now())
                  .count();
    return ms < 0 ? 0 : int(ms);
  };
  int fd = connect_with_deadline(u.host, u.port, timeout_ms, result.error);
  if (fd < 0) return result;
  std::string request = build_request(method, u.target, u.host, u.port, headers, body, true);
  size_t sent = 0;
  while (sent < request.size()) {
    ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += size_t(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd, POLLOUT, 0};
      if (poll(&p, 1, left_ms()) != 1) {
        result.error = "timed out sending the request";
        ::close(fd);
        return result;
      }
      continue;
    }
    result.error = std::string("send failed: ") + std::strerror(errno);
    ::close(fd);
    return result;
  }
  ResponseParser parser;
  parser.set_head_request(method == "HEAD");
  char buf[16384];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      std::string_view data(buf, size_t(n));
      while (!data.empty() && !parser.done() && !parser.failed()) {
        data.remove_prefix(parser.feed(data));
        // A 1xx interim answer (100 Continue) precedes the real one.
        if (parser.done() && parser.status() >= 100 && parser.status() < 200) parser.reset();
      }
      if (parser.done() || parser.failed()) break;
      continue;
    }
    if (n == 0) {
      parser.finish();
      break;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      pollfd p{fd, POLLIN, 0};
      int ms = left_ms();
      if (ms == 0 || poll(&p, 1, ms) != 1) {
        result.error = "timed out waiting for the response";
        ::close(fd);
        return result;
      }
      continue;
    }
    result.error = std::string("recv failed: ") + std::strerror(errno);
    ::close(fd);
    return result;
  }
  ::close(fd);
  if (parser.failed()) {
    result.error = parser.error();
    return result;
  }
  result.status = parser.status();
  result.headers = std::move(parser.headers());
  result.body = std::move(parser.body());
  return result;
}

// The asynchronous client: one connection, one request in flight, the rest queued.
struct Client::Impl : std::enable_shared_from_this<Client::Impl> {
  struct Pending {
    std::string method, target;
    Headers headers;
    std::string body;
    Callback callback;
  };

  event_base* base;
  std::string host;
  uint16_t port;
  ClientOptions options;
  std::deque<Pending> queue;
  bufferevent* bev = nullptr;
  bool connected = false;
  bool in_flight = false;
  bool reused = false;   // the in-flight request went out on a connection used before
  bool retried = false;  // and was already retried once
  bool got_bytes = false;
  bool detached = false;  // the Client is gone; drop everything
  ResponseParser parser;

  Impl(event_base* b, std::string h, uint16_t p, ClientOptions o)
      : base(b), host(std::move(h)), port(p), options(o), parser(o.max_body) {}
  ~Impl() { drop_connection(); }

  void drop_connection() {
    if (bev) bufferevent_free(bev);
    bev = nullptr;
    connected = false;
  }

  void set_timeouts(int ms) {
    timeval tv{ms / 1000, (ms % 1000) * 1000};
    bufferevent_set_timeouts(bev, ms > 0 ? &tv : nullptr, ms > 0 ? &tv : nullptr);
  }

  void start_next() {
    if (detached || in_flight || queue.empty()) return;
    in_flight = true;
    got_bytes = false;
    parser.reset();
    parser.set_head_request(queue.front().method == "HEAD");
    if (bev && connected) {
      reused = true;
      send_front();
      return;
    }
    reused = false;
    drop_connection();
    bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!bev) {
      complete_error("cannot create bufferevent");
      return;
    }
    bufferevent_setcb(bev, &Impl::read_cb, nullptr, &Impl::event_cb, this);
    set_timeouts(options.connect_timeout_ms);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    if (bufferevent_socket_connect_hostname(bev, nullptr, AF_UNSPEC, host.c_str(), port) != 0)
      complete_error("cannot connect to " + host_header(host, port));
  }

  void send_front() {
    const Pending& p = queue.front();
    std::string req = build_request(p.method, p.target, host, port, p.headers, p.body, false);
    set_timeouts(options.request_timeout_ms);
    bufferevent_write(bev, req.data(), req.size());
  }

  void complete(Result result) {
    auto self = shared_from_this();
    Callback cb = std::move(queue.front().callback);
    queue.pop_front();
    in_flight = false;
    retried = false;
    if (cb) cb(std::move(result));
    if (!detached) start_next();
  }

  void complete_error(std::string why) {
    drop_connection();
    Result r;
    r.error = std::move(why);
    complete(std::move(r));
  }

  void complete_parsed() {
    Result r;
    r.status = parser.status();
    r.headers = std::move(parser.headers());
    r.body = std::move(parser.body());
    if (!parser.keep_alive()) drop_connection();
    complete(std::move(r));
  }

  static void read_cb(bufferevent* bev, void* arg) {
    auto* self = static_cast<Impl*>(arg);
    evbuffer* in = bufferevent_get_input(bev);
    if (!self->in_flight) {  // unsolicited bytes: the server is confused; drop the link
      self->drop_connection();
      return;
    }
    while (evbuffer_get_length(in) > 0) {
      self->got_bytes = true;
      evbuffer_iovec vec;
      if (evbuffer_peek(in, -1, nullptr, &vec, 1) < 1) break;
      size_t used =
          self->parser.feed(std::string_view(static_cast<const char*>(vec.iov_base), vec.iov_len));
      evbuffer_drain(in, used);
      if (self->parser.done() && self->parser.status() >= 100 && self->parser.status() < 200) {
        bool head = self->queue.front().method == "HEAD";
        self->parser.reset();
        self->parser.set_head_request(head);
        continue;
      }
      if (self->parser.failed()) {
        self->complete_error(self->parser.error());
        return;
      }
      if (self->parser.done()) {
        self->complete_parsed();
        return;
      }
      if (used == 0) break;
    }
  }

  static void event_cb(bufferevent*, short what, void* arg) {
    auto* self = static_cast<Impl*>(arg);
    if (what & BEV_EVENT_CONNECTED) {
      self->connected = true;
      if (self->in_flight) self->send_front();
      return;
    }
    if (!self->in_flight) {  // idle keep-alive connection closed by the server
      self->drop_connection();
      return;
    }
    if (what & BEV_EVENT_EOF) {
      self->parser.finish();
      if (self->parser.done()) {
        self->complete_parsed();
        return;
      }
      if (self->reused && !self->got_bytes && !self->retried) {
        self->drop_connection();
        self->in_flight = false;
        self->retried = true;
        self->start_next();
        return;
      }
      self->complete_error(self->parser.error());
      return;
    }
    if (what & BEV_EVENT_TIMEOUT) {
      self->complete_error(self->connected ? "request timed out" : "connect timed out");
      return;
    }
    int err = EVUTIL_SOCKET_ERROR();
    self->complete_error(std::string(self->connected ? "connection error: " : "connect failed: ") +
                         evutil_socket_error_to_string(err));
  }
};

Client::Client(event_base* base, std::string host, uint16_t port, ClientOptions options)
    : impl_(std::make_shared<Impl>(base, std::move(host), port, options)) {}

Client::~Client() {
  impl_->detached = true;
  impl_->queue.clear();
  impl_->drop_connection();
}

void Client::request(std::string method, std::string target, Headers headers, std::string body,
                     Callback callback) {
  impl_->queue.push_back(Impl::Pending{std::move(method), std::move(target), std::move(headers),
                                       std::move(body), std::move(callback)});
  impl_->start_next();
}

size_t Client::queued() const {
  return impl_->queue.size();
}

}  // namespace chat::http
