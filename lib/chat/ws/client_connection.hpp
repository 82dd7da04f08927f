// An asynchronous WebSocket client on an event_base, for tests, chatctl's tail and the
// load generator: connects to ws://host:port/path?query, performs the handshake, then
// sends masked frames and reports messages and the close to a Listener. The object is an
// owner's handle: destroying it drops the connection silently (no further callbacks),
// and it may be destroyed from inside its own callbacks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "chat/http/message.hpp"
#include "chat/ws/frame.hpp"

struct event_base;

namespace chat::ws {

struct ClientOptions {
  int connect_timeout_ms = 10000;  // TCP connect and handshake together
  int close_timeout_ms = 2000;
  size_t max_message = 64 << 20;
  http::Headers extra_headers;  // added to the upgrade request
};

class ClientConnection {
 public:
  class Listener {
   public:
    virtual ~Listener() = default;
    // Handshake done; sending is allowed from here on (frames sent before are queued).
    virtual void on_open(ClientConnection& conn) {}
    virtual void on_message(ClientConnection& conn, Opcode opcode, std::string_view payload) = 0;
    // Last callback: the peer's close code (1005 if none), ours on a protocol error, or
    // 1006 with the reason when connecting, the handshake or the TCP connection failed.
    virtual void on_close(ClientConnection& conn, uint16_t code, std::string_view reason) = 0;
  };

  using Options = ClientOptions;

  // Starts connecting; every outcome arrives through the listener, never synchronously
  // from here. `url` is ws://host[:port]/target; a bad URL is reported as on_close(1006).
  ClientConnection(event_base* base, std::string_view url, Listener* listener,
                   Options options = {});
  ~ClientConnection();
  ClientConnection(const ClientConnection&) = delete;
  ClientConnection& operator=(const ClientConnection&) = delete;

  bool send_text(std::string_view payload) { return send(Opcode::text, payload); }
  bool send_binary(std::string_view payload) { return send(Opcode::binary, payload); }
  bool send(Opcode opcode, std::string_view payload);
  bool send_ping(std::string_view payload = {});
  // Sends a frame as given, for tests of server behaviour (bad frames). fin/mask apply.
  bool send_frame(Opcode opcode, std::string_view payload, bool fin, bool masked = true);
  bool send_raw(std::string_view bytes);
  void close(uint16_t code = close_code::normal, std::string_view reason = {});

  bool is_open() const;
  size_t outbound_bytes() const;
  // Response headers of the handshake (e.g. for tests).
  const http::Headers& handshake_headers() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace chat::ws
