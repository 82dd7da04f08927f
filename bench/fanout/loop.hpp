// The fan-out generator's I/O core: one epoll loop per thread owning many client
// connections, each either a WebSocket client (RFC 6455: HTTP upgrade, masked frames out,
// unmasked frames in, pings answered, fragments reassembled) or a raw TCP stream (the
// gatewayd REST sender). It knows no application protocol: complete WebSocket messages
// (or raw bytes) go to the loop's Handler, which is one protocol adapter.
//
// Kept lean because it shares the machine's two cores with the server being measured:
// no allocation per message on the read path unless a frame straddles two reads, one
// read buffer per loop, and client sockets bound to a chosen loopback source address
// (127.0.0.2, .3, ...) with IP_BIND_ADDRESS_NO_PORT so that each address gives its own
// ~64K ephemeral ports.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace fanout {

uint64_t mono_ns();

struct Conn {
  int fd = -1;
  uint32_t id = 0;  // index given by the caller (subscriber number, or sender slot)
  enum class State : uint8_t { connecting, upgrading, open, raw, closed } state = State::connecting;
  uint8_t app = 0;      // the adapter's per-connection state
  uint8_t frag_op = 0;  // opcode of the fragmented message being assembled
  bool ready = false;   // the adapter says it is set up (subscribed, joined, identified)
  bool probe = false;   // records latency
  bool sender = false;  // publishes; never counted as a subscriber
  bool raw = false;     // no WebSocket upgrade
  bool out_armed = false;
  uint32_t inflight = 0;  // adapter's use (outstanding HTTP requests)
  uint64_t sent_ns = 0;   // adapter's use (when the outstanding request was written)
  uint32_t seq = 0;       // adapter's use (gatewayd: last dispatch sequence number seen)
  std::string in;         // unparsed bytes: HTTP response head, or a partial WS frame
  std::string frag;       // fragmented WS message being assembled
  std::string stream;     // the adapter's unparsed bytes (NATS, MQTT, HTTP)
  std::string out;        // bytes the socket did not take yet
};

class Handler {
 public:
  virtual ~Handler() = default;
  // The WebSocket is open (or, for raw connections, TCP is connected).
  virtual void on_open(Conn& c) = 0;
  // One complete WebSocket message (opcode 1 text, 2 binary).
  virtual void on_message(Conn& c, int opcode, std::string_view payload) = 0;
  // Bytes of a raw connection.
  virtual void on_raw(Conn&, std::string_view) {}
  // The connection is gone (`why` says why); `c` stays valid but unusable.
  virtual void on_closed(Conn& c, const char* why) = 0;
};

struct Target {
  uint32_t addr = htonl(INADDR_LOOPBACK);  // network order
  uint16_t port = 0;
  std::string host_header;  // "127.0.0.1:8443"
  std::string path = "/";
  std::string subprotocol;  // Sec-WebSocket-Protocol, or empty
};

class Loop {
 public:
  explicit Loop(Target target);
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  void set_handler(Handler* h) { handler_ = h; }
  // The upgrade request's path and Sec-WebSocket-Protocol (empty: none).
  void set_upgrade(const std::string& path, const std::string& subprotocol);
  // Starts a connection from `src` (network order; 0 = kernel's choice). Returns null with
  // `errno_out` set when the socket cannot even be started (EADDRNOTAVAIL: out of ports).
  Conn* connect(uint32_t src, uint32_t id, bool raw, int& errno_out);
  void write(Conn& c, std::string_view bytes);
  // One masked frame, FIN set.
  void send_frame(Conn& c, int opcode, std::string_view payload);
  void close(Conn& c, const char* why);
  // Waits up to `timeout_ms` for events and handles them; returns the number handled.
  int poll(int timeout_ms);
  std::vector<std::unique_ptr<Conn>>& conns() { return conns_; }
  uint64_t bytes_in() const { return bytes_in_; }

 private:
  void on_connected(Conn& c);
  void on_readable(Conn& c);
  void flush(Conn& c);
  void feed(Conn& c, std::string_view data);
  void feed_ws(Conn& c, std::string_view data);
  void on_frame(Conn& c, bool fin, int opcode, std::string_view payload);
  void arm(Conn& c, bool want_out);

  Target target_;
  std::string upgrade_;  // the HTTP upgrade request, same for every connection
  int ep_ = -1;
  Handler* handler_ = nullptr;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::vector<char> rbuf_;
  std::string wscratch_;
  uint64_t bytes_in_ = 0;
};

}  // namespace fanout
