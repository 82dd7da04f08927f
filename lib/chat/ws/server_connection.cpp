// See server_connection.hpp. The life of a connection: open (messages flow), closing (we
// sent a close frame and wait for the peer's), closed (on_close has been called; the
// object lingers, invisible to its owner, only until the output is flushed or the close
// timeout passes, then frees itself). Destruction requested from inside a callback is
// deferred until the callback returns (depth_/dead_), so no frame of ours ever runs on
// freed memory.
#include "chat/ws/server_connection.hpp"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <sys/socket.h>

#include <cstring>

#include "chat/net/listener.hpp"
#include "chat/ws/handshake.hpp"
#include "chat/ws/write_batch.hpp"

namespace chat::ws {

ServerConnection* ServerConnection::accept(bufferevent* bev, std::string_view accept,
                                           Listener* listener, const Options& options,
                                           std::string_view extra_headers) {
  std::string response = server_handshake_response(accept, extra_headers);
  bufferevent_write(bev, response.data(), response.size());
  auto* conn = new ServerConnection(bev, listener, options);
  bufferevent_set_timeouts(bev, nullptr, nullptr);
  if (conn->batch_) {
    // The write event stays off; the batch writes the 101 at the end of this turn.
    bufferevent_setcb(bev, &ServerConnection::read_cb, &ServerConnection::write_cb,
                      &ServerConnection::event_cb, conn);
    bufferevent_disable(bev, EV_WRITE);
    bufferevent_enable(bev, EV_READ);
    conn->queued();
  } else {
    bufferevent_setcb(bev, &ServerConnection::read_cb, nullptr, &ServerConnection::event_cb, conn);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
  }
  // Frames that arrived with the upgrade request: parse them from the loop, not from here.
  if (evbuffer_get_length(bufferevent_get_input(bev)) > 0)
    bufferevent_trigger(bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS | BEV_TRIG_IGNORE_WATERMARKS);
  return conn;
}

ServerConnection::ServerConnection(bufferevent* bev, Listener* listener, const Options& options)
    : bev_(bev),
      listener_(listener),
      batch_(options.batch),
      parser_(Role::server, options.max_message),
      close_timeout_ms_(options.close_timeout_ms) {}

ServerConnection::~ServerConnection() {
  if (batch_ && batch_slot_ != kNoSlot) batch_->remove(this);
  if (close_timer_) event_free(close_timer_);
  if (bev_) bufferevent_free(bev_);
}

size_t ServerConnection::outbound_bytes() const {
  return bev_ ? evbuffer_get_length(bufferevent_get_output(bev_)) : 0;
}

std::string ServerConnection::peer() const {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (!bev_ || getpeername(bufferevent_getfd(bev_), reinterpret_cast<sockaddr*>(&ss), &len) != 0)
    return {};
  return net::format_address(reinterpret_cast<sockaddr*>(&ss));
}

void ServerConnection::write_frame(Opcode opcode, std::string_view payload) {
  uint8_t header[max_header_size];
  size_t n = encode_header(header, opcode, payload.size(), true, nullptr);
  evbuffer* out = bufferevent_get_output(bev_);
  evbuffer_add(out, header, n);
  if (!payload.empty()) evbuffer_add(out, payload.data(), payload.size());
  queued();
}

void ServerConnection::queued() {
  if (batch_ && !write_armed_ && batch_slot_ == kNoSlot) batch_->add(this);
}

void ServerConnection::flush_batched(WriteBatch& batch) {
  if (!bev_ || dead_) return;
  evbuffer* out = bufferevent_get_output(bev_);
  evutil_socket_t fd = bufferevent_getfd(bev_);
  // One writev takes at most 128 chains: go on while the socket takes everything offered.
  for (int i = 0; i < 8 && evbuffer_get_length(out) > 0; ++i) {
    evbuffer_unfreeze(out, 1);  // a socket bufferevent keeps the front of its output frozen
    int n = evbuffer_write(out, fd);
    evbuffer_freeze(out, 1);
    ++batch.writes_;
    if (n <= 0) break;  // EAGAIN, or an error the bufferevent will report when it writes
  }
  if (evbuffer_get_length(out) > 0) {
    write_armed_ = true;
    ++batch.armed_;
    bufferevent_enable(bev_, EV_WRITE);
  }
}

void ServerConnection::leave_batch() {
  if (!batch_) return;
  if (batch_slot_ != kNoSlot) batch_->remove(this);
  batch_ = nullptr;
  write_armed_ = false;
  if (bev_) bufferevent_enable(bev_, EV_WRITE);
}

void ServerConnection::detach_batch() {
  batch_slot_ = kNoSlot;
  leave_batch();
}

bool ServerConnection::send_text_parts(std::string_view prefix, std::string_view tail) {
  if (state_ != State::open) return false;
  uint8_t head[max_header_size + 96];
  size_t n = encode_header(head, Opcode::text, prefix.size() + tail.size(), true, nullptr);
  evbuffer* out = bufferevent_get_output(bev_);
  if (prefix.size() <= sizeof head - n) {
    std::memcpy(head + n, prefix.data(), prefix.size());
    evbuffer_add(out, head, n + prefix.size());
  } else {
    evbuffer_add(out, head, n);
    evbuffer_add(out, prefix.data(), prefix.size());
  }
  if (!tail.empty()) evbuffer_add(out, tail.data(), tail.size());
  queued();
  return true;
}

bool ServerConnection::send_text_ref(std::string_view prefix, const void* tail, size_t tail_len,
                                     ReleaseFn release, void* arg) {
  if (state_ != State::open) {
    release(tail, tail_len, arg);
    return false;
  }
  uint8_t head[max_header_size + 96];
  size_t n = encode_header(head, Opcode::text, prefix.size() + tail_len, true, nullptr);
  evbuffer* out = bufferevent_get_output(bev_);
  if (prefix.size() <= sizeof head - n) {
    std::memcpy(head + n, prefix.data(), prefix.size());
    evbuffer_add(out, head, n + prefix.size());
  } else {
    evbuffer_add(out, head, n);
    evbuffer_add(out, prefix.data(), prefix.size());
  }
  if (evbuffer_add_reference(out, tail, tail_len, release, arg) != 0) {
    evbuffer_add(out, tail, tail_len);  // no chain for the reference: copy instead
    release(tail, tail_len, arg);
  }
  queued();
  return true;
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
  evbuffer_add(bufferevent_get_output(bev_), frame.data(), frame.size());
  queued();
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
  if (!close_timer_) close_timer_ = evtimer_new(bufferevent_get_base(bev_), &timer_cb, this);
  timeval tv{close_timeout_ms_ / 1000, (close_timeout_ms_ % 1000) * 1000};
  evtimer_add(close_timer_, &tv);
}

void ServerConnection::abort() {
  if (depth_ > 0) {
    dead_ = true;
    state_ = State::closed;
    if (batch_ && batch_slot_ != kNoSlot) batch_->remove(this);
    if (bev_) bufferevent_disable(bev_, EV_READ | EV_WRITE);
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
  bufferevent_disable(bev_, EV_READ);
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
  bufferevent_setcb(bev_, nullptr, &ServerConnection::write_cb, &ServerConnection::event_cb, this);
  leave_batch();  // the bufferevent writes the rest, then write_cb frees us
  if (!close_timer_) close_timer_ = evtimer_new(bufferevent_get_base(bev_), &timer_cb, this);
  timeval tv{close_timeout_ms_ / 1000, (close_timeout_ms_ % 1000) * 1000};
  evtimer_add(close_timer_, &tv);
}

void ServerConnection::read_cb(bufferevent*, void* arg) {
  auto* self = static_cast<ServerConnection*>(arg);
  ++self->depth_;
  self->on_readable();
  --self->depth_;
  self->release_if_dead();
}

void ServerConnection::write_cb(bufferevent* bev, void* arg) {
  // The output is now empty.
  auto* self = static_cast<ServerConnection*>(arg);
  if (self->state_ == State::closed) {  // lingering after on_close: done
    if (self->depth_ == 0) delete self;
    return;
  }
  if (self->batch_ && self->write_armed_) {  // batched: back to writing once per turn
    self->write_armed_ = false;
    bufferevent_disable(bev, EV_WRITE);
  }
}

void ServerConnection::event_cb(bufferevent*, short what, void* arg) {
  auto* self = static_cast<ServerConnection*>(arg);
  if (self->state_ == State::closed) {  // lingering: the socket is gone or broken
    if (self->depth_ == 0) delete self;
    return;
  }
  ++self->depth_;
  if (self->state_ == State::closing)
    self->finish(self->close_code_, {});
  else
    self->finish(close_code::abnormal,
                 (what & BEV_EVENT_EOF) ? "connection closed" : "connection error");
  self->dead_ = true;  // nothing more can be written to a broken socket
  --self->depth_;
  self->release_if_dead();
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
  evbuffer* in = bufferevent_get_input(bev_);
  while (!dead_ && state_ != State::closed) {
    evbuffer_iovec vec;
    if (evbuffer_peek(in, -1, nullptr, &vec, 1) < 1 || vec.iov_len == 0) break;
    std::string_view chunk(static_cast<const char*>(vec.iov_base), vec.iov_len);
    size_t used = 0;
    bool stop = false;
    while (used < chunk.size() && !stop) {
      FrameEvent ev;
      size_t n = parser_.parse(chunk.substr(used), ev);
      used += n;
      switch (ev.kind) {
        case FrameEvent::Kind::none:
          if (n == 0) stop = true;
          break;
        case FrameEvent::Kind::message:
          if (state_ == State::open && listener_)
            listener_->on_message(*this, ev.opcode, ev.payload);
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
          stop = true;
          break;
        case FrameEvent::Kind::error:
          if (state_ == State::open) send_close_frame(ev.code, ev.reason);
          finish(ev.code, ev.reason);
          stop = true;
          break;
      }
      if (dead_ || state_ == State::closed) stop = true;
    }
    if (!dead_) evbuffer_drain(in, used);
    if (stop || used == 0) break;
  }
  if (!dead_ && state_ != State::closed && evbuffer_get_length(in) == 0) parser_.shrink();
}

}  // namespace chat::ws
