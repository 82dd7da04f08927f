// The networking stack end to end inside one process: a Listener on 127.0.0.1 port 0
// feeding http::Server, with the WebSocket upgrade going to ws::ServerConnection, driven
// by http::Client, ws::ClientConnection, raw pipelined bytes, and the blocking fetch()
// from a second thread. The admin endpoint is checked the same way.
#include <catch2/catch.hpp>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/thread.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "chat/http/admin_endpoint.hpp"
#include "chat/http/client.hpp"
#include "chat/http/response_parser.hpp"
#include "chat/http/server.hpp"
#include "chat/net/listener.hpp"
#include "chat/obs/metrics.hpp"
#include "chat/ws/client_connection.hpp"
#include "chat/ws/handshake.hpp"
#include "chat/ws/server_connection.hpp"

using namespace chat;

namespace {

// Echoes messages; "close-me" makes the server close with 4000.
struct EchoListener : ws::ServerConnection::Listener {
  int opened = 0;
  std::vector<uint16_t> closes;
  void on_message(ws::ServerConnection& c, ws::Opcode op, std::string_view payload) override {
    if (payload == "close-me") {
      c.close(4000, "bye");
      return;
    }
    if (payload == "abort-me") {
      c.abort();
      return;
    }
    c.send(op, payload);
  }
  void on_close(ws::ServerConnection&, uint16_t code, std::string_view) override {
    closes.push_back(code);
  }
};

// The fixture: one loop, one listener, one server with a few routes.
struct Rig {
  event_base* base = event_base_new();
  obs::Registry registry;
  std::unique_ptr<http::Server> server;
  std::unique_ptr<net::Listener> listener;
  EchoListener echo;
  std::vector<event*> timers;
  bool ready = true;

  Rig() {
    server = std::make_unique<http::Server>(
        base, [this](http::Request& req, http::Responder r) { handle(req, r); });
    server->set_upgrade_handler([this](http::Request& req, bufferevent* bev) {
      auto check = ws::check_server_handshake(req);
      if (!check.ok()) return false;
      ws::ServerConnection::accept(bev, check.accept, &echo, {});
      ++echo.opened;
      return true;
    });
    std::string error;
    listener = net::Listener::open(
        base, "127.0.0.1:0",
        [this](evutil_socket_t fd, const sockaddr*, int) { server->adopt(fd); }, {}, error);
    REQUIRE(listener);
    registry.counter("chat_test_things_total", "things").inc(3);
  }
  ~Rig() {
    listener.reset();
    server.reset();
    for (event* e : timers) event_free(e);
    event_base_free(base);
  }

  uint16_t port() const { return listener->port(); }

  void handle(http::Request& req, http::Responder r) {
    if (auto admin = http::admin_response(
            req, registry, [this] { return ready ? std::string() : std::string("starting"); })) {
      r.send(std::move(*admin));
      return;
    }
    if (req.path == "/echo") {
      r.send(http::Response::text(200, req.method + " " + req.target + " " + req.body));
      return;
    }
    if (req.path == "/slow") {  // answered 30 ms later, from a timer
      auto* held = new http::Responder(r);
      event* ev = evtimer_new(
          base,
          [](evutil_socket_t, short, void* arg) {
            auto* h = static_cast<http::Responder*>(arg);
            h->send(http::Response::text(200, "slow"));
            delete h;
          },
          held);
      timeval tv{0, 30000};
      evtimer_add(ev, &tv);
      timers.push_back(ev);
      return;
    }
    if (ws::check_server_handshake(req).status != 0 && req.is_upgrade()) {
      r.send(ws::handshake_error_response(ws::check_server_handshake(req)));
      return;
    }
    r.send(http::Response::error(404, "not found"));
  }

  void run_until(const std::function<bool()>& done, int max_ms = 3000) {
    for (int i = 0; i < max_ms / 5 && !done(); ++i) {
      timeval tv{0, 5000};
      event_base_loopexit(base, &tv);
      event_base_dispatch(base);
    }
  }
};

}  // namespace

TEST_CASE("http::Client against http::Server: keep-alive, async answers, order") {
  Rig rig;
  http::Client client(rig.base, "127.0.0.1", rig.port());
  std::vector<std::string> got;
  client.request("GET", "/slow", {}, {}, [&](http::Result r) { got.push_back(r.body); });
  client.request("POST", "/echo?a=1", {}, "body!", [&](http::Result r) {
    CHECK(r.status == 200);
    got.push_back(r.body);
  });
  client.request("GET", "/nope", {}, {}, [&](http::Result r) {
    CHECK(r.status == 404);
    CHECK(r.headers.get("Content-Type") == "application/json");
    got.push_back("404");
  });
  rig.run_until([&] { return got.size() == 3; });
  REQUIRE(got.size() == 3);
  CHECK(got[0] == "slow");
  CHECK(got[1] == "POST /echo?a=1 body!");
  CHECK(got[2] == "404");
  CHECK(rig.server->connection_count() == 1);  // one keep-alive connection for all three
}

TEST_CASE("pipelined requests are answered in order even when the first is slow") {
  Rig rig;
  evutil_socket_t fd = -1;
  bufferevent* bev = bufferevent_socket_new(rig.base, fd, BEV_OPT_CLOSE_ON_FREE);
  REQUIRE(bufferevent_socket_connect_hostname(bev, nullptr, AF_INET, "127.0.0.1", rig.port()) == 0);
  std::string reqs =
      "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n"
      "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n"
      "GET /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
  bufferevent_write(bev, reqs.data(), reqs.size());
  bufferevent_enable(bev, EV_READ | EV_WRITE);
  std::string received;
  rig.run_until([&] {
    evbuffer* in = bufferevent_get_input(bev);
    size_t n = evbuffer_get_length(in);
    std::string chunk(n, '\0');
    evbuffer_remove(in, chunk.data(), n);
    received += chunk;
    size_t count = 0;
    for (size_t at = received.find("HTTP/1.1 200"); at != std::string::npos;
         at = received.find("HTTP/1.1 200", at + 1))
      ++count;
    return count == 3 && received.size() > 3 &&
           received.substr(received.size() - 10) == "GET /echo ";
  });
  std::vector<std::string> bodies;
  std::string_view rest = received;
  while (!rest.empty()) {
    http::ResponseParser p;
    rest.remove_prefix(p.feed(rest));
    if (!p.done()) break;
    bodies.push_back(p.body());
  }
  REQUIRE(bodies.size() == 3);
  CHECK(bodies[0] == "slow");
  CHECK(bodies[1] == "GET /echo ");
  CHECK(received.find("Connection: close") != std::string::npos);
  bufferevent_free(bev);
}

TEST_CASE("errors from the parser reach the client as statuses") {
  Rig rig;
  std::thread loop([&] { rig.run_until([] { return false; }, 600); });
  http::Headers big;
  big.add("X-Big", std::string(20000, 'x'));
  auto r = http::fetch("GET", "http://127.0.0.1:" + std::to_string(rig.port()) + "/echo", big);
  CHECK(r.ok());
  CHECK(r.status == 431);
  auto ok = http::fetch("PUT", "http://127.0.0.1:" + std::to_string(rig.port()) + "/echo", {}, "x");
  CHECK(ok.status == 200);
  CHECK(ok.body == "PUT /echo x");
  auto refused = http::fetch("GET", "http://127.0.0.1:1/", {}, {}, 1000);
  CHECK_FALSE(refused.ok());
  loop.join();
}

TEST_CASE("admin routes: healthz, readyz, metrics") {
  evthread_use_pthreads();
  Rig rig;
  auto admin = http::start_admin_http(rig.base, "127.0.0.1:0", rig.registry,
                                      [&rig] { return rig.ready ? "" : std::string("loading"); });
  REQUIRE(admin.endpoint);
  std::string base_url = "http://127.0.0.1:" + std::to_string(admin.endpoint->port());
  std::thread loop([&] { rig.run_until([] { return false; }, 600); });
  auto h = http::fetch("GET", base_url + "/healthz");
  CHECK(h.status == 200);
  CHECK(h.body == R"({"status":"ok"})");
  CHECK(h.headers.get("Content-Type") == "application/json");
  auto m = http::fetch("GET", base_url + "/metrics");
  CHECK(m.status == 200);
  CHECK(m.headers.get("Content-Type") == "text/plain; version=0.0.4");
  CHECK(m.body.find("chat_test_things_total 3") != std::string::npos);
  rig.ready = false;
  auto r = http::fetch("GET", base_url + "/readyz");
  CHECK(r.status == 503);
  CHECK(r.body.find("loading") != std::string::npos);
  CHECK(http::fetch("GET", base_url + "/other").status == 404);
  loop.join();
  auto clash = http::start_admin_http(
      rig.base, "127.0.0.1:" + std::to_string(admin.endpoint->port()), rig.registry, {});
  CHECK_FALSE(clash.endpoint);
  CHECK_FALSE(clash.error.empty());
}

namespace {

struct ClientLog : ws::ClientConnection::Listener {
  bool opened = false;
  std::vector<std::string> messages;
  int close_code = -1;
  std::string close_reason;
  std::function<void(ws::ClientConnection&)> on_open_fn;
  void on_open(ws::ClientConnection& c) override {
    opened = true;
    if (on_open_fn) on_open_fn(c);
  }
  void on_message(ws::ClientConnection&, ws::Opcode op, std::string_view p) override {
    messages.push_back((op == ws::Opcode::text ? "t:" : "b:") + std::string(p));
  }
  void on_close(ws::ClientConnection&, uint16_t code, std::string_view reason) override {
    close_code = code;
    close_reason = reason;
  }
};

}  // namespace

TEST_CASE("WebSocket echo through the upgrade, server-initiated close") {
  Rig rig;
  ClientLog log;
  std::string url = "ws://127.0.0.1:" + std::to_string(rig.port()) + "/gateway?v=10";
  ws::ClientConnection client(rig.base, url, &log);
  client.send_text("early");  // queued until the handshake is done
  log.on_open_fn = [](ws::ClientConnection& c) {
    c.send_text("hello");
    c.send_binary(std::string("\x00\x01", 2));
    c.send_text(std::string(70000, 'L'));
    c.send_ping("p");
  };
  rig.run_until([&] { return log.messages.size() == 4; });
  REQUIRE(log.messages.size() == 4);
  CHECK(log.messages[0] == "t:early");
  CHECK(log.messages[1] == "t:hello");
  CHECK(log.messages[2] == std::string("b:\x00\x01", 4));
  CHECK(log.messages[3].size() == 70002);
  CHECK(rig.server->connection_count() == 0);  // the WebSocket left the HTTP server
  client.send_text("close-me");
  rig.run_until([&] { return log.close_code != -1 && !rig.echo.closes.empty(); });
  CHECK(log.close_code == 4000);
  CHECK(log.close_reason == "bye");
  REQUIRE(rig.echo.closes.size() == 1);
  CHECK(rig.echo.closes[0] == 4000);
}

TEST_CASE("WebSocket: client close, protocol errors, bad handshakes") {
  Rig rig;
  std::string url = "ws://127.0.0.1:" + std::to_string(rig.port()) + "/gateway";
  {
    ClientLog log;
    ws::ClientConnection c(rig.base, url, &log);
    log.on_open_fn = [](ws::ClientConnection& c) { c.close(1000, "done"); };
    rig.run_until([&] { return log.close_code != -1 && rig.echo.closes.size() == 1; });
    CHECK(log.close_code == 1000);
    REQUIRE(rig.echo.closes.size() == 1);
    CHECK(rig.echo.closes[0] == 1000);
  }
  {
    ClientLog log;
    ws::ClientConnection c(rig.base, url, &log);
    log.on_open_fn = [](ws::ClientConnection& c) {
      c.send_frame(ws::Opcode::text, "\xC0\xAF", true);
    };
    rig.run_until([&] { return log.close_code != -1; });
    CHECK(log.close_code == 1007);
  }
  {
    ClientLog log;
    ws::ClientConnection c(rig.base, url, &log);
    log.on_open_fn = [](ws::ClientConnection& c) {
      c.send_frame(ws::Opcode::text, "x", true, false);
    };
    rig.run_until([&] { return log.close_code != -1; });
    CHECK(log.close_code == 1002);
  }
  {
    ClientLog log;
    ws::ClientConnection c(rig.base, url, &log);
    log.on_open_fn = [](ws::ClientConnection& c) { c.send_text("abort-me"); };
    rig.run_until([&] { return log.close_code != -1; });
    CHECK(log.close_code == 1006);
  }
  {
    ClientLog log;
    ws::ClientConnection c(rig.base, "ws://127.0.0.1:1/", &log);
    rig.run_until([&] { return log.close_code != -1; });
    CHECK(log.close_code == 1006);
    CHECK_FALSE(log.opened);
  }
  {
    ClientLog log;
    ws::ClientConnection c(rig.base, "not a url", &log);
    CHECK(log.close_code == -1);  // never synchronous
    rig.run_until([&] { return log.close_code != -1; });
    CHECK(log.close_code == 1006);
  }
  {
    // Destroying the handle from inside a callback is allowed.
    struct Destroyer : ws::ClientConnection::Listener {
      std::unique_ptr<ws::ClientConnection> self;
      bool done = false;
      void on_message(ws::ClientConnection&, ws::Opcode, std::string_view) override {
        self.reset();
        done = true;
      }
      void on_close(ws::ClientConnection&, uint16_t, std::string_view) override {}
    } d;
    d.self = std::make_unique<ws::ClientConnection>(rig.base, url, &d);
    d.self->send_text("x");
    rig.run_until([&] { return d.done; });
    CHECK(d.done);
    // 1000, 1007, 1002, then this one's drop (abort() reports nothing).
    rig.run_until([&] { return rig.echo.closes.size() == 4; });
    REQUIRE(rig.echo.closes.size() == 4);
    CHECK(rig.echo.closes[3] == 1006);
  }
}
