// The gateway session for tail -f; see gateway.hpp.
#include "gateway.hpp"

#include <event2/event.h>

#include <algorithm>

#include "app.hpp"

namespace chat::ctl {

using json = nlohmann::json;

namespace {

constexpr long kHelloTimeoutMs = 15000;
constexpr long kBackoffFirstMs = 250;
constexpr long kBackoffMaxMs = 30000;

}  // namespace

GatewayFeed::GatewayFeed(event_base* base, std::string url, std::string token, Listener& listener)
    : base_(base),
      url_(std::move(url)),
      token_(std::move(token)),
      listener_(listener),
      rng_(std::random_device{}()) {
  heartbeat_ = evtimer_new(base_, &GatewayFeed::on_timer, this);
  retry_ = evtimer_new(base_, &GatewayFeed::on_retry, this);
}

GatewayFeed::~GatewayFeed() {
  conn_.reset();
  event_free(heartbeat_);
  event_free(retry_);
}

void GatewayFeed::arm_timer(event* ev, long ms) {
  timeval tv{ms / 1000, static_cast<suseconds_t>((ms % 1000) * 1000)};
  evtimer_add(ev, &tv);
}

void GatewayFeed::start() {
  stopped_ = false;
  connect();
}

void GatewayFeed::connect() {
  hello_seen_ = false;
  acked_ = true;
  seq_ = -1;
  conn_ = std::make_unique<ws::ClientConnection>(base_, url_, this);
  arm_timer(heartbeat_, kHelloTimeoutMs);
}

void GatewayFeed::stop() {
  stopped_ = true;
  evtimer_del(heartbeat_);
  evtimer_del(retry_);
  if (conn_ && conn_->is_open()) {
    conn_->close(ws::close_code::normal);
  } else {
    conn_.reset();
    listener_.on_stopped();
  }
}

// Drops what is left of the connection, tells the listener and schedules the reconnect.
void GatewayFeed::lost(const std::string& why) {
  conn_.reset();
  evtimer_del(heartbeat_);
  if (stopped_) return;
  long cap = std::min(kBackoffMaxMs, kBackoffFirstMs << std::min(attempt_, 10));
  ++attempt_;
  long delay = cap / 2 + static_cast<long>(rng_() % static_cast<unsigned long>(cap / 2 + 1));
  arm_timer(retry_, delay);
  listener_.on_lost(why);
}

void GatewayFeed::reconnect_later(const std::string& why) {
  lost(why);
}

void GatewayFeed::on_retry(int, short, void* arg) {
  auto* self = static_cast<GatewayFeed*>(arg);
  if (!self->stopped_) self->connect();
}

void GatewayFeed::on_timer(int, short, void* arg) {
  auto* self = static_cast<GatewayFeed*>(arg);
  if (!self->conn_) return;
  if (!self->hello_seen_) {
    self->lost("no HELLO from the gateway");
    return;
  }
  if (!self->acked_) {
    self->lost("no heartbeat ACK from the gateway");
    return;
  }
  self->send_heartbeat();
  self->arm_timer(self->heartbeat_, self->interval_ms_);
}

void GatewayFeed::send_heartbeat() {
  json beat = {{"op", 1}, {"d", seq_ < 0 ? json(nullptr) : json(seq_)}};
  acked_ = false;
  conn_->send_text(beat.dump());
}

void GatewayFeed::on_open(ws::ClientConnection&) {}

void GatewayFeed::on_message(ws::ClientConnection&, ws::Opcode opcode, std::string_view payload) {
  if (opcode != ws::Opcode::text) return;
  json frame = json::parse(payload, nullptr, false);
  if (!frame.is_object() || !frame.contains("op") || !frame["op"].is_number_integer()) return;
  int op = frame["op"].get<int>();
  const json& d = frame.contains("d") ? frame["d"] : json();
  switch (op) {
    case 10: {  // HELLO: heartbeat from a random point of the first interval, IDENTIFY
      hello_seen_ = true;
      if (d.is_object() && d.contains("heartbeat_interval") && d["heartbeat_interval"].is_number())
        interval_ms_ = std::max(1000L, d["heartbeat_interval"].get<long>());
      arm_timer(heartbeat_, static_cast<long>(rng_() % static_cast<unsigned long>(interval_ms_)));
      json identify = {
          {"op", 2},
          {"d",
           {{"token", token_},
            {"intents", kIntents},
            {"properties", {{"os", "linux"}, {"browser", "chatctl"}, {"device", "chatctl"}}}}}};
      conn_->send_text(identify.dump());
      return;
    }
    case 11:  // HEARTBEAT_ACK
      acked_ = true;
      return;
    case 1:  // the server asks for a heartbeat now
      send_heartbeat();
      return;
    case 7:  // RECONNECT
      lost("the gateway asked us to reconnect");
      return;
    case 9:  // INVALID_SESSION
      lost("the gateway invalidated the session");
      return;
    case 0: {
      if (frame.contains("s") && frame["s"].is_number_integer()) seq_ = frame["s"].get<long long>();
      std::string type = frame.contains("t") && frame["t"].is_string()
                             ? frame["t"].get<std::string>()
                             : std::string();
      if (type == "READY") {
        attempt_ = 0;
        listener_.on_ready(d);
      } else {
        listener_.on_dispatch(type, d);
      }
      return;
    }
    default:
      return;
  }
}

void GatewayFeed::on_close(ws::ClientConnection&, uint16_t code, std::string_view reason) {
  std::string why = "connection closed (" + std::to_string(code) +
                    (reason.empty() ? "" : " " + std::string(reason)) + ")";
  if (stopped_) {
    conn_.reset();
    listener_.on_stopped();
    return;
  }
  if (code == 4004) {
    conn_.reset();
    evtimer_del(heartbeat_);
    stopped_ = true;
    listener_.on_fatal(exit_code::no_perm, "the gateway refused the token: " + why);
    return;
  }
  if (code >= 4010 && code <= 4014) {
    conn_.reset();
    evtimer_del(heartbeat_);
    stopped_ = true;
    listener_.on_fatal(exit_code::software, "the gateway refused the session: " + why);
    return;
  }
  lost(why);
}

}  // namespace chat::ctl
