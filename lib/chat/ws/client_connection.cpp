// See client_connection.hpp. States: connecting (TCP), handshaking (request sent, reading
// the 101 with ResponseParser), open, closing (our close frame sent), closed. The handle
// owns a shared Impl; callbacks keep the Impl alive for their own duration, so the
// handle may be destroyed from inside a listener call. Masked frames are written straight
// into the output buffer's reserved space, so a send copies the payload once.
#include "chat/ws/client_connection.hpp"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include <cstring>

#include "chat/http/client.hpp"
#include "chat/http/response_parser.hpp"
#include "chat/ws/handshake.hpp"

namespace chat::ws {

struct ClientConnection::Impl : std::enable_shared_from_this<ClientConnection::Impl> {
  enum class State { connecting, handshaking, open, closing, closed };

  ClientConnection* owner;
  Listener* listener;
  ClientOptions options;
  event_base* base;
  bufferevent* bev = nullptr;
  event* timer = nullptr;  // deferred failure, close timeout
  State state = State::connecting;
  http::Url url;
  std::string key;
  std::string failure;  // reported from the timer when set before connecting
  std::string early;    // frames sent before the handshake completed
  http::ResponseParser handshake;
  http::Headers response_headers;
  FrameParser parser;
  uint16_t close_code = close_code::normal;

  Impl(ClientConnection* o, event_base* b, Listener* l, ClientOptions opt)
      : owner(o),
        listener(l),
        options(std::move(opt)),
        base(b),
        handshake(1 << 20, 64 * 1024),
        parser(Role::client, options.max_message) {}

  ~Impl() {
    if (timer) event_free(timer);
    if (bev) bufferevent_free(bev);
  }

  void start(std::string_view u) {
    timer = evtimer_new(base, &Impl::timer_cb, this);
    std::string error;
    if (!http::parse_url(u, url, &error)) {
      fail_later(error);
      return;
    }
    if (url.scheme != "ws" && url.scheme != "http") {
      fail_later("only ws:// URLs are supported");
      return;
    }
    bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(bev, &Impl::read_cb, nullptr, &Impl::event_cb, this);
    timeval tv{options.connect_timeout_ms / 1000, (options.connect_timeout_ms % 1000) * 1000};
    bufferevent_set_timeouts(bev, &tv, &tv);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    if (bufferevent_socket_connect_hostname(bev, nullptr, AF_UNSPEC, url.host.c_str(), url.port) !=
        0)
      fail_later("cannot connect to " + url.host);
  }

  void fail_later(std::string why) {
    failure = std::move(why);
    timeval zero{0, 0};
    evtimer_add(timer, &zero);
  }

  // Reports the end (once) and drops the connection after flushing what is queued.
  void finish(uint16_t code, std::string_view reason) {
    if (state == State::closed) return;
    state = State::closed;
    if (timer) evtimer_del(timer);
    if (bev) {
      bufferevent_disable(bev, EV_READ);
      if (evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
        bufferevent_free(bev);
        bev = nullptr;
      } else {
        bufferevent_setcb(bev, nullptr, &Impl::drained_cb, &Impl::drained_event_cb, this);
        timeval tv{1, 0};
        bufferevent_set_timeouts(bev, nullptr, &tv);
      }
    }
    Listener* l = listener;
    listener = nullptr;
    if (l) l->on_close(*owner, code, reason);
  }

  static void drained_cb(bufferevent*, void* arg) {
    auto* self = static_cast<Impl*>(arg);
    bufferevent_free(self->bev);
    self->bev = nullptr;
  }
  static void drained_event_cb(bufferevent* b, short, void* arg) { drained_cb(b, arg); }

  void write_frame(Opcode opcode, std::string_view payload, bool fin, bool masked) {
    evbuffer* out = bufferevent_get_output(bev);
    uint32_t r = random_u32();
    uint8_t key[4];
    std::memcpy(key, &r, 4);
    uint8_t header[max_header_size];
    size_t n = encode_header(header, opcode, payload.size(), fin, masked ? key : nullptr);
    evbuffer_iovec vec;
    if (evbuffer_reserve_space(out, ev_ssize_t(n + payload.size()), &vec, 1) != 1) return;
    auto* p = static_cast<uint8_t*>(vec.iov_base);
    std::memcpy(p, header, n);
    if (!payload.empty()) std::memcpy(p + n, payload.data(), payload.size());
    if (masked) apply_mask(p + n, payload.size(), key, 0);
    vec.iov_len = n + payload.size();
    evbuffer_commit_space(out, &vec, 1);
  }

  bool send(Opcode opcode, std::string_view payload, bool fin, bool masked) {
    if (state == State::connecting || state == State::handshaking) {
      // Queue until open; masked now so the bytes can go out unchanged later.
      uint8_t key[4];
      uint32_t r = random_u32();
      std::memcpy(key, &r, 4);
      uint8_t header[max_header_size];
      size_t n = encode_header(header, opcode, payload.size(), fin, masked ? key : nullptr);
      size_t start = early.size();
      early.append(reinterpret_cast<char*>(header), n);
      early.append(payload);
      if (masked)
        apply_mask(reinterpret_cast<uint8_t*>(early.data() + start + n), payload.size(), key);
      return true;
    }
    if (state != State::open) return false;
    write_frame(opcode, payload, fin, masked);
    return true;
  }

  void close(uint16_t code, std::string_view reason) {
    if (state == State::connecting || state == State::handshaking) {
      if (failure.empty()) fail_later("closed before the handshake completed");
      return;
    }
    if (state != State::open) return;
    std::string payload = close_payload(code, reason);
    write_frame(Opcode::close, payload, true, true);
    state = State::closing;
    close_code = code;
    timeval tv{options.close_timeout_ms / 1000, (options.close_timeout_ms % 1000) * 1000};
    evtimer_add(timer, &tv);
  }

  static void timer_cb(evutil_socket_t, short, void* arg) {
    auto self = static_cast<Impl*>(arg)->shared_from_this();
    if (!self->failure.empty()) {
      std::string why = std::move(self->failure);
      self->finish(close_code::abnormal, why);
    } else if (self->state == State::closing) {
      self->finish(self->close_code, "close timeout");
    }
  }

  static void event_cb(bufferevent*, short what, void* arg) {
    auto self = static_cast<Impl*>(arg)->shared_from_this();
    if (what & BEV_EVENT_CONNECTED) {
      self->state = State::handshaking;
      self->key = random_key();
      std::string host = self->url.host.find(':') != std::string::npos ? "[" + self->url.host + "]"
                                                                       : self->url.host;
      host += ":" + std::to_string(self->url.port);
      std::string req =
          client_handshake_request(host, self->url.target, self->key, self->options.extra_headers);
      bufferevent_write(self->bev, req.data(), req.size());
      return;
    }
    if (self->state == State::closing) {
      self->finish(self->close_code, {});
      return;
    }
    std::string why;
    if (what & BEV_EVENT_TIMEOUT)
      why = self->state == State::open ? "timeout" : "connect or handshake timed out";
    else if (what & BEV_EVENT_EOF)
      why = "connection closed";
    else
      why =
          std::string("connection error: ") + evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR());
    self->finish(close_code::abnormal, why);
  }

  static void read_cb(bufferevent*, void* arg) {
    auto self = static_cast<Impl*>(arg)->shared_from_this();
    self->on_readable();
  }

  void on_readable() {
    evbuffer* in = bufferevent_get_input(bev);
    if (state == State::handshaking) {
      while (!handshake.done() && !handshake.failed()) {
        evbuffer_iovec vec;
        if (evbuffer_peek(in, -1, nullptr, &vec, 1) < 1 || vec.iov_len == 0) return;
        size_t used =
            handshake.feed(std::string_view(static_cast<const char*>(vec.iov_base), vec.iov_len));
        evbuffer_drain(in, used);
        if (used == 0) break;
      }
      if (handshake.failed()) {
        finish(close_code::abnormal, "bad handshake response: " + handshake.error());
        return;
      }
      if (!handshake.done()) return;
      std::string err = check_client_handshake(handshake.status(), handshake.headers(), key);
      if (!err.empty()) {
        finish(close_code::abnormal, err);
        return;
      }
      response_headers = std::move(handshake.headers());
      state = State::open;
      bufferevent_set_timeouts(bev, nullptr, nullptr);
      if (!early.empty()) {
        bufferevent_write(bev, early.data(), early.size());
        std::string().swap(early);
      }
      if (listener) listener->on_open(*owner);
      if (state == State::closed || !listener) return;
    }
    while (state == State::open || state == State::closing) {
      evbuffer_iovec vec;
      if (evbuffer_peek(in, -1, nullptr, &vec, 1) < 1 || vec.iov_len == 0) break;
      std::string_view chunk(static_cast<const char*>(vec.iov_base), vec.iov_len);
      size_t used = 0;
      bool stop = false;
      while (used < chunk.size() && !stop) {
        FrameEvent ev;
        size_t n = parser.parse(chunk.substr(used), ev);
        used += n;
        switch (ev.kind) {
          case FrameEvent::Kind::none:
            if (n == 0) stop = true;
            break;
          case FrameEvent::Kind::message:
            if (state == State::open && listener)
              listener->on_message(*owner, ev.opcode, ev.payload);
            break;
          case FrameEvent::Kind::ping:
            if (state == State::open) write_frame(Opcode::pong, ev.payload, true, true);
            break;
          case FrameEvent::Kind::pong:
            break;
          case FrameEvent::Kind::close:
            if (state == State::open) {
              write_frame(Opcode::close, close_payload(ev.code, {}), true, true);
              finish(ev.code, ev.reason);
            } else {
              finish(close_code, ev.reason);
            }
            stop = true;
            break;
          case FrameEvent::Kind::error:
            if (state == State::open)
              write_frame(Opcode::close, close_payload(ev.code, ev.reason), true, true);
            finish(ev.code, ev.reason);
            stop = true;
            break;
        }
        if (state == State::closed || !bev) stop = true;
      }
      if (!bev) return;
      evbuffer_drain(in, used);
      if (stop || used == 0) break;
    }
  }
};

ClientConnection::ClientConnection(event_base* base, std::string_view url, Listener* listener,
                                   Options options)
    : impl_(std::make_shared<Impl>(this, base, listener, std::move(options))) {
  impl_->start(url);
}

ClientConnection::~ClientConnection() {
  impl_->listener = nullptr;
  impl_->state = Impl::State::closed;
  if (impl_->timer) evtimer_del(impl_->timer);
  if (impl_->bev) {
    bufferevent_free(impl_->bev);
    impl_->bev = nullptr;
  }
}

bool ClientConnection::send(Opcode opcode, std::string_view payload) {
  return impl_->send(opcode, payload, true, true);
}

bool ClientConnection::send_ping(std::string_view payload) {
  if (payload.size() > 125) return false;
  return impl_->send(Opcode::ping, payload, true, true);
}

bool ClientConnection::send_frame(Opcode opcode, std::string_view payload, bool fin, bool masked) {
  return impl_->send(opcode, payload, fin, masked);
}

bool ClientConnection::send_raw(std::string_view bytes) {
  if (impl_->state != Impl::State::open && impl_->state != Impl::State::closing) return false;
  bufferevent_write(impl_->bev, bytes.data(), bytes.size());
  return true;
}

void ClientConnection::close(uint16_t code, std::string_view reason) {
  impl_->close(code, reason);
}

bool ClientConnection::is_open() const {
  return impl_->state == Impl::State::open;
}

size_t ClientConnection::outbound_bytes() const {
  return impl_->bev ? evbuffer_get_length(bufferevent_get_output(impl_->bev)) : 0;
}

const http::Headers& ClientConnection::handshake_headers() const {
  return impl_->response_headers;
}

}  // namespace chat::ws
