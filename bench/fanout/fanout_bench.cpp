// fanout_bench: the side-by-side load generator of bench/README.md ("Gateway fan-out vs
// peers"). One process, two threads: the main thread owns every subscriber connection
// on one epoll loop and drives the scenario; a sender thread, started per sending phase,
// owns the publishing connection(s) and paces publishes. A protocol adapter per system
// (adapter.hpp) is the only thing that differs between gatewayd, nats, mqtt and xmpp.
//
// Scenarios (each bounded in count and time, each ends by itself):
//   idle    connect subscribers up to each of --connections (e.g. 10000,100000), let the
//           server settle, and report its RSS growth per connection (/proc/<pid>/status).
//   fanout  one sender, --subscribers subscribers; for each of --rates (messages/s) send
//           for --duration seconds, then drain; report deliveries/s achieved and p50/p99
//           latency measured on --probes evenly spread subscribers (the send time, from
//           CLOCK_MONOTONIC, travels in the payload as "bench:<phase>:<ns>:"); --dump FILE
//           appends each probe delivery and publish acknowledgement with its times, to
//           see where in a run the latency builds up.
//   hold    (gatewayd, several generator processes; bench/scale/run.sh) connect
//           --subscribers sessions, report them, touch --ready-file, then keep them alive
//           for up to --duration seconds, recording the latency of EVERY session for each
//           message "bench:h:<CLOCK_MONOTONIC ns>:n<k>:" someone else posts (the clock is
//           system-wide, so the sender may be another process); ends early once --expect
//           messages reached every session (or --stop-file appears). One RESULT per
//           message; --dump FILE writes "k latency_us" per delivery for merging.
// Each measurement is printed as one "RESULT {json}" line on stdout; progress on stderr.
#include <arpa/inet.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "adapter.hpp"
#include "loop.hpp"

namespace fanout {
namespace {

struct Options {
  std::string system;
  std::string scenario = "fanout";
  std::string host = "127.0.0.1";
  int port = 0;
  std::vector<long> connections = {10000, 100000};
  long subscribers = 5000;
  std::vector<long> rates = {10, 100};
  double duration_s = 10;
  double drain_s = 10;
  double settle_s = 5;
  long probes = 50;
  std::vector<int> pids;
  std::string src_base = "127.0.0.2";
  int src_count = 19;
  long per_src = 30000;
  long max_inflight = 1000;
  int retries = 0;  // a failed set-up is tried again this many times (1 s apart), as a client would
  double connect_timeout_s = 300;
  size_t size = 100;
  std::string ready_file, stop_file, dump_file;
  long expect = 0;
  AdapterOptions adapter;
};

std::vector<long> parse_list(const std::string& s) {
  std::vector<long> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(std::strtol(item.c_str(), nullptr, 10));
  return out;
}

void usage() {
  std::fprintf(stderr,
               "usage: fanout_bench --system gatewayd|nats|mqtt|xmpp --port P [--host H]\n"
               "  --scenario idle|fanout  --connections 10000,100000  --subscribers 5000\n"
               "  --rates 10,100 (msgs/s)  --duration S  --drain S  --settle S  --probes N\n"
               "  --pid PID[,PID] (server RSS/CPU)  --src-base 127.0.0.2 --src-count N\n"
               "  --per-src N  --max-inflight N  --retries N  --connect-timeout S  --size BYTES\n"
               "  --token T --channel C (gatewayd)  --room R  --tag T\n"
               "  --tokens-file F (gatewayd: one token per line, subscriber i uses line i %% n)\n"
               "  fanout: --dump F (appends every probe delivery and publish ack, for timelines)\n"
               "  hold: --ready-file F --stop-file F --dump F --expect N\n");
}

bool parse(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    if (i + 1 >= argc) {
      usage();
      return false;
    }
    std::string v = argv[++i];
    if (k == "--system")
      o.system = o.adapter.system = v;
    else if (k == "--scenario")
      o.scenario = v;
    else if (k == "--host")
      o.host = v;
    else if (k == "--port")
      o.port = std::atoi(v.c_str());
    else if (k == "--connections")
      o.connections = parse_list(v);
    else if (k == "--subscribers")
      o.subscribers = std::atol(v.c_str());
    else if (k == "--rates")
      o.rates = parse_list(v);
    else if (k == "--duration")
      o.duration_s = std::atof(v.c_str());
    else if (k == "--drain")
      o.drain_s = std::atof(v.c_str());
    else if (k == "--settle")
      o.settle_s = std::atof(v.c_str());
    else if (k == "--probes")
      o.probes = std::atol(v.c_str());
    else if (k == "--pid")
      for (long p : parse_list(v)) o.pids.push_back(static_cast<int>(p));
    else if (k == "--src-base")
      o.src_base = v;
    else if (k == "--src-count")
      o.src_count = std::atoi(v.c_str());
    else if (k == "--per-src")
      o.per_src = std::atol(v.c_str());
    else if (k == "--max-inflight")
      o.max_inflight = std::atol(v.c_str());
    else if (k == "--retries")
      o.retries = std::atoi(v.c_str());
    else if (k == "--connect-timeout")
      o.connect_timeout_s = std::atof(v.c_str());
    else if (k == "--size")
      o.size = std::strtoul(v.c_str(), nullptr, 10);
    else if (k == "--token")
      o.adapter.token = v;
    else if (k == "--tokens-file") {
      std::ifstream f(v);
      for (std::string line; std::getline(f, line);)
        if (!line.empty()) o.adapter.tokens.push_back(line);
      if (o.adapter.tokens.empty()) {
        std::fprintf(stderr, "fanout: no tokens in %s\n", v.c_str());
        return false;
      }
    } else if (k == "--ready-file")
      o.ready_file = v;
    else if (k == "--stop-file")
      o.stop_file = v;
    else if (k == "--dump")
      o.dump_file = v;
    else if (k == "--expect")
      o.expect = std::atol(v.c_str());
    else if (k == "--channel")
      o.adapter.channel = v;
    else if (k == "--room")
      o.adapter.room = v;
    else if (k == "--tag")
      o.adapter.tag = v;
    else {
      usage();
      return false;
    }
  }
  if (o.system.empty() || o.port <= 0) {
    usage();
    return false;
  }
  if (o.adapter.tag.empty()) o.adapter.tag = std::to_string(getpid());
  return true;
}

// Sum of VmRSS (KiB) of the server's processes.
uint64_t rss_kb(const std::vector<int>& pids) {
  uint64_t sum = 0;
  for (int pid : pids) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(f, line))
      if (line.rfind("VmRSS:", 0) == 0) sum += std::stoull(line.substr(6));
  }
  return sum;
}

// CPU seconds (user + system) used so far by the server's processes.
double cpu_s(const std::vector<int>& pids) {
  double sum = 0;
  long hz = sysconf(_SC_CLK_TCK);
  for (int pid : pids) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    size_t rp = s.rfind(')');
    if (rp == std::string::npos) continue;
    std::stringstream ss(s.substr(rp + 2));
    std::string field;
    unsigned long long ut = 0, st = 0;
    for (int i = 3; i <= 15 && ss >> field; ++i) {
      if (i == 14) ut = std::stoull(field);
      if (i == 15) st = std::stoull(field);
    }
    sum += static_cast<double>(ut + st) / static_cast<double>(hz);
  }
  return sum;
}

double self_cpu_s() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

std::string json_str(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    if (static_cast<unsigned char>(ch) < 0x20) ch = ' ';
    out += ch;
  }
  return out + "\"";
}

// What the subscriber loop reports: set-up progress, deliveries and probe latencies.
class Subscribers : public Events {
 public:
  long ready_n = 0, failed_setup = 0, dropped = 0;
  long setting_up = 0;  // connections started and neither ready nor failed yet
  // Retries of failed set-ups (--retries): attempts per subscriber index, and the indexes
  // due again, with when.
  int max_retries = 0;
  long retried = 0;
  std::vector<uint8_t> attempts;
  std::deque<std::pair<uint64_t, uint32_t>> retry_due;
  uint64_t deliveries = 0, last_delivery_ns = 0;
  char phase = '0';
  std::vector<uint32_t> latency_us;
  // hold: latency of every delivery, per message number, and when the last one arrived.
  std::vector<std::vector<uint32_t>> per_msg;
  std::vector<uint64_t> per_msg_sent, per_msg_last;
  std::map<std::string, long> reasons;
  // fanout with --dump: every probe delivery (message number, probe, sent, received).
  struct Traced {
    size_t k;
    uint32_t conn;
    uint64_t sent_ns, recv_ns;
  };
  bool trace = false;
  std::vector<Traced> traced;

  void ready(Conn&) override {
    ++ready_n;
    --setting_up;
  }
  // The k of "...:n<k>:" where `i` is at the ':' after the send time (0 if absent).
  static size_t message_number(std::string_view p, size_t i) {
    size_t k = 0;
    if (i + 1 < p.size() && p[i + 1] == 'n')
      for (i += 2; i < p.size() && p[i] >= '0' && p[i] <= '9'; ++i)
        k = k * 10 + static_cast<size_t>(p[i] - '0');
    return k;
  }
  void delivery(Conn& c, std::string_view p) override {
    size_t at = p.find("bench:");
    if (at == std::string_view::npos || at + 8 >= p.size() || p[at + 6] != phase) return;
    ++deliveries;
    uint64_t now = mono_ns();
    last_delivery_ns = now;
    if (!c.probe && phase != 'h') return;
    uint64_t sent = 0;
    size_t i = at + 8;
    for (; i < p.size() && p[i] >= '0' && p[i] <= '9'; ++i)
      sent = sent * 10 + static_cast<uint64_t>(p[i] - '0');
    if (phase == 'h') {
      size_t k = message_number(p, i);
      if (k >= 100000) return;
      if (per_msg.size() <= k) {
        per_msg.resize(k + 1);
        per_msg_sent.resize(k + 1);
        per_msg_last.resize(k + 1);
      }
      per_msg[k].push_back(now > sent ? static_cast<uint32_t>((now - sent) / 1000) : 0);
      per_msg_sent[k] = sent;
      per_msg_last[k] = now;
      return;
    }
    if (sent && now > sent) {
      latency_us.push_back(static_cast<uint32_t>((now - sent) / 1000));
      if (trace) traced.push_back({message_number(p, i), c.id, sent, now});
    }
  }
  void failed(Conn& c, const char* why) override {
    if (c.ready) {
      ++dropped;
    } else {
      --setting_up;
      if (c.id < attempts.size() && attempts[c.id] < max_retries) {
        ++attempts[c.id];
        ++retried;
        retry_due.emplace_back(mono_ns() + 1000000000ULL, c.id);
      } else {
        ++failed_setup;
      }
    }
    std::string w = why ? why : "?";
    if (reasons.size() < 20 || reasons.count(w)) ++reasons[w];
  }
};

class Senders : public Events {
 public:
  long ready_n = 0;
  std::atomic<long> ok_n{0}, refused{0};
  std::map<std::string, long> reasons;
  std::vector<uint32_t> ack_us;  // sender thread only while it runs
  bool trace = false;            // --dump: (sent, acknowledged) of every publish
  std::vector<std::pair<uint64_t, uint64_t>> traced;
  void ready(Conn&) override { ++ready_n; }
  void delivery(Conn&, std::string_view) override {}
  void failed(Conn&, const char* why) override { ++reasons[why ? why : "?"]; }
  void acked(bool ok, uint64_t latency_ns) override {
    ++(ok ? ok_n : refused);
    if (!ok) return;
    ack_us.push_back(static_cast<uint32_t>(latency_ns / 1000));
    if (trace) {
      uint64_t now = mono_ns();
      traced.emplace_back(now - latency_ns, now);
    }
  }
};

class Bench {
 public:
  explicit Bench(const Options& o) : o_(o), rx_(target()), tx_(target()) {
    rx_adapter_ = make(rx_, subs_);
    tx_adapter_ = make(tx_, senders_);
    if (!rx_adapter_ || !tx_adapter_) return;
    rx_.set_upgrade(rx_adapter_->path(), rx_adapter_->subprotocol());
    tx_.set_upgrade(tx_adapter_->path(), tx_adapter_->subprotocol());
    rx_.set_handler(rx_adapter_.get());
    tx_.set_handler(tx_adapter_.get());
    inet_pton(AF_INET, o_.src_base.c_str(), &src_base_);
    if (o_.subscribers > 0 && o_.probes > 0)
      probe_every_ = std::max(1L, o_.subscribers / o_.probes);
    rss0_ = rss_kb(o_.pids);
  }
  bool ok() const { return rx_adapter_ && tx_adapter_; }

  int run_idle() {
    for (long target : o_.connections) {
      uint64_t t0 = mono_ns();
      connect_subscribers(target);
      double connect_s = static_cast<double>(mono_ns() - t0) / 1e9;
      // One keepalive round first (as a client's first heartbeat would come), then settle.
      pump(0.5);
      next_keepalive_ns_ = 0;
      keepalive();
      pump(o_.settle_s);
      uint64_t rss = rss_kb(o_.pids);
      double per = subs_.ready_n ? static_cast<double>(rss - std::min(rss, rss0_)) * 1024.0 /
                                       static_cast<double>(subs_.ready_n)
                                 : 0;
      std::fprintf(
          stderr,
          "fanout: %s idle %ld: %ld ready, %ld failed, %.1f s; RSS %llu -> %llu KiB: %.0f B/conn\n",
          o_.system.c_str(), target, subs_.ready_n, subs_.failed_setup, connect_s,
          static_cast<unsigned long long>(rss0_), static_cast<unsigned long long>(rss), per);
      std::printf(
          "RESULT {\"system\":%s,\"scenario\":\"idle\",\"target\":%ld,\"connected\":%ld,"
          "\"failed\":%ld,\"dropped\":%ld,\"connect_s\":%.2f,\"connect_rate\":%.0f,"
          "\"rss_base_kb\":%llu,\"rss_kb\":%llu,\"bytes_per_conn\":%.0f,\"reasons\":%s}\n",
          json_str(o_.system).c_str(), target, subs_.ready_n, subs_.failed_setup, subs_.dropped,
          connect_s, subs_.ready_n / std::max(connect_s, 1e-3),
          static_cast<unsigned long long>(rss0_), static_cast<unsigned long long>(rss), per,
          reasons_json(subs_.reasons).c_str());
      std::fflush(stdout);
      // A handful of stragglers (under 1 %) do not stop the ladder; more do.
      if (subs_.ready_n * 100 < target * 99) return 1;
    }
    return 0;
  }

  int run_hold() {
    uint64_t t0 = mono_ns();
    connect_subscribers(o_.subscribers);
    double connect_s = static_cast<double>(mono_ns() - t0) / 1e9;
    pump(0.5);
    next_keepalive_ns_ = 0;
    keepalive();
    std::printf(
        "RESULT {\"system\":%s,\"scenario\":\"hold\",\"target\":%ld,\"connected\":%ld,"
        "\"failed\":%ld,\"dropped\":%ld,\"retried\":%ld,\"connect_s\":%.2f,"
        "\"connect_rate\":%.0f,\"reasons\":%s}\n",
        json_str(o_.system).c_str(), o_.subscribers, subs_.ready_n, subs_.failed_setup,
        subs_.dropped, subs_.retried, connect_s, subs_.ready_n / std::max(connect_s, 1e-3),
        reasons_json(subs_.reasons).c_str());
    std::fflush(stdout);
    if (!o_.ready_file.empty()) std::ofstream(o_.ready_file) << subs_.ready_n << "\n";
    subs_.phase = 'h';
    uint64_t end = mono_ns() + static_cast<uint64_t>(o_.duration_s * 1e9);
    uint64_t next_check = 0;
    while (mono_ns() < end) {
      rx_.poll(20);
      keepalive();
      uint64_t now = mono_ns();
      if (now < next_check) continue;
      next_check = now + 200000000ULL;
      if (!o_.stop_file.empty() && access(o_.stop_file.c_str(), F_OK) == 0) break;
      if (o_.expect > 0 && static_cast<long>(subs_.per_msg.size()) >= o_.expect) {
        long live = subs_.ready_n - subs_.dropped;
        bool all = true;
        for (long k = 0; k < o_.expect && all; ++k)
          all = static_cast<long>(subs_.per_msg[static_cast<size_t>(k)].size()) >= live;
        if (all) break;
      }
    }
    FILE* dump = o_.dump_file.empty() ? nullptr : std::fopen(o_.dump_file.c_str(), "w");
    for (size_t k = 0; k < subs_.per_msg.size(); ++k) {
      auto& v = subs_.per_msg[k];
      if (dump)
        for (uint32_t us : v) std::fprintf(dump, "%zu %u\n", k, us);
      std::sort(v.begin(), v.end());
      auto pct = [&](double p) {
        return v.empty() ? -1.0
                         : v[static_cast<size_t>(p * static_cast<double>(v.size() - 1))] / 1000.0;
      };
      std::printf(
          "RESULT {\"system\":%s,\"scenario\":\"hold_msg\",\"msg\":%zu,\"sessions\":%ld,"
          "\"delivered\":%zu,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,"
          "\"sent_ns\":%llu,\"last_ns\":%llu}\n",
          json_str(o_.system).c_str(), k, subs_.ready_n - subs_.dropped, v.size(), pct(0.5),
          pct(0.99), pct(1.0), static_cast<unsigned long long>(subs_.per_msg_sent[k]),
          static_cast<unsigned long long>(subs_.per_msg_last[k]));
    }
    if (dump) std::fclose(dump);
    std::printf(
        "RESULT {\"system\":%s,\"scenario\":\"hold_end\",\"connected\":%ld,"
        "\"dropped\":%ld,\"messages\":%zu,\"reasons\":%s}\n",
        json_str(o_.system).c_str(), subs_.ready_n, subs_.dropped, subs_.per_msg.size(),
        reasons_json(subs_.reasons).c_str());
    std::fflush(stdout);
    return subs_.ready_n > 0 ? 0 : 1;
  }

  int run_fanout() {
    if (!connect_senders()) return 1;
    connect_subscribers(o_.subscribers);
    if (subs_.ready_n == 0) return 1;
    pump(2);
    int rc = 0;
    for (size_t k = 0; k < o_.rates.size(); ++k)
      rc |= phase(static_cast<char>('1' + k), o_.rates[k]);
    return rc;
  }

 private:
  Target target() const {
    Target t;
    inet_pton(AF_INET, o_.host.c_str(), &t.addr);
    t.port = static_cast<uint16_t>(o_.port);
    t.host_header = o_.host + ":" + std::to_string(o_.port);
    return t;
  }

  std::unique_ptr<Adapter> make(Loop& loop, Events& ev) {
    const std::string& s = o_.adapter.system;
    if (s == "gatewayd") return make_gateway_adapter(loop, ev, o_.adapter);
    if (s == "nats") return make_nats_adapter(loop, ev, o_.adapter);
    if (s == "mqtt" || s == "mosquitto") return make_mqtt_adapter(loop, ev, o_.adapter);
    if (s == "xmpp" || s == "ejabberd") return make_xmpp_adapter(loop, ev, o_.adapter);
    std::fprintf(stderr, "fanout: unknown system '%s' (gatewayd, nats, mqtt, xmpp)\n", s.c_str());
    return nullptr;
  }

  static std::string reasons_json(const std::map<std::string, long>& m) {
    std::string out = "{";
    for (const auto& [k, v] : m)
      out += (out.size() > 1 ? "," : "") + json_str(k) + ":" + std::to_string(v);
    return out + "}";
  }

  // Polls both loops for `seconds`, keeping connections alive.
  void pump(double seconds) {
    uint64_t end = mono_ns() + static_cast<uint64_t>(seconds * 1e9);
    while (mono_ns() < end) {
      rx_.poll(10);
      tx_.poll(0);
      keepalive();
    }
  }

  void keepalive() {
    int every = rx_adapter_->keepalive_s();
    if (!every) return;
    uint64_t now = mono_ns();
    if (now < next_keepalive_ns_) return;
    next_keepalive_ns_ = now + static_cast<uint64_t>(every) * 1000000000ULL;
    if (!sender_running_)
      for (auto& c : tx_.conns())
        if (c->ready) tx_adapter_->keepalive(*c);
    for (auto& c : rx_.conns())
      if (c->ready && c->state != Conn::State::closed) rx_adapter_->keepalive(*c);
  }

  bool connect_senders() {
    int n = tx_adapter_->sender_connections();
    for (int i = 0; i < n; ++i) {
      int err = 0;
      Conn* c = tx_.connect(0, static_cast<uint32_t>(i), tx_adapter_->sender_raw(), err);
      if (!c) {
        std::fprintf(stderr, "fanout: sender connect: %s\n", strerror(err));
        return false;
      }
      c->sender = true;
    }
    uint64_t end = mono_ns() + 30000000000ULL;
    while (senders_.ready_n < n && mono_ns() < end && senders_.reasons.empty()) {
      tx_.poll(10);
      rx_.poll(0);
    }
    if (senders_.ready_n == 0) {
      std::fprintf(stderr, "fanout: %s: no sender became ready: %s\n", o_.system.c_str(),
                   reasons_json(senders_.reasons).c_str());
      return false;
    }
    return true;
  }

  // Opens subscribers until `target` are ready (or failed), at most max_inflight in set-up
  // at once, within connect_timeout.
  void connect_subscribers(long target) {
    uint64_t end = mono_ns() + static_cast<uint64_t>(o_.connect_timeout_s * 1e9);
    uint64_t next_report = mono_ns() + 5000000000ULL;
    subs_.max_retries = o_.retries;
    if (o_.retries > 0) subs_.attempts.resize(static_cast<size_t>(target), 0);
    while (true) {
      long settled = subs_.ready_n + subs_.failed_setup;
      while (subs_.setting_up < o_.max_inflight && !exhausted_) {
        // A retry that is due first, then the next new subscriber.
        bool again = !subs_.retry_due.empty() && subs_.retry_due.front().first <= mono_ns();
        if (!again && started_ >= target) break;
        uint32_t idx = static_cast<uint32_t>(started_);
        if (again) {
          idx = subs_.retry_due.front().second;
          subs_.retry_due.pop_front();
        }
        uint32_t src = 0;
        if (o_.src_count > 0) {
          uint32_t base = ntohl(src_base_);
          src = htonl(base + static_cast<uint32_t>((long(idx) / o_.per_src) % o_.src_count));
        }
        int err = 0;
        Conn* c = rx_.connect(src, idx, false, err);
        if (!again) ++started_;
        if (!c) {
          ++subs_.failed_setup;
          ++subs_.reasons[std::string("connect: ") + strerror(err)];
          if (err == EADDRNOTAVAIL || err == EMFILE || err == ENFILE) exhausted_ = true;
          continue;
        }
        ++subs_.setting_up;
        c->probe = probe_every_ && (idx % probe_every_) == probe_every_ / 2;
      }
      rx_.poll(5);
      tx_.poll(0);
      keepalive();
      settled = subs_.ready_n + subs_.failed_setup;
      uint64_t now = mono_ns();
      if (settled >= target || (exhausted_ && settled >= started_)) return;
      if (now > end) {
        std::fprintf(stderr, "fanout: connect timeout at %ld ready of %ld\n", subs_.ready_n,
                     target);
        return;
      }
      if (now > next_report) {
        next_report = now + 5000000000ULL;
        std::fprintf(stderr, "fanout: %s: %ld ready, %ld failed, %ld started, %ld retried\n",
                     o_.system.c_str(), subs_.ready_n, subs_.failed_setup, started_, subs_.retried);
      }
    }
  }

  std::string text(char phase, uint64_t seq) {
    std::string t = "bench:";
    t += phase;
    t += ':' + std::to_string(mono_ns()) + ":n" + std::to_string(seq) + ":";
    if (t.size() < o_.size) t.append(o_.size - t.size(), 'x');
    return t;
  }

  int phase(char ph, long rate) {
    long total = static_cast<long>(static_cast<double>(rate) * o_.duration_s);
    long subscribers = subs_.ready_n;
    subs_.phase = ph;
    subs_.deliveries = 0;
    subs_.last_delivery_ns = 0;
    subs_.latency_us.clear();
    senders_.ack_us.clear();
    subs_.trace = senders_.trace = !o_.dump_file.empty();
    subs_.traced.clear();
    senders_.traced.clear();
    long dropped0 = subs_.dropped;
    long acked0 = senders_.ok_n.load(), refused0 = senders_.refused.load();
    std::atomic<bool> done{false};
    std::atomic<long> sent{0};
    std::atomic<uint64_t> first_ns{0}, last_ns{0};
    double cpu0 = cpu_s(o_.pids), self0 = self_cpu_s();
    sender_running_ = true;
    std::thread sender([&] {
      uint64_t start = mono_ns();
      first_ns = start;
      long n = 0;
      while (n < total) {
        uint64_t now = mono_ns();
        long due = std::min<long>(
            total,
            static_cast<long>((now - start) * static_cast<uint64_t>(rate) / 1000000000ULL) + 1);
        while (n < due && tx_adapter_->publish(text(ph, static_cast<uint64_t>(n)))) ++n;
        sent = n;
        tx_.poll(1);
      }
      last_ns = mono_ns();
      uint64_t end = last_ns + 15000000000ULL;
      while (tx_adapter_->outstanding() > 0 && mono_ns() < end) tx_.poll(5);
      done = true;
    });
    while (!done) {
      rx_.poll(5);
      keepalive();
    }
    sender.join();
    sender_running_ = false;
    long acked = senders_.ok_n.load() - acked0;
    long published = tx_adapter_->sender_raw() ? acked : sent.load();
    uint64_t expected = static_cast<uint64_t>(subscribers) * static_cast<uint64_t>(published);
    uint64_t drain_end = last_ns + static_cast<uint64_t>(o_.drain_s * 1e9);
    while (subs_.deliveries < expected && mono_ns() < drain_end) {
      rx_.poll(5);
      tx_.poll(0);
      keepalive();
    }
    double cpu = cpu_s(o_.pids) - cpu0, self = self_cpu_s() - self0;
    if (!o_.dump_file.empty()) dump_trace(rate, first_ns);
    uint64_t span_end = subs_.last_delivery_ns ? subs_.last_delivery_ns : mono_ns();
    double span = static_cast<double>(span_end - first_ns) / 1e9;
    double dps = static_cast<double>(subs_.deliveries) / std::max(span, 1e-3);
    auto& lat = subs_.latency_us;
    std::sort(lat.begin(), lat.end());
    auto pct_of = [](const std::vector<uint32_t>& v, double p) {
      return v.empty() ? -1.0
                       : v[static_cast<size_t>(p * static_cast<double>(v.size() - 1))] / 1000.0;
    };
    auto pct = [&](double p) { return pct_of(lat, p); };
    std::sort(senders_.ack_us.begin(), senders_.ack_us.end());
    std::fprintf(stderr,
                 "fanout: %s %ld msg/s x %ld subs: sent %ld, delivered %llu of %llu, %.0f/s, "
                 "p50 %.2f ms p99 %.2f ms max %.2f ms (%zu samples), server CPU %.2f s, ours %.2f "
                 "s, ack p99 %.2f ms\n",
                 o_.system.c_str(), rate, subscribers, sent.load(),
                 static_cast<unsigned long long>(subs_.deliveries),
                 static_cast<unsigned long long>(expected), dps, pct(0.5), pct(0.99), pct(1.0),
                 lat.size(), cpu, self, pct_of(senders_.ack_us, 0.99));
    std::printf(
        "RESULT {\"system\":%s,\"scenario\":\"fanout\",\"rate_msgs\":%ld,\"subscribers\":%ld,"
        "\"offered_dps\":%ld,\"sent\":%ld,\"acked\":%ld,\"refused\":%ld,\"expected\":%llu,"
        "\"delivered\":%llu,\"dps\":%.0f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,"
        "\"samples\":%zu,\"dropped\":%ld,\"server_cpu_s\":%.3f,\"gen_cpu_s\":%.3f,"
        "\"span_s\":%.3f,\"ack_p50_ms\":%.3f,\"ack_p99_ms\":%.3f,\"rss_kb\":%llu,\"reasons\":%s}\n",
        json_str(o_.system).c_str(), rate, subscribers, rate * subscribers, sent.load(), acked,
        senders_.refused.load() - refused0, static_cast<unsigned long long>(expected),
        static_cast<unsigned long long>(subs_.deliveries), dps, pct(0.5), pct(0.99), pct(1.0),
        lat.size(), subs_.dropped - dropped0, cpu, self, span, pct_of(senders_.ack_us, 0.5),
        pct_of(senders_.ack_us, 0.99), static_cast<unsigned long long>(rss_kb(o_.pids)),
        reasons_json(subs_.reasons).c_str());
    std::fflush(stdout);
    pump(1);
    return subs_.deliveries > 0 ? 0 : 1;
  }

  // fanout --dump: "D rate k probe sent_us latency_us" per probe delivery and "A rate
  // sent_us latency_us" per acknowledged publish, times from the phase's first send.
  void dump_trace(long rate, uint64_t t0) {
    FILE* f = std::fopen(o_.dump_file.c_str(), "a");
    if (!f) return;
    auto rel = [t0](uint64_t t) {
      return t > t0 ? static_cast<unsigned long long>((t - t0) / 1000) : 0ULL;
    };
    for (const auto& d : subs_.traced)
      std::fprintf(f, "D %ld %zu %u %llu %llu\n", rate, d.k, d.conn, rel(d.sent_ns),
                   static_cast<unsigned long long>((d.recv_ns - d.sent_ns) / 1000));
    for (const auto& [sent, acked] : senders_.traced)
      std::fprintf(f, "A %ld %llu %llu\n", rate, rel(sent),
                   static_cast<unsigned long long>((acked - sent) / 1000));
    std::fclose(f);
  }

  Options o_;
  Loop rx_, tx_;
  Subscribers subs_;
  Senders senders_;
  std::unique_ptr<Adapter> rx_adapter_, tx_adapter_;
  uint32_t src_base_ = 0;
  long probe_every_ = 0;
  long started_ = 0;
  bool exhausted_ = false;
  bool sender_running_ = false;
  uint64_t next_keepalive_ns_ = 0;
  uint64_t rss0_ = 0;
};

}  // namespace
}  // namespace fanout

int main(int argc, char** argv) {
  fanout::Options o;
  if (!fanout::parse(argc, argv, o)) return 64;
  rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  fanout::Bench b(o);
  if (!b.ok()) return 64;
  if (o.scenario == "idle") return b.run_idle();
  if (o.scenario == "fanout") return b.run_fanout();
  if (o.scenario == "hold") return b.run_hold();
  fanout::usage();
  return 64;
}
