// See server.hpp. Each accepted socket becomes a Connection, held by the Server through a
// shared_ptr so Responders can hold weak references. A Connection keeps one slot per
// request it has dispatched, in order; a response fills its slot, and the leading run of
// filled slots is written out, which is all pipelining needs. Reading pauses while too
// many requests wait, while the output is large, and while an upgrade waits for earlier
// answers.
#include "chat/http/server.hpp"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include <deque>

#include "chat/obs/log.hpp"

namespace chat::http {

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(Server* server, bufferevent* bev)
      : server_(server), bev_(bev), parser_(server->options().limits) {}
  ~Connection() {
    if (bev_) bufferevent_free(bev_);
  }

  void start() {
    bufferevent_setcb(bev_, &Connection::read_cb, &Connection::write_cb, &Connection::event_cb,
                      this);
    set_timeouts(server_->options().idle_timeout_ms);
    bufferevent_enable(bev_, EV_READ | EV_WRITE);
  }

  void respond(uint64_t seq, Response&& response) {
    if (!bev_ || seq < base_seq_ || seq - base_seq_ >= pending_.size()) return;
    Slot& slot = pending_[seq - base_seq_];
    if (slot.ready) return;
    slot.ready = true;
    if (drain_) slot.close_after = true;
    serialize_response(response, !slot.close_after, slot.head_only, slot.bytes);
    auto self = shared_from_this();
    flush();
  }

  bool is_pending(uint64_t seq) const {
    return bev_ && seq >= base_seq_ && seq - base_seq_ < pending_.size() &&
           !pending_[seq - base_seq_].ready;
  }

  // For drain: idle connections close now, busy ones after their current answers.
  void drain() {
    drain_ = true;
    if (pending_.empty() && !parser_.started()) close();
  }

  void close() {
    if (!bev_) return;
    bufferevent_free(bev_);
    bev_ = nullptr;
    server_->forget(this);  // may drop the last owning reference; callers hold `self`
  }

 private:
  struct Slot {
    std::string bytes;
    bool ready = false;
    bool head_only = false;
    bool close_after = false;
  };

  static void read_cb(bufferevent*, void* arg) {
    auto self = static_cast<Connection*>(arg)->shared_from_this();
    self->process();
  }

  static void write_cb(bufferevent*, void* arg) {
    auto self = static_cast<Connection*>(arg)->shared_from_this();
    // The output drained completely.
    if (self->closing_) {
      self->close();
      return;
    }
    if (self->paused_) {
      self->paused_ = false;
      bufferevent_enable(self->bev_, EV_READ);
      self->process();
    }
  }

  static void event_cb(bufferevent*, short what, void* arg) {
    auto self = static_cast<Connection*>(arg)->shared_from_this();
    if (what & BEV_EVENT_TIMEOUT) {
      if ((what & BEV_EVENT_READING) && !self->pending_.empty() && !self->closing_) {
        // Waiting on our own handler, not on the client: keep going.
        bufferevent_enable(self->bev_, EV_READ);
        return;
      }
      if ((what & BEV_EVENT_READING) && self->parser_.started() && !self->closing_) {
        self->fail_request(408, "request timeout");
        return;
      }
    }
    self->close();
  }

  void set_timeouts(int ms) {
    if (ms <= 0) {
      bufferevent_set_timeouts(bev_, nullptr, nullptr);
      return;
    }
    timeval tv{ms / 1000, (ms % 1000) * 1000};
    bufferevent_set_timeouts(bev_, &tv, &tv);
  }

  size_t output_size() const { return evbuffer_get_length(bufferevent_get_output(bev_)); }

  // Parses and dispatches what the input holds, until it runs dry or we must pause.
  void process() {
    const ServerOptions& opt = server_->options();
    while (bev_ && !closing_ && !stop_reading_ && !upgrade_) {
      if (pending_.size() >= opt.max_pipelined || output_size() > opt.max_output) {
        paused_ = !pending_.empty() || output_size() > 0;
        if (paused_) bufferevent_disable(bev_, EV_READ);
        return;
      }
      evbuffer* in = bufferevent_get_input(bev_);
      if (evbuffer_get_length(in) == 0) return;
      bool was_started = parser_.started();
      evbuffer_iovec vec[8];
      int n = evbuffer_peek(in, -1, nullptr, vec, 8);
      size_t used = 0;
      for (int i = 0; i < n && i < 8; ++i) {
        std::string_view chunk(static_cast<const char*>(vec[i].iov_base), vec[i].iov_len);
        size_t u = parser_.feed(chunk);
        used += u;
        if (parser_.done() || parser_.failed() || u < chunk.size()) break;
      }
      evbuffer_drain(in, used);
      if (parser_.failed()) {
        fail_request(parser_.error_status(), parser_.error_reason());
        return;
      }
      if (!was_started && parser_.started() && !parser_.done()) set_timeouts(opt.read_timeout_ms);
      if (parser_.state() == RequestParser::State::body && !continue_sent_ &&
          parser_.request().headers.has_token("Expect", "100-continue")) {
        continue_sent_ = true;
        bufferevent_write(bev_, "HTTP/1.1 100 Continue\r\n\r\n", 25);
      }
      if (!parser_.done()) {
        if (used == 0) return;
        continue;
      }
      Request request = parser_.take_request();
      parser_.reset();
      continue_sent_ = false;
      set_timeouts(opt.idle_timeout_ms);
      if (request.is_upgrade() && server_->upgrade_) {
        upgrade_ = std::make_unique<Request>(std::move(request));
        bufferevent_disable(bev_, EV_READ);
        if (pending_.empty()) do_upgrade();
        return;
      }
      dispatch(request);
    }
  }

  void dispatch(Request& request) {
    ++server_->requests_total_;
    Slot slot;
    slot.head_only = request.method == "HEAD";
    slot.close_after = !request.keep_alive() || drain_;
    if (slot.close_after) stop_reading_ = true;
    pending_.push_back(std::move(slot));
    uint64_t seq = base_seq_ + pending_.size() - 1;
    server_->handler_(request, Responder(weak_from_this(), seq));
  }

  // Hands the bufferevent to the upgrade handler, or treats the request as ordinary.
  void do_upgrade() {
    std::unique_ptr<Request> request = std::move(upgrade_);
    bufferevent* bev = bev_;
    bufferevent_setcb(bev, nullptr, nullptr, nullptr, nullptr);
    bufferevent_set_timeouts(bev, nullptr, nullptr);
    bufferevent_disable(bev, EV_READ);
    ++server_->requests_total_;
    if (server_->upgrade_(*request, bev)) {
      bev_ = nullptr;
      server_->forget(this);
      return;
    }
    --server_->requests_total_;  // dispatch() counts it
    start();
    dispatch(*request);
    process();
  }

  // Answers a request we could not parse (or that timed out), then closes.
  void fail_request(int status, std::string_view why) {
    stop_reading_ = true;
    Slot slot;
    slot.close_after = true;
    slot.ready = true;
    serialize_response(Response::error(status, why), false, false, slot.bytes);
    pending_.push_back(std::move(slot));
    log::debug("http", "bad request", {{"status", status}, {"reason", why}});
    flush();
  }

  // Writes out the leading run of answered requests.
  void flush() {
    if (!bev_) return;
    while (!pending_.empty() && pending_.front().ready) {
      Slot& slot = pending_.front();
      bufferevent_write(bev_, slot.bytes.data(), slot.bytes.size());
      bool close_after = slot.close_after;
      pending_.pop_front();
      ++base_seq_;
      if (close_after) {
        closing_ = true;
        bufferevent_disable(bev_, EV_READ);
        pending_.clear();  // nothing after a closing answer is sent
        break;
      }
    }
    if (closing_) {
      if (output_size() == 0) close();
      return;  // write_cb closes once the output drains
    }
    if (pending_.empty() && upgrade_) {
      do_upgrade();
      return;
    }
    if (pending_.empty() && drain_ && !parser_.started()) {
      close();
      return;
    }
    if (paused_ && pending_.size() < server_->options().max_pipelined &&
        output_size() <= server_->options().max_output) {
      paused_ = false;
      bufferevent_enable(bev_, EV_READ);
      process();
    }
  }

  Server* server_;
  bufferevent* bev_;
  RequestParser parser_;
  std::deque<Slot> pending_;
  uint64_t base_seq_ = 0;             // sequence number of pending_.front()
  std::unique_ptr<Request> upgrade_;  // an upgrade waiting for earlier answers
  bool paused_ = false;               // reading disabled for back-pressure
  bool stop_reading_ = false;         // a request asked to close; read no further
  bool closing_ = false;              // close once the output drains
  bool drain_ = false;
  bool continue_sent_ = false;
};

void Responder::send(Response response) const {
  if (auto conn = conn_.lock()) conn->respond(seq_, std::move(response));
}

bool Responder::pending() const {
  auto conn = conn_.lock();
  return conn && conn->is_pending(seq_);
}

Server::Server(event_base* base, Handler handler, ServerOptions options)
    : base_(base), handler_(std::move(handler)), options_(options) {}

Server::~Server() {
  // Connections may outlive this through a callback frame or a Responder's lock; make
  // sure none can reach back into the server.
  auto conns = std::move(conns_);
  conns_.clear();
  for (auto& [raw, conn] : conns) conn->close();
}

void Server::adopt(evutil_socket_t fd) {
  bufferevent* bev = bufferevent_socket_new(base_, fd, BEV_OPT_CLOSE_ON_FREE);
  if (!bev) {
    evutil_closesocket(fd);
    log::warn("http", "cannot create bufferevent");
    return;
  }
  auto conn = std::make_shared<Connection>(this, bev);
  conns_.emplace(conn.get(), conn);
  conn->start();
}

void Server::close_idle() {
  std::vector<std::shared_ptr<Connection>> all;
  all.reserve(conns_.size());
  for (auto& [raw, conn] : conns_) all.push_back(conn);
  for (auto& conn : all) conn->drain();
}

void Server::forget(Connection* conn) {
  conns_.erase(conn);
}

}  // namespace chat::http
