// One server-side WebSocket connection on a bufferevent taken over from http::Server's
// upgrade hook. It reads frames with FrameParser, answers pings, runs the closing
// handshake, and tells a Listener about messages and the close. The gateway holds up to a
// million of these, so an idle one is small: the bufferevent, a parser with empty
// buffers, a few pointers; the close timer is allocated only while closing.
//
// Ownership: the connection owns itself (and its bufferevent). It is created by accept()
// and destroys itself right after Listener::on_close returns, which is always the last
// callback, called exactly once. abort() destroys it at once, without on_close. Methods
// may be called from inside the Listener callbacks (including abort()).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "chat/ws/frame.hpp"

struct bufferevent;
struct event;

namespace chat::ws {

class ServerConnection {
 public:
  class Listener {
   public:
    virtual ~Listener() = default;
    // A complete text or binary message (text is valid UTF-8). The view is valid only
    // during the call.
    virtual void on_message(ServerConnection& conn, Opcode opcode, std::string_view payload) = 0;
    // The connection is finished: the peer's close code (1005 if none), the code we sent
    // on a protocol error, or 1006 if the TCP connection dropped without a close. The
    // object is destroyed right after this returns.
    virtual void on_close(ServerConnection& conn, uint16_t code, std::string_view reason) = 0;
  };

  struct Options {
    size_t max_message = 1 << 20;  // larger messages close with 1009
    int close_timeout_ms = 2000;   // after our close frame, wait this long for the peer's
  };

  // Writes the 101 response (with `accept` from check_server_handshake and optional
  // extra header lines, each ending "\r\n"), takes ownership of `bev` and starts reading;
  // bytes already in its input are parsed as frames. Never null.
  static ServerConnection* accept(bufferevent* bev, std::string_view accept, Listener* listener,
                                  const Options& options, std::string_view extra_headers = {});

  // Queue a message; false if closing or closed (the data is then dropped).
  bool send_text(std::string_view payload) { return send(Opcode::text, payload); }
  bool send_binary(std::string_view payload) { return send(Opcode::binary, payload); }
  bool send(Opcode opcode, std::string_view payload);
  bool send_ping(std::string_view payload = {});
  // Writes bytes that already hold complete frame(s), e.g. from encode_server_frame(), so
  // one encoding serves many connections.
  bool send_raw_frame(std::string_view frame);

  // Starts the closing handshake: sends a close frame, stops delivering messages, waits
  // for the peer's close (or the timeout) and the output to drain, then on_close(code,
  // reason) with our code. A second call does nothing.
  void close(uint16_t code = close_code::normal, std::string_view reason = {});
  // Drops the TCP connection now and destroys the object; no on_close.
  void abort();

  // Bytes queued in the socket's output buffer, not yet written (slow-consumer checks).
  size_t outbound_bytes() const;
  bool open() const { return state_ == State::open; }
  // Peer address, "1.2.3.4:5678" (computed on demand).
  std::string peer() const;
  // The owner's pointer (the session), for Listener implementations shared by many.
  void set_user(void* user) { user_ = user; }
  void* user() const { return user_; }
  void set_listener(Listener* listener) { listener_ = listener; }

 private:
  enum class State : uint8_t { open, closing, closed };
  ServerConnection(bufferevent* bev, Listener* listener, const Options& options);
  ~ServerConnection();
  static void read_cb(bufferevent* bev, void* arg);
  static void write_cb(bufferevent* bev, void* arg);
  static void event_cb(bufferevent* bev, short what, void* arg);
  static void timer_cb(int fd, short what, void* arg);
  void on_readable();
  void finish(uint16_t code, std::string_view reason);
  void send_close_frame(uint16_t code, std::string_view reason);
  void write_frame(Opcode opcode, std::string_view payload);
  void release_if_dead();

  bufferevent* bev_;
  Listener* listener_;
  void* user_ = nullptr;
  event* close_timer_ = nullptr;
  FrameParser parser_;
  int close_timeout_ms_;
  uint16_t close_code_ = 0;  // code we sent (for on_close when we started closing)
  State state_ = State::open;
  bool peer_closed_ = false;  // the peer's close frame arrived
  uint8_t depth_ = 0;         // > 0 while inside a callback (destruction is deferred)
  bool dead_ = false;         // destroy when depth_ returns to 0
};

}  // namespace chat::ws
