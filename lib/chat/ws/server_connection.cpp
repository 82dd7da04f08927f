// See server_connection.hpp. The life of a connection: open (messages flow), closing (we
// sent a close frame and wait for the peer's), closed (on_close has been called; the
// object lingers, invisible to its owner, only until the output is flushed or the close
// timeout passes, then frees itself). Destruction requested from inside a callback is
// deferred until the callback returns (depth_/dead_), so no frame of ours ever runs on
// freed memory.
//
// The socket is read with plain read() into one buffer per thread: the parser copies what
// it must keep (a partial header, the message being reassembled), so nothing per
// connection outlives the callback. Batched writes go through the loop's WriteBatch;
// the rest, and whatever a socket did not take, through an evbuffer written with
// evbuffer_write.
#include "chat/ws/server_connection.hpp"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "chat/net/listener.hpp"
#include "chat/ws/handshake.hpp"
#include "chat/ws/write_batch.hpp"

namespace chat::ws {
namespace {

constexpr size_t kReadBuffer = 64 * 1024;
constexpr int kReadRounds = 4;  // reads per callback while the socket keeps filling the buffer
std::atomic<size_t> g_live{0};  // live_count()

bool transient(int err) {
  return err == EAGAIN || err == EWOULDBLOCK || err == EINTR;
}

}  // namespace

ServerConnection* ServerConnection::accept(bufferevent* bev, std::string_view accept,
                                           Listener* listener, const Options& options,
                                           std::string_view extra_headers) {
  event_base* base = bufferevent_get_base(bev);
  int fd = bufferevent_getfd(bev);
  auto* conn = new ServerConnection(fd, listener, options);
  // Take the socket and whatever the HTTP side read past the request, then free its
  // bufferevent without closing the socket.
  evbuffer* in = bufferevent_get_input(bev);
  if (size_t n = evbuffer_get_length(in); n > 0) {
    conn->early_ = new std::string(n, '\0');
    evbuffer_copyout(in, conn->early_->data(), n);
  }
  evbuffer* leftover = bufferevent_get_output(bev);
  if (size_t n = evbuffer_get_length(leftover); n > 0) conn->put(evbuffer_pullup(leftover, -1), n);
  std::string response = server_handshake_response(accept, extra_headers);
  bufferevent_setcb(bev, nullptr, nullptr, nullptr, nullptr);
  bufferevent_disable(bev, EV_READ | EV_WRITE);
  bufferevent_setfd(bev, -1);
  bufferevent_free(bev);

  conn->read_ev_ = event_new(base, fd, EV_READ | EV_PERSIST, &ServerConnection::read_cb, conn);
  event_add(conn->read_ev_, nullptr);
  conn->put(response.data(), response.size());
  // Frames that arrived with the upgrade request: parse them from the loop, not from here.
  if (conn->early_) event_active(conn->read_ev_, EV_READ, 0);
  return conn;
}

ServerConnection::ServerConnection(int fd, Listener* listener, const Options& options)
    : fd_(fd),
      listener_(listener),
      batch_(options.batch),
      parser_(Role::server, options.max_message),
      close_timeout_ms_(options.close_timeout_ms) {
  g_live.fetch_add(1, std::memory_order_relaxed);
}

ServerConnection::~ServerConnection() {
  g_live.fetch_sub(1, std::memory_order_relaxed);
  if (batch_ && batch_slot_ != kNoSlot) batch_->remove(this);
  if (close_timer_) event_free(close_timer_);
  if (read_ev_) event_free(read_ev_);
  if (write_ev_) event_free(write_ev_);
  if (out_) evbuffer_free(out_);  // releases bytes held by reference
  delete early_;
  if (fd_ >= 0) ::close(fd_);
}

size_t ServerConnection::live_count() {
  return g_live.load(std::memory_order_relaxed);
}

evbuffer* ServerConnection::output() {
  if (!out_) out_ = evbuffer_new();
  return out_;
}

size_t ServerConnection::outbound_bytes() const {
  size_t n = out_ ? evbuffer_get_length(out_) : 0;
  if (batch_slot_ != kNoSlot) n += batch_->pending_[batch_slot_].bytes;
  return n;
}

size_t ServerConnection::unread_bytes() const {
  int n = 0;
  if (dead_ || ioctl(fd_, FIONREAD, &n) != 0 || n < 0) return 0;
  return static_cast<size_t>(n);
}

void ServerConnection::trim() {
  if (write_armed_ || dead_) return;
  if (out_ && evbuffer_get_length(out_) == 0) {
    evbuffer_free(out_);
    out_ = nullptr;
  }
  if (write_ev_) {
    event_free(write_ev_);
    write_ev_ = nullptr;
  }
}

std::string ServerConnection::peer() const {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (fd_ < 0 || getpeername(fd_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return {};
  return net::format_address(reinterpret_cast<sockaddr*>(&ss));
}

void ServerConnection::write_frame(Opcode opcode, std::string_view payload) {
  uint8_t header[max_header_size];
  size_t n = encode_header(header, opcode, payload.size(), true, nullptr);
  put(header, n);
  put(payload.data(), payload.size());
}

void ServerConnection::put(const void* data, size_t len, bool borrowed) {
  if (batch_ && !write_armed_) {
    batch_->append(this, data, len, borrowed);
    return;
  }
  // Unbatched, or behind bytes the socket did not take: the write event writes it.
  if (len > 0) evbuffer_add(output(), data, len);
  arm_write();
}

void ServerConnection::arm_write() {
  if (write_armed_ || !read_ev_) return;
  if (!write_ev_)
    write_ev_ = event_new(event_get_base(read_ev_), fd_, EV_WRITE | EV_PERSIST,
                          &ServerConnection::write_cb, this);
  event_add(write_ev_, nullptr);
  write_armed_ = true;
}

void ServerConnection::disarm_write() {
  if (!write_armed_) return;
  event_del(write_ev_);
  write_armed_ = false;
}

bool ServerConnection::write_out(int rounds, uint64_t* writes) {
  // One writev takes at most 128 chains: go on while the socket takes everything offered.
  for (int i = 0; i < rounds && out_ && evbuffer_get_length(out_) > 0; ++i) {
    int n = evbuffer_write(out_, fd_);
    if (writes) ++*writes;
    if (n < 0) return transient(errno);
    if (n == 0) break;
  }
  return true;
}

void ServerConnection::leave_batch() {
  if (!batch_) return;
  if (batch_slot_ != kNoSlot) {
    batch_->spill(batch_->pending_[batch_slot_], 0);
    batch_->remove(this);
  }
  batch_ = nullptr;
  if (outbound_bytes() > 0) arm_write();
}

void ServerConnection::detach_batch() {
  leave_batch();
}

bool ServerConnection::send_text_parts(std::string_view prefix, std::string_view tail) {
  if (state_ != State::open) return false;
  put_text(prefix, tail, false);
  return true;
}

bool ServerConnection::send_text_borrowed(std::string_view prefix, std::string_view tail) {
  if (state_ != State::open) return false;
  put_text(prefix, tail, true);
  return true;
}

void ServerConnection::put_text(std::string_view prefix, std::string_view tail, bool borrowed) {
  uint8_t head[max_header_size + 128];
  size_t n = encode_header(head, Opcode::text, prefix.size() + tail.size(), true, nullptr);
  if (prefix.size() <= sizeof head - n) {
    std::memcpy(head + n, prefix.data(), prefix.size());
    put(head, n + prefix.size());
  } else {
    put(head, n);
    put(prefix.data(), prefix.size());
  }
  put(tail.data(), tail.size(), borrowed);
}

bool ServerConnection::send(Opcode opcode, std::string_view payload) {
  if (state_ != State::open) return false;
  write_frame(opcode, payload);
  return true;
}

bool ServerConnection::send_ping(std::string_view payload) {
  if (state_ != State::open || payload.size() > 125) return false;
  write_frame(Opcode::ping, payload);
  return true;
}

bool ServerConnection::send_raw_frame(std::string_view frame) {
  if (state_ != State::open) return false;
  put(frame.data(), frame.size());
  return true;
}

void ServerConnection::send_close_frame(uint16_t code, std::string_view reason) {
  std::string payload = close_payload(code, reason);
  write_frame(Opcode::close, payload);
}

void ServerConnection::close(uint16_t code, std::string_view reason) {
  if (state_ != State::open) return;
  if (code != close_code::no_status && !valid_close_code(code)) code = close_code::normal;
  send_close_frame(code, reason);
  state_ = State::closing;
  close_code_ = code;
  if (!close_timer_) close_timer_ = evtimer_new(event_get_base(read_ev_), &timer_cb, this);
  timeval tv{close_timeout_ms_ / 1000, (close_timeout_ms_ % 1000) * 1000};
  evtimer_add(close_timer_, &tv);
}

void ServerConnection::abort() {
  if (depth_ > 0) {
    dead_ = true;
    state_ = State::closed;
    if (batch_ && batch_slot_ != kNoSlot) batch_->remove(this);
    if (read_ev_) event_del(read_ev_);
    disarm_write();
    return;
  }
  delete this;
}

void ServerConnection::release_if_dead() {
  if (dead_ && depth_ == 0) delete this;
}

// Reports the end once, then lingers until the output is written (or the timeout).
void ServerConnection::finish(uint16_t code, std::string_view reason) {
  if (state_ == State::closed) return;
  state_ = State::closed;
  event_del(read_ev_);
  Listener* l = listener_;
  listener_ = nullptr;
  ++depth_;
  if (l) l->on_close(*this, code, reason);
  --depth_;
  // The owner is done with us. Flush what is queued (our close frame at least), then go.
  if (dead_ || outbound_bytes() == 0) {
    dead_ = true;
    return;
  }
  leave_batch();  // the write event writes the rest, then write_cb frees us
  arm_write();
  if (!close_timer_) close_timer_ = evtimer_new(event_get_base(read_ev_), &timer_cb, this);
  timeval tv{close_timeout_ms_ / 1000, (close_timeout_ms_ % 1000) * 1000};
  evtimer_add(close_timer_, &tv);
}

void ServerConnection::read_cb(int, short, void* arg) {
  auto* self = static_cast<ServerConnection*>(arg);
  ++self->depth_;
  self->on_readable();
  --self->depth_;
  self->release_if_dead();
}

void ServerConnection::write_cb(int, short, void* arg) {
  auto* self = static_cast<ServerConnection*>(arg);
  if (self->dead_) return;  // deletion pending inside another callback
  bool ok = self->write_out(8, nullptr);
  if (self->state_ == State::closed) {  // lingering after on_close
    if (!ok || self->outbound_bytes() == 0) {
      self->dead_ = true;
      self->release_if_dead();
    }
    return;
  }
  if (!ok) {
    ++self->depth_;
    self->on_broken(false);
    --self->depth_;
    self->release_if_dead();
    return;
  }
  if (self->outbound_bytes() > 0) return;
  self->disarm_write();  // drained: batched connections go back to writing once per turn
}

void ServerConnection::on_broken(bool eof) {
  if (state_ == State::closing)
    finish(close_code_, {});
  else
    finish(close_code::abnormal, eof ? "connection closed" : "connection error");
  dead_ = true;  // nothing more can be written to a broken socket
}

void ServerConnection::timer_cb(int, short, void* arg) {
  auto* self = static_cast<ServerConnection*>(arg);
  if (self->state_ == State::closed) {  // linger timed out
    if (self->depth_ == 0) delete self;
    return;
  }
  ++self->depth_;
  self->finish(self->close_code_, "close timeout");
  self->dead_ = true;
  --self->depth_;
  self->release_if_dead();
}

void ServerConnection::on_readable() {
  if (early_) {
    std::string early = std::move(*early_);
    delete early_;
    early_ = nullptr;
    consume(early.data(), early.size());
  }
  static thread_local char buf[kReadBuffer];
  for (int round = 0; round < kReadRounds && !dead_ && state_ != State::closed; ++round) {
    ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n > 0) {
      consume(buf, static_cast<size_t>(n));
      if (static_cast<size_t>(n) < sizeof buf) break;
      continue;
    }
    if (n < 0 && transient(errno)) break;
    on_broken(n == 0);
    return;
  }
  if (!dead_ && state_ != State::closed) parser_.shrink();
}

void ServerConnection::consume(const char* data, size_t len) {
  std::string_view chunk(data, len);
  size_t used = 0;
  while (used < chunk.size() && !dead_ && state_ != State::closed) {
    FrameEvent ev;
    size_t n = parser_.parse(chunk.substr(used), ev);
    used += n;
    switch (ev.kind) {
      case FrameEvent::Kind::none:
        if (n == 0) return;
        break;
      case FrameEvent::Kind::message:
        if (state_ == State::open && listener_) listener_->on_message(*this, ev.opcode, ev.payload);
        break;
      case FrameEvent::Kind::ping:
        if (state_ == State::open) write_frame(Opcode::pong, ev.payload);
        break;
      case FrameEvent::Kind::pong:
        break;
      case FrameEvent::Kind::close:
        peer_closed_ = true;
        if (state_ == State::open) {
          // Echo the peer's code, as RFC 6455 §5.5.1 suggests, then we are done.
          send_close_frame(ev.code, {});
          finish(ev.code, ev.reason);
        } else {
          finish(close_code_, ev.reason);
        }
        return;
      case FrameEvent::Kind::error:
        if (state_ == State::open) send_close_frame(ev.code, ev.reason);
        finish(ev.code, ev.reason);
        return;
    }
  }
}

}  // namespace chat::ws
