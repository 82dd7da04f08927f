// ejabberd adapter: XMPP over WebSocket (RFC 7395, subprotocol "xmpp"), one stanza per
// text frame. Each connection opens the stream, authenticates with SASL ANONYMOUS, opens
// the stream again, binds a resource and joins the MUC room <room>@conference.localhost
// without history. The sender joins first: it creates the room, which stays locked until
// its owner submits the (empty) configuration form, so it does that before it reports
// ready; subscribers then join and are ready on their own presence (status code 110).
// A groupchat <message> carrying the marker is a delivery.
#include "adapter.hpp"

namespace fanout {

namespace {

enum Step : uint8_t { k_open, k_auth, k_reopen, k_bind, k_join, k_config, k_ready };

bool has(std::string_view s, std::string_view what) {
  return s.find(what) != std::string_view::npos;
}

bool has_attr(std::string_view s, std::string_view name, std::string_view value) {
  std::string a = std::string(name) + "='" + std::string(value) + "'";
  std::string b = std::string(name) + "=\"" + std::string(value) + "\"";
  return has(s, a) || has(s, b);
}

class XmppAdapter : public Adapter {
 public:
  XmppAdapter(Loop& loop, Events& events, const AdapterOptions& o)
      : Adapter(loop, events, o), room_(o.room + o.tag + "@conference.localhost") {}

  std::string path() const override { return "/ws"; }
  std::string subprotocol() const override { return "xmpp"; }

  void on_open(Conn& c) override {
    if (c.sender) sender_ = &c;
    c.app = k_open;
    loop_.send_frame(c, 1, kOpen);
  }

  void on_message(Conn& c, int, std::string_view s) override {
    if (c.app == k_ready) {
      if (s.compare(0, 8, "<message") == 0) events_.delivery(c, s);
      return;
    }
    if (has(s, "<close") || has(s, "stream:error") || has(s, "<failure"))
      return loop_.close(c, note(s));
    switch (c.app) {
      case k_open:
        if (!has(s, "<mechanisms")) return;
        if (!has(s, "ANONYMOUS")) return loop_.close(c, "no SASL ANONYMOUS offered");
        c.app = k_auth;
        return loop_.send_frame(
            c, 1, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='ANONYMOUS'/>");
      case k_auth:
        if (!has(s, "<success")) return;
        c.app = k_reopen;
        return loop_.send_frame(c, 1, kOpen);
      case k_reopen:
        if (!has(s, "<bind")) return;
        c.app = k_bind;
        return loop_.send_frame(c, 1,
                                "<iq type='set' id='fanout-bind'><bind "
                                "xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>");
      case k_bind:
        if (!has(s, "fanout-bind")) return;
        if (!has_attr(s, "type", "result")) return loop_.close(c, note(s));
        c.app = k_join;
        return loop_.send_frame(c, 1,
                                "<presence to='" + room_ + "/" + (c.sender ? "owner" : "s") +
                                    opt_.tag + "-" + std::to_string(c.id) +
                                    "'><x xmlns='http://jabber.org/protocol/muc'><history "
                                    "maxstanzas='0'/></x></presence>");
      case k_join:
        if (s.compare(0, 9, "<presence") != 0) return;
        if (has_attr(s, "type", "error")) return loop_.close(c, note(s));
        if (!has_attr(s, "code", "110")) return;  // someone else's presence
        if (c.sender && has_attr(s, "code", "201")) {
          c.app = k_config;
          return loop_.send_frame(c, 1,
                                  "<iq type='set' id='fanout-cfg' to='" + room_ +
                                      "'><query xmlns='http://jabber.org/protocol/muc#owner'>"
                                      "<x xmlns='jabber:x:data' type='submit'/></query></iq>");
        }
        c.app = k_ready;
        c.ready = true;
        return events_.ready(c);
      case k_config:
        if (!has(s, "fanout-cfg")) return;
        if (!has_attr(s, "type", "result")) return loop_.close(c, note(s));
        c.app = k_ready;
        c.ready = true;
        return events_.ready(c);
      default:
        return;
    }
  }

  bool publish(std::string_view text) override {
    if (!sender_ || sender_->state != Conn::State::open || !sender_->ready) return false;
    msg_ = "<message to='" + room_ + "' type='groupchat'><body>";
    msg_.append(text);
    msg_ += "</body></message>";
    loop_.send_frame(*sender_, 1, msg_);
    return true;
  }

  void on_closed(Conn& c, const char* why) override {
    if (&c == sender_) sender_ = nullptr;
    Adapter::on_closed(c, why);
  }

 private:
  // Keeps the first 200 bytes of a refusal as the close reason.
  const char* note(std::string_view s) {
    why_ = "xmpp: " + std::string(s.substr(0, 200));
    return why_.c_str();
  }

  static constexpr const char* kOpen =
      "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>";
  std::string room_;
  std::string msg_;
  std::string why_;
  Conn* sender_ = nullptr;
};

}  // namespace

std::unique_ptr<Adapter> make_xmpp_adapter(Loop& loop, Events& events, const AdapterOptions& o) {
  return std::make_unique<XmppAdapter>(loop, events, o);
}

}  // namespace fanout
