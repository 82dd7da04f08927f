// Gateway load generator (issue 2's benchmark). Opens N identified gateway sessions in one
// guild on one libevent loop, then one sender posts M messages over REST at a given rate.
// Every session records the latency from send to receipt of each MESSAGE_CREATE (the
// content carries the send time from CLOCK_MONOTONIC, same machine and same process),
// and at the end it prints p50/p99/max latency, deliveries per second, and gatewayd's RSS
// growth per idle session (read from /proc/<pid>/status before and after connecting).
//
// It finds the substring "bench:<ns>" in each frame instead of parsing the JSON, so that
// the generator's own CPU (it shares the 2 cores with gatewayd) stays small.
#include <event2/event.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "chat/http/client.hpp"
#include "chat/ws/client_connection.hpp"

using nlohmann::json;

namespace {

uint64_t mono_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

uint64_t rss_kb(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6));
  return 0;
}

struct Bench;

// One gateway session: HELLO -> IDENTIFY -> READY, then counts MESSAGE_CREATE frames.
class Session : public chat::ws::ClientConnection::Listener {
 public:
  Session(Bench& b) : bench_(b) {}
  void start(event_base* base, const std::string& url);
  void on_open(chat::ws::ClientConnection&) override {}
  void on_message(chat::ws::ClientConnection& c, chat::ws::Opcode, std::string_view p) override;
  void on_close(chat::ws::ClientConnection&, uint16_t code, std::string_view reason) override;
  void heartbeat() {
    if (conn_ && ready_) conn_->send_text("{\"op\":1,\"d\":null}");
  }
  bool ready_ = false;
  bool closed_ = false;

 private:
  Bench& bench_;
  std::unique_ptr<chat::ws::ClientConnection> conn_;
};

struct Bench {
  event_base* base = nullptr;
  std::string token;
  std::string ws_url;
  std::string host;
  uint16_t port = 0;
  uint64_t channel_id = 0;
  int sessions = 1000;
  int messages = 200;
  int rate = 100;  // messages per second
  int connect_batch = 200;
  int gateway_pid = 0;

  std::vector<std::unique_ptr<Session>> all;
  int ready = 0, failed = 0;
  std::vector<uint32_t> latencies_us;
  uint64_t deliveries = 0;
  uint64_t first_send_ns = 0, last_delivery_ns = 0;
  int sent = 0, acked = 0, send_errors = 0;
  uint64_t rss_before_kb = 0, rss_idle_kb = 0;
  std::unique_ptr<chat::http::Client> http;
  event* tick = nullptr;
  enum class Phase { connecting, settling, sending, draining, done } phase = Phase::connecting;
  uint64_t phase_start_ns = 0;
  int next_connect = 0;

  void on_ready() { ++ready; }
};

void Session::start(event_base* base, const std::string& url) {
  conn_ = std::make_unique<chat::ws::ClientConnection>(base, url, this);
}

void Session::on_message(chat::ws::ClientConnection& c, chat::ws::Opcode, std::string_view p) {
  if (!ready_) {
    if (p.find("\"op\":10") != std::string_view::npos) {
      json id = {
          {"op", 2},
          {"d",
           {{"token", bench_.token},
            {"intents", 1 | 512 | 32768},
            {"properties", {{"os", "linux"}, {"browser", "loadgen"}, {"device", "loadgen"}}}}}};
      c.send_text(id.dump());
    } else if (p.find("\"t\":\"READY\"") != std::string_view::npos) {
      ready_ = true;
      bench_.on_ready();
    }
    return;
  }
  auto pos = p.find("bench:");
  if (pos == std::string_view::npos) return;
  uint64_t now = mono_ns();
  uint64_t sent = std::strtoull(std::string(p.substr(pos + 6, 24)).c_str(), nullptr, 10);
  if (sent && now > sent) bench_.latencies_us.push_back(static_cast<uint32_t>((now - sent) / 1000));
  ++bench_.deliveries;
  bench_.last_delivery_ns = now;
}

void Session::on_close(chat::ws::ClientConnection&, uint16_t code, std::string_view reason) {
  if (!closed_ && !ready_) ++bench_.failed;
  if (!closed_ && ready_ && bench_.phase != Bench::Phase::done)
    std::fprintf(stderr, "loadgen: session closed code=%u reason=%.*s\n", code,
                 static_cast<int>(reason.size()), reason.data());
  closed_ = true;
}

json rest(const std::string& method, const std::string& url, const std::string& token,
          const json& body, int& status) {
  chat::http::Headers h;
  h.add("Authorization", "Bot " + token);
  h.add("Content-Type", "application/json");
  auto r = chat::http::fetch(method, url, h, body.is_null() ? "" : body.dump());
  status = r.status;
  if (!r.ok()) {
    std::fprintf(stderr, "loadgen: %s %s: %s\n", method.c_str(), url.c_str(), r.error.c_str());
    std::exit(69);
  }
  if (r.body.empty()) return json();
  return json::parse(r.body, nullptr, false);
}

void send_one(Bench& b) {
  ++b.sent;
  json body = {{"content", "bench:" + std::to_string(mono_ns()) + " n=" + std::to_string(b.sent)}};
  chat::http::Headers h;
  h.add("Authorization", "Bot " + b.token);
  h.add("Content-Type", "application/json");
  b.http->request("POST", "/api/v10/channels/" + std::to_string(b.channel_id) + "/messages", h,
                  body.dump(), [&b](chat::http::Result r) {
                    if (r.ok() && r.status == 200)
                      ++b.acked;
                    else
                      ++b.send_errors;
                  });
}

void on_tick(evutil_socket_t, short, void* arg) {
  Bench& b = *static_cast<Bench*>(arg);
  uint64_t now = mono_ns();
  switch (b.phase) {
    case Bench::Phase::connecting: {
      int opened = b.next_connect;
      for (int i = 0; i < b.connect_batch && b.next_connect < b.sessions; ++i, ++b.next_connect) {
        b.all.push_back(std::make_unique<Session>(b));
        b.all.back()->start(b.base, b.ws_url);
      }
      (void)opened;
      if (b.ready + b.failed >= b.sessions) {
        double secs = (now - b.phase_start_ns) / 1e9;
        std::printf("connected: %d sessions ready, %d failed, in %.2f s (%.0f sessions/s)\n",
                    b.ready, b.failed, secs, b.ready / secs);
        b.phase = Bench::Phase::settling;
        b.phase_start_ns = now;
      }
      break;
    }
    case Bench::Phase::settling:
      if (now - b.phase_start_ns > 2000000000ULL) {  // let allocators settle, then measure RSS
        if (b.gateway_pid) b.rss_idle_kb = rss_kb(b.gateway_pid);
        b.phase = Bench::Phase::sending;
        b.phase_start_ns = now;
        b.first_send_ns = now;
      }
      break;
    case Bench::Phase::sending: {
      uint64_t due = (now - b.phase_start_ns) * static_cast<uint64_t>(b.rate) / 1000000000ULL;
      while (b.sent < b.messages && static_cast<uint64_t>(b.sent) < due + 1) send_one(b);
      if (b.sent >= b.messages) {
        b.phase = Bench::Phase::draining;
        b.phase_start_ns = now;
      }
      break;
    }
    case Bench::Phase::draining: {
      uint64_t expected = static_cast<uint64_t>(b.ready) * static_cast<uint64_t>(b.acked);
      bool all_acked = b.acked + b.send_errors >= b.messages;
      if ((all_acked && b.deliveries >= expected) || now - b.phase_start_ns > 30000000000ULL) {
        b.phase = Bench::Phase::done;
        event_base_loopbreak(b.base);
      }
      break;
    }
    case Bench::Phase::done:
      break;
  }
}

void heartbeat_cb(evutil_socket_t, short, void* arg) {
  for (auto& s : static_cast<Bench*>(arg)->all) s->heartbeat();
}

}  // namespace

int main(int argc, char** argv) {
  Bench b;
  std::string url = "http://127.0.0.1:8790";
  std::string token_file;
  CLI::App app{"Gateway load generator: N sessions in one guild, one REST sender"};
  app.add_option("--url", url, "gatewayd base URL");
  app.add_option("--token", b.token, "bot/admin token");
  app.add_option("--token-file", token_file, "read the token from this file (admin.token)");
  app.add_option("--sessions,-n", b.sessions, "gateway sessions to open");
  app.add_option("--messages,-m", b.messages, "messages to send");
  app.add_option("--rate", b.rate, "messages per second");
  app.add_option("--connect-batch", b.connect_batch, "new connections per 10 ms tick");
  app.add_option("--gateway-pid", b.gateway_pid, "gatewayd's pid, for RSS");
  CLI11_PARSE(app, argc, argv);
  if (!token_file.empty()) {
    std::ifstream f(token_file);
    std::getline(f, b.token);
  }
  if (b.token.empty()) {
    std::fprintf(stderr, "loadgen: --token or --token-file is required\n");
    return 64;
  }
  rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);

  chat::http::Url u;
  if (!chat::http::parse_url(url, u)) {
    std::fprintf(stderr, "loadgen: bad --url\n");
    return 64;
  }
  b.host = u.host;
  b.port = u.port;
  b.ws_url = "ws://" + u.host + ":" + std::to_string(u.port) + "/gateway?v=10&encoding=json";

  // A guild and channel of our own for this run.
  int status = 0;
  json g = rest("POST", url + "/api/v10/guilds", b.token,
                {{"name", "bench-" + std::to_string(getpid())}}, status);
  if (status != 200 && status != 201) {
    std::fprintf(stderr, "loadgen: create guild: HTTP %d %s\n", status, g.dump().c_str());
    return 69;
  }
  json c = rest("POST", url + "/api/v10/guilds/" + g["id"].get<std::string>() + "/channels",
                b.token, {{"name", "load"}, {"type", 0}}, status);
  b.channel_id = std::stoull(c["id"].get<std::string>());

  b.base = event_base_new();
  b.http = std::make_unique<chat::http::Client>(b.base, b.host, b.port);
  if (b.gateway_pid) b.rss_before_kb = rss_kb(b.gateway_pid);
  b.phase_start_ns = mono_ns();
  b.tick = event_new(b.base, -1, EV_PERSIST, on_tick, &b);
  timeval tv{0, 10000};
  event_add(b.tick, &tv);
  event* hb = event_new(b.base, -1, EV_PERSIST, heartbeat_cb, &b);
  timeval hbtv{30, 0};
  event_add(hb, &hbtv);
  event_base_dispatch(b.base);

  utsname un;
  uname(&un);
  std::sort(b.latencies_us.begin(), b.latencies_us.end());
  auto pct = [&](double p) -> double {
    if (b.latencies_us.empty()) return 0;
    size_t i = static_cast<size_t>(p * (b.latencies_us.size() - 1));
    return b.latencies_us[i] / 1000.0;
  };
  double secs =
      (b.last_delivery_ns > b.first_send_ns ? b.last_delivery_ns - b.first_send_ns : 1) / 1e9;
  uint64_t expected = static_cast<uint64_t>(b.ready) * static_cast<uint64_t>(b.acked);
  std::printf("machine: %s %s, %ld cores\n", un.nodename, un.release,
              sysconf(_SC_NPROCESSORS_ONLN));
  std::printf("sessions: %d ready, %d failed\n", b.ready, b.failed);
  std::printf("messages: %d sent, %d acknowledged, %d errors, at %d/s offered\n", b.sent, b.acked,
              b.send_errors, b.rate);
  std::printf("deliveries: %llu of %llu expected, %.0f deliveries/s\n",
              static_cast<unsigned long long>(b.deliveries),
              static_cast<unsigned long long>(expected), b.deliveries / secs);
  std::printf("latency send->receipt ms: p50 %.2f  p99 %.2f  max %.2f\n", pct(0.5), pct(0.99),
              pct(1.0));
  if (b.gateway_pid && b.ready > 0)
    std::printf("gatewayd RSS: %llu KiB before, %llu KiB with %d idle sessions: %.2f KiB/session\n",
                static_cast<unsigned long long>(b.rss_before_kb),
                static_cast<unsigned long long>(b.rss_idle_kb), b.ready,
                (double)(b.rss_idle_kb - std::min(b.rss_before_kb, b.rss_idle_kb)) / b.ready);
  return b.deliveries == expected && b.failed == 0 ? 0 : 1;
}
