// mosquitto adapter: MQTT 3.1.1 in WebSocket binary frames (subprotocol "mqtt"), read as a
// byte stream of packets (fixed header, variable-length "remaining length", body). A
// subscriber sends CONNECT (clean session, keepalive 600 s) and, on CONNACK, SUBSCRIBE to
// room/<room> at QoS 0; SUBACK makes it ready. Each PUBLISH it receives is a delivery.
// The sender publishes at QoS 0 and never subscribes. PINGREQ every 300 s keeps the
// connection inside its keepalive.
#include <cstdio>

#include "adapter.hpp"

namespace fanout {

namespace {

void put_u16(std::string& s, size_t v) {
  s.push_back(static_cast<char>((v >> 8) & 0xff));
  s.push_back(static_cast<char>(v & 0xff));
}

void put_varint(std::string& s, size_t v) {
  do {
    uint8_t b = v % 128;
    v /= 128;
    if (v) b |= 0x80;
    s.push_back(static_cast<char>(b));
  } while (v);
}

class MqttAdapter : public Adapter {
 public:
  MqttAdapter(Loop& loop, Events& events, const AdapterOptions& o)
      : Adapter(loop, events, o), topic_("room/" + o.room) {}

  std::string path() const override { return "/"; }
  std::string subprotocol() const override { return "mqtt"; }
  int keepalive_s() const override { return 300; }

  void keepalive(Conn& c) override {
    if (c.state == Conn::State::open) loop_.send_frame(c, 2, std::string("\xc0\x00", 2));
  }

  void on_open(Conn& c) override {
    if (c.sender) sender_ = &c;
    std::string id = (c.sender ? "p" : "s") + opt_.tag + "-" + std::to_string(c.id);
    std::string body;
    put_u16(body, 4);
    body += "MQTT";
    body.push_back(4);     // protocol level 3.1.1
    body.push_back(0x02);  // clean session
    put_u16(body, 600);    // keepalive seconds
    put_u16(body, id.size());
    body += id;
    std::string pkt(1, '\x10');
    put_varint(pkt, body.size());
    pkt += body;
    loop_.send_frame(c, 2, pkt);
  }

  void on_message(Conn& c, int, std::string_view data) override {
    bool buffered = !c.stream.empty();
    if (buffered) c.stream.append(data);
    std::string_view buf = buffered ? std::string_view(c.stream) : data;
    size_t off = 0;
    while (buf.size() - off >= 2) {
      auto p = reinterpret_cast<const uint8_t*>(buf.data() + off);
      size_t len = 0, mul = 1, i = 1;
      bool complete = false;
      for (; i < 5 && off + i < buf.size(); ++i) {
        len += (p[i] & 0x7f) * mul;
        mul *= 128;
        if (!(p[i] & 0x80)) {
          complete = true;
          ++i;
          break;
        }
      }
      if (!complete || buf.size() - off < i + len) break;
      std::string_view body = buf.substr(off + i, len);
      off += i + len;
      packet(c, p[0] >> 4, body);
      if (c.state == Conn::State::closed) return;
    }
    if (buffered) {
      c.stream.erase(0, off);
      if (c.stream.empty()) std::string().swap(c.stream);
    } else if (off < buf.size()) {
      c.stream.assign(buf.substr(off));
    }
  }

  bool publish(std::string_view text) override {
    if (!sender_ || sender_->state != Conn::State::open || !sender_->ready) return false;
    pub_.assign(1, '\x30');
    put_varint(pub_, 2 + topic_.size() + text.size());
    put_u16(pub_, topic_.size());
    pub_ += topic_;
    pub_.append(text);
    loop_.send_frame(*sender_, 2, pub_);
    return true;
  }

  void on_closed(Conn& c, const char* why) override {
    if (&c == sender_) sender_ = nullptr;
    Adapter::on_closed(c, why);
  }

 private:
  void packet(Conn& c, int type, std::string_view body) {
    switch (type) {
      case 2:  // CONNACK
        if (body.size() < 2 || body[1] != 0) return loop_.close(c, "CONNACK refused");
        if (c.sender) {
          c.ready = true;
          events_.ready(c);
          return;
        } else {
          std::string pkt(1, '\x82');
          put_varint(pkt, 2 + 2 + topic_.size() + 1);
          put_u16(pkt, 1);
          put_u16(pkt, topic_.size());
          pkt += topic_;
          pkt.push_back(0);
          loop_.send_frame(c, 2, pkt);
        }
        return;
      case 9:  // SUBACK
        if (body.size() < 3 || static_cast<uint8_t>(body[2]) == 0x80)
          return loop_.close(c, "SUBACK refused");
        c.ready = true;
        events_.ready(c);
        return;
      case 3: {  // PUBLISH (QoS 0: topic, then payload)
        if (body.size() < 2) return;
        size_t tl = (static_cast<uint8_t>(body[0]) << 8) | static_cast<uint8_t>(body[1]);
        if (body.size() < 2 + tl) return;
        events_.delivery(c, body.substr(2 + tl));
        return;
      }
      default:
        return;
    }
  }

  std::string topic_;
  std::string pub_;
  Conn* sender_ = nullptr;
};

}  // namespace

std::unique_ptr<Adapter> make_mqtt_adapter(Loop& loop, Events& events, const AdapterOptions& o) {
  return std::make_unique<MqttAdapter>(loop, events, o);
}

}  // namespace fanout
