// gatewayd adapter: Discord gateway sessions as subscribers (HELLO op 10 -> IDENTIFY op 2
// -> READY; MESSAGE_CREATE dispatches are deliveries; op 1 heartbeats well inside the
// 41.25 s interval, carrying the last sequence number seen, as real clients do, so the
// server may drop what it keeps for RESUME; the first right after GUILD_CREATE) and a small pool of
// keep-alive HTTP connections as the sender, each with one REST POST /api/v10/channels/{c}/messages
// in flight at a time.
#include <strings.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "adapter.hpp"

namespace fanout {

namespace {

class GatewayAdapter : public Adapter {
 public:
  GatewayAdapter(Loop& loop, Events& events, const AdapterOptions& o) : Adapter(loop, events, o) {
    if (opt_.tokens.empty()) opt_.tokens.push_back(opt_.token);
    for (const std::string& t : opt_.tokens)
      identify_.push_back(
          R"({"op":2,"d":{"token":")" + t +
          R"(","intents":33281,"properties":{"os":"linux","browser":"fanout","device":"fanout"}}})");
    head_ = "POST /api/v10/channels/" + opt_.channel +
            "/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bot " + opt_.token +
            "\r\nContent-Type: application/json\r\nContent-Length: ";
  }

  std::string path() const override { return "/gateway?v=10&encoding=json"; }
  bool sender_raw() const override { return true; }
  int sender_connections() const override { return 32; }
  // A real client beats once per heartbeat_interval (41.25 s); gatewayd closes a session
  // after 1.5 intervals without one. Beating every 20 s doubled the idle cost of a held
  // session (the 1,000,000-session run is CPU-bound on heartbeats).
  int keepalive_s() const override { return 40; }
  int outstanding() const override { return outstanding_; }

  void keepalive(Conn& c) override {
    if (c.state != Conn::State::open) return;
    beat_ = c.seq ? R"({"op":1,"d":)" + std::to_string(c.seq) + "}" : R"({"op":1,"d":null})";
    loop_.send_frame(c, 1, beat_);
  }

  void on_open(Conn& c) override {
    if (c.sender) {
      senders_.push_back(&c);
      c.ready = true;
      events_.ready(c);
    }
  }

  void on_message(Conn& c, int, std::string_view p) override {
    note_seq(c, p);
    if (c.ready) {
      if (p.find("MESSAGE_CREATE") != std::string_view::npos) events_.delivery(c, p);
      // The first heartbeat, with the GUILD_CREATE's sequence number (a client whose
      // random jitter came out near 0); later ones come from keepalive().
      else if (p.find(R"("t":"GUILD_CREATE")") != std::string_view::npos)
        keepalive(c);
      return;
    }
    if (p.find(R"("op":10)") != std::string_view::npos) {
      loop_.send_frame(c, 1, identify_[c.id % identify_.size()]);
    } else if (p.find(R"("t":"READY")") != std::string_view::npos) {
      c.ready = true;
      events_.ready(c);
    } else if (p.find(R"("op":9)") != std::string_view::npos) {
      loop_.close(c, "invalid session (op 9)");
    }
  }

  bool publish(std::string_view text) override {
    for (size_t i = 0; i < senders_.size(); ++i) {
      Conn* c = senders_[(next_ + i) % senders_.size()];
      if (c->state != Conn::State::raw || c->inflight) continue;
      next_ = (next_ + i + 1) % senders_.size();
      std::string body = R"({"content":")" + std::string(text) + "\"}";
      std::string req = head_ + std::to_string(body.size()) + "\r\n\r\n" + body;
      ++c->inflight;
      ++outstanding_;
      c->sent_ns = mono_ns();
      loop_.write(*c, req);
      return true;
    }
    return false;
  }

  // HTTP/1.1 responses on a sender connection: head, then Content-Length bytes.
  void on_raw(Conn& c, std::string_view data) override {
    c.stream.append(data);
    while (true) {
      size_t end = c.stream.find("\r\n\r\n");
      if (end == std::string::npos) return;
      int status = c.stream.size() > 12 ? std::atoi(c.stream.c_str() + 9) : 0;
      size_t body = 0;
      for (size_t at = 0; at < end;) {
        size_t eol = c.stream.find("\r\n", at);
        if (eol == std::string::npos || eol > end) break;
        if (eol - at > 15 && strncasecmp(c.stream.c_str() + at, "content-length:", 15) == 0)
          body = std::strtoull(c.stream.c_str() + at + 15, nullptr, 10);
        at = eol + 2;
      }
      if (c.stream.size() < end + 4 + body) return;
      if (status != 200 && refusals_++ < 5)
        std::fprintf(stderr, "fanout: REST answered %d: %.*s\n", status,
                     static_cast<int>(std::min<size_t>(body, 200)), c.stream.c_str() + end + 4);
      c.stream.erase(0, end + 4 + body);
      if (c.inflight) --c.inflight;
      if (outstanding_) --outstanding_;
      events_.acked(status == 200, mono_ns() - c.sent_ns);
    }
  }

  void on_closed(Conn& c, const char* why) override {
    if (c.sender && c.inflight) {
      outstanding_ -= static_cast<int>(c.inflight);
      c.inflight = 0;
    }
    Adapter::on_closed(c, why);
  }

 private:
  // Dispatches start {"op":0,"t":"...","s":N: remember N for the next heartbeat.
  static void note_seq(Conn& c, std::string_view p) {
    size_t at = p.substr(0, 80).find(R"("s":)");
    if (at == std::string_view::npos) return;
    uint32_t n = 0;
    for (size_t i = at + 4; i < p.size() && p[i] >= '0' && p[i] <= '9'; ++i)
      n = n * 10 + static_cast<uint32_t>(p[i] - '0');
    if (n) c.seq = n;
  }

  std::vector<std::string> identify_;  // one per token
  std::string beat_;
  std::string head_;
  std::vector<Conn*> senders_;
  size_t next_ = 0;
  int outstanding_ = 0;
  int refusals_ = 0;
};

}  // namespace

std::unique_ptr<Adapter> make_gateway_adapter(Loop& loop, Events& events, const AdapterOptions& o) {
  return std::make_unique<GatewayAdapter>(loop, events, o);
}

}  // namespace fanout
