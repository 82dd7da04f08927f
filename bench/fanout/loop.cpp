// The epoll loop and WebSocket client framing of loop.hpp.
#include "loop.hpp"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

namespace fanout {

namespace {
constexpr size_t kReadChunk = 256 * 1024;
constexpr size_t kMaxHead = 16 * 1024;
constexpr uint8_t kMask[4] = {0x5a, 0x3c, 0x96, 0xe1};
}  // namespace

uint64_t mono_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

Loop::Loop(Target target) : target_(std::move(target)), rbuf_(kReadChunk) {
  ep_ = epoll_create1(EPOLL_CLOEXEC);
  set_upgrade(target_.path, target_.subprotocol);
}

void Loop::set_upgrade(const std::string& path, const std::string& subprotocol) {
  target_.path = path;
  target_.subprotocol = subprotocol;
  upgrade_ = "GET " + target_.path + " HTTP/1.1\r\nHost: " + target_.host_header +
             "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: ZmFub3V0LWJlbmNoLWtleQ==\r\nSec-WebSocket-Version: 13\r\n";
  if (!target_.subprotocol.empty())
    upgrade_ += "Sec-WebSocket-Protocol: " + target_.subprotocol + "\r\n";
  upgrade_ += "\r\n";
}

Loop::~Loop() {
  for (auto& c : conns_)
    if (c->fd >= 0) ::close(c->fd);
  if (ep_ >= 0) ::close(ep_);
}

Conn* Loop::connect(uint32_t src, uint32_t id, bool raw, int& errno_out) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    errno_out = errno;
    return nullptr;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (src) {
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = src;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
      errno_out = errno;
      ::close(fd);
      return nullptr;
    }
  }
  sockaddr_in da{};
  da.sin_family = AF_INET;
  da.sin_addr.s_addr = target_.addr;
  da.sin_port = htons(target_.port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&da), sizeof da) != 0 && errno != EINPROGRESS) {
    errno_out = errno;
    ::close(fd);
    return nullptr;
  }
  auto c = std::make_unique<Conn>();
  c->fd = fd;
  c->id = id;
  c->raw = raw;
  epoll_event ev{};
  ev.events = EPOLLOUT;
  ev.data.ptr = c.get();
  epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
  c->out_armed = true;
  conns_.push_back(std::move(c));
  return conns_.back().get();
}

void Loop::arm(Conn& c, bool want_out) {
  if (c.out_armed == want_out || c.fd < 0) return;
  epoll_event ev{};
  ev.events = want_out ? (EPOLLIN | EPOLLOUT) : EPOLLIN;
  ev.data.ptr = &c;
  epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
  c.out_armed = want_out;
}

void Loop::write(Conn& c, std::string_view bytes) {
  if (c.state == Conn::State::closed || bytes.empty()) return;
  if (!c.out.empty() || c.state == Conn::State::connecting) {
    c.out.append(bytes);
    return;
  }
  ssize_t n = ::send(c.fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK) return close(c, "write failed");
    n = 0;
  }
  if (static_cast<size_t>(n) < bytes.size()) {
    c.out.append(bytes.substr(static_cast<size_t>(n)));
    arm(c, true);
  }
}

void Loop::send_frame(Conn& c, int opcode, std::string_view payload) {
  std::string& f = wscratch_;
  f.clear();
  f.push_back(static_cast<char>(0x80 | opcode));
  size_t n = payload.size();
  if (n < 126) {
    f.push_back(static_cast<char>(0x80 | n));
  } else if (n < 65536) {
    f.push_back(static_cast<char>(0x80 | 126));
    f.push_back(static_cast<char>(n >> 8));
    f.push_back(static_cast<char>(n & 0xff));
  } else {
    f.push_back(static_cast<char>(0x80 | 127));
    for (int i = 7; i >= 0; --i) f.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  }
  f.append(reinterpret_cast<const char*>(kMask), 4);
  size_t start = f.size();
  f.append(payload);
  for (size_t i = 0; i < n; ++i) f[start + i] = static_cast<char>(f[start + i] ^ kMask[i & 3]);
  write(c, f);
}

void Loop::close(Conn& c, const char* why) {
  if (c.state == Conn::State::closed) return;
  if (c.fd >= 0) {
    epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
    ::close(c.fd);
    c.fd = -1;
  }
  c.state = Conn::State::closed;
  std::string().swap(c.in);
  std::string().swap(c.frag);
  std::string().swap(c.stream);
  std::string().swap(c.out);
  if (handler_) handler_->on_closed(c, why);
}

int Loop::poll(int timeout_ms) {
  epoll_event evs[512];
  int n = epoll_wait(ep_, evs, 512, timeout_ms);
  for (int i = 0; i < n; ++i) {
    Conn& c = *static_cast<Conn*>(evs[i].data.ptr);
    if (c.state == Conn::State::closed) continue;
    uint32_t e = evs[i].events;
    if (c.state == Conn::State::connecting) {
      on_connected(c);
      continue;
    }
    if (e & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(c);
    if ((e & EPOLLOUT) && c.state != Conn::State::closed) flush(c);
  }
  return n < 0 ? 0 : n;
}

void Loop::on_connected(Conn& c) {
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) return close(c, strerror(err));
  std::string pending;
  pending.swap(c.out);
  arm(c, false);
  if (c.raw) {
    c.state = Conn::State::raw;
    write(c, pending);
    if (handler_) handler_->on_open(c);
  } else {
    c.state = Conn::State::upgrading;
    write(c, upgrade_);
    write(c, pending);
  }
}

void Loop::flush(Conn& c) {
  while (!c.out.empty()) {
    ssize_t n = ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      return close(c, "write failed");
    }
    c.out.erase(0, static_cast<size_t>(n));
  }
  std::string().swap(c.out);
  arm(c, false);
}

void Loop::on_readable(Conn& c) {
  for (int round = 0; round < 4; ++round) {
    ssize_t n = ::recv(c.fd, rbuf_.data(), rbuf_.size(), 0);
    if (n == 0) return close(c, "closed by server");
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EINTR) continue;
      return close(c, strerror(errno));
    }
    bytes_in_ += static_cast<uint64_t>(n);
    feed(c, std::string_view(rbuf_.data(), static_cast<size_t>(n)));
    if (c.state == Conn::State::closed || static_cast<size_t>(n) < rbuf_.size()) return;
  }
}

void Loop::feed(Conn& c, std::string_view data) {
  switch (c.state) {
    case Conn::State::raw:
      if (handler_) handler_->on_raw(c, data);
      return;
    case Conn::State::upgrading: {
      c.in.append(data);
      size_t end = c.in.find("\r\n\r\n");
      if (end == std::string::npos) {
        if (c.in.size() > kMaxHead) close(c, "upgrade response too long");
        return;
      }
      if (c.in.compare(0, 12, "HTTP/1.1 101") != 0) {
        std::string line = c.in.substr(0, c.in.find("\r\n"));
        static thread_local std::string why;
        why = "upgrade refused: " + line;
        return close(c, why.c_str());
      }
      std::string rest = c.in.substr(end + 4);
      std::string().swap(c.in);
      c.state = Conn::State::open;
      if (handler_) handler_->on_open(c);
      if (!rest.empty() && c.state == Conn::State::open) feed_ws(c, rest);
      return;
    }
    case Conn::State::open:
      feed_ws(c, data);
      return;
    default:
      return;
  }
}

void Loop::feed_ws(Conn& c, std::string_view data) {
  bool buffered = !c.in.empty();
  if (buffered) c.in.append(data);
  std::string_view buf = buffered ? std::string_view(c.in) : data;
  size_t off = 0;
  while (buf.size() - off >= 2) {
    auto b = reinterpret_cast<const uint8_t*>(buf.data() + off);
    bool fin = b[0] & 0x80;
    int opcode = b[0] & 0x0f;
    bool masked = b[1] & 0x80;
    uint64_t len = b[1] & 0x7f;
    size_t head = 2;
    if (len == 126) {
      if (buf.size() - off < 4) break;
      len = (uint64_t{b[2]} << 8) | b[3];
      head = 4;
    } else if (len == 127) {
      if (buf.size() - off < 10) break;
      len = 0;
      for (int i = 0; i < 8; ++i) len = (len << 8) | b[2 + i];
      head = 10;
    }
    size_t mask_at = head;
    if (masked) head += 4;
    if (buf.size() - off < head + len) break;
    std::string_view payload = buf.substr(off + head, len);
    std::string unmasked;
    if (masked) {  // servers must not mask; tolerate it anyway
      unmasked.assign(payload);
      for (size_t i = 0; i < unmasked.size(); ++i) unmasked[i] ^= b[mask_at + (i & 3)];
      payload = unmasked;
    }
    off += head + len;
    on_frame(c, fin, opcode, payload);
    if (c.state != Conn::State::open) return;
  }
  if (buffered) {
    c.in.erase(0, off);
    if (c.in.empty()) std::string().swap(c.in);
  } else if (off < buf.size()) {
    c.in.assign(buf.substr(off));
  }
}

void Loop::on_frame(Conn& c, bool fin, int opcode, std::string_view payload) {
  switch (opcode) {
    case 0x9:  // ping
      send_frame(c, 0xA, payload);
      return;
    case 0xA:  // pong
      return;
    case 0x8: {
      static thread_local std::string why;
      uint16_t code = payload.size() >= 2
                          ? static_cast<uint16_t>((static_cast<uint8_t>(payload[0]) << 8) |
                                                  static_cast<uint8_t>(payload[1]))
                          : 0;
      why = "ws close " + std::to_string(code) + " " +
            std::string(payload.size() > 2 ? payload.substr(2) : std::string_view());
      return close(c, why.c_str());
    }
    case 0x0:
      c.frag.append(payload);
      if (fin) {
        std::string msg;
        msg.swap(c.frag);
        if (handler_) handler_->on_message(c, c.frag_op, msg);
      }
      return;
    default:
      if (!fin) {
        c.frag_op = static_cast<uint8_t>(opcode);
        c.frag.assign(payload);
        return;
      }
      if (handler_) handler_->on_message(c, opcode, payload);
  }
}

}  // namespace fanout
