// The protocol adapters of the fan-out generator: one per system measured, each turning
// "subscribe to the room" and "publish this text to the room" into that system's protocol
// inside WebSocket frames, and reporting back through Events when a connection is set up,
// when a published text arrives, and when a connection fails.
//
//   gatewayd  Discord gateway (HELLO, IDENTIFY, READY; MESSAGE_CREATE dispatches; op 1
//             heartbeats) with REST POST /api/v10/channels/{c}/messages to publish.
//   nats      NATS text protocol over WebSocket (CONNECT, SUB, PING/PONG, MSG; PUB).
//   mqtt      MQTT 3.1.1 over WebSocket, subprotocol mqtt (CONNECT, SUBSCRIBE, PUBLISH QoS 0).
//   xmpp      XMPP over WebSocket, RFC 7395, subprotocol xmpp (open, SASL ANONYMOUS, bind,
//             MUC join; groupchat messages). The sender owns and unlocks the room.
//
// Published texts carry the marker "bench:<phase>:<send ns>:" and adapters never parse
// the surrounding JSON/XML: they hand the payload to Events::delivery, which looks for it.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "loop.hpp"

namespace fanout {

class Events {
 public:
  virtual ~Events() = default;
  virtual void ready(Conn& c) = 0;
  virtual void delivery(Conn& c, std::string_view payload) = 0;
  virtual void failed(Conn& c, const char* why) = 0;
  // A publish was acknowledged (gatewayd REST 200) or refused, `latency_ns` after it was
  // written.
  virtual void acked(bool, uint64_t) {}
};

struct AdapterOptions {
  std::string system;               // gatewayd | nats | mqtt | xmpp
  std::string token;                // gatewayd: bot/admin token
  std::vector<std::string> tokens;  // gatewayd: subscriber i identifies with tokens[i % n]
                                    // (empty: every subscriber uses `token`)
  std::string channel;              // gatewayd: channel id to post to
  std::string room = "bench";       // nats subject room.<room>, mqtt topic room/<room>, MUC room
  std::string tag;                  // makes client ids and nicks unique per run
};

class Adapter : public Handler {
 public:
  Adapter(Loop& loop, Events& events, const AdapterOptions& o)
      : loop_(loop), events_(events), opt_(o) {}
  // WebSocket path and subprotocol for this system.
  virtual std::string path() const = 0;
  virtual std::string subprotocol() const { return ""; }
  // Sender connections are raw TCP (HTTP) rather than WebSocket.
  virtual bool sender_raw() const { return false; }
  // How many sender connections to open.
  virtual int sender_connections() const { return 1; }
  // Publishes `text` on one of the ready sender connections; false when none can take it
  // now (the caller retries on its next turn, with a fresh timestamp).
  virtual bool publish(std::string_view text) = 0;
  // Requests not yet answered (gatewayd REST), so the sender can wait for them.
  virtual int outstanding() const { return 0; }
  // Seconds between keepalives the protocol needs from the client (0: none).
  virtual int keepalive_s() const { return 0; }
  virtual void keepalive(Conn&) {}

  void on_closed(Conn& c, const char* why) override { events_.failed(c, why); }

 protected:
  Loop& loop_;
  Events& events_;
  AdapterOptions opt_;
};

std::unique_ptr<Adapter> make_gateway_adapter(Loop& loop, Events& events, const AdapterOptions& o);
std::unique_ptr<Adapter> make_nats_adapter(Loop& loop, Events& events, const AdapterOptions& o);
std::unique_ptr<Adapter> make_mqtt_adapter(Loop& loop, Events& events, const AdapterOptions& o);
std::unique_ptr<Adapter> make_xmpp_adapter(Loop& loop, Events& events, const AdapterOptions& o);

}  // namespace fanout
