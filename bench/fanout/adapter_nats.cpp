// nats-server adapter: the NATS text protocol carried in WebSocket binary frames, read as
// one byte stream (the server may split or join protocol lines across frames). A
// subscriber sends CONNECT (verbose off, echo off), SUB room.<room> 1 and PING; the PONG
// tells it the subscription is in place. Server PINGs are answered with PONG. Each
// "MSG <subject> <sid> <n>\r\n<payload>\r\n" is one delivery; the sender publishes with PUB.
#include <cstdio>
#include <cstdlib>

#include "adapter.hpp"

namespace fanout {

namespace {

class NatsAdapter : public Adapter {
 public:
  NatsAdapter(Loop& loop, Events& events, const AdapterOptions& o)
      : Adapter(loop, events, o), subject_("room." + o.room) {
    hello_ =
        R"(CONNECT {"verbose":false,"pedantic":false,"echo":false,"protocol":1,"lang":"c","version":"fanout","name":"fanout"})"
        "\r\n";
  }

  std::string path() const override { return "/"; }

  void on_open(Conn& c) override {
    std::string s = hello_;
    if (c.sender) sender_ = &c;
    if (!c.sender) s += "SUB " + subject_ + " 1\r\n";
    s += "PING\r\n";
    loop_.send_frame(c, 2, s);
  }

  void on_message(Conn& c, int, std::string_view data) override {
    bool buffered = !c.stream.empty();
    if (buffered) c.stream.append(data);
    std::string_view buf = buffered ? std::string_view(c.stream) : data;
    size_t off = 0;
    while (off < buf.size()) {
      size_t eol = buf.find("\r\n", off);
      if (eol == std::string_view::npos) break;
      std::string_view line = buf.substr(off, eol - off);
      if (line.size() > 4 && line.compare(0, 4, "MSG ") == 0) {
        size_t sp = line.rfind(' ');
        size_t n = std::strtoull(std::string(line.substr(sp + 1)).c_str(), nullptr, 10);
        if (buf.size() < eol + 2 + n + 2) break;
        events_.delivery(c, buf.substr(eol + 2, n));
        off = eol + 2 + n + 2;
        continue;
      }
      off = eol + 2;
      if (line == "PING") {
        loop_.send_frame(c, 2, "PONG\r\n");
      } else if (line == "PONG") {
        if (!c.ready) {
          c.ready = true;
          events_.ready(c);
        }
      } else if (line.compare(0, 4, "-ERR") == 0) {
        if (errors_++ < 5)
          std::fprintf(stderr, "fanout: nats: %.*s\n", static_cast<int>(line.size()), line.data());
      }
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
    if (!sender_ || sender_->state != Conn::State::open) return false;
    pub_ = "PUB " + subject_ + " " + std::to_string(text.size()) + "\r\n";
    pub_.append(text);
    pub_ += "\r\n";
    loop_.send_frame(*sender_, 2, pub_);
    return true;
  }

  void on_closed(Conn& c, const char* why) override {
    if (&c == sender_) sender_ = nullptr;
    Adapter::on_closed(c, why);
  }

 private:
  std::string subject_;
  std::string hello_;
  std::string pub_;
  Conn* sender_ = nullptr;
  int errors_ = 0;
};

}  // namespace

std::unique_ptr<Adapter> make_nats_adapter(Loop& loop, Events& events, const AdapterOptions& o) {
  return std::make_unique<NatsAdapter>(loop, events, o);
}

}  // namespace fanout
