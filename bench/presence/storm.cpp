// Presence storm generator (issue 5's benchmark). It impersonates one gateway node on the
// bus: it announces U users online (one session each, each user in G guilds of mixed
// sizes: mostly under 100 members, some up to 1,000, a few over 10,000), beats the node's
// lease, waits for presenced to publish the online storm, then stops beating, as a
// gatewayd killed with -9 would. It measures presenced itself, not a gateway: it
// subscribes to chat.evt.guild.* and chat.evt.presence.* and counts what presenced
// publishes, and it reads presenced's CPU time and peak RSS from /proc/<pid>.
//
// Reported for the offline storm: time from the last beat to the last PRESENCE_UPDATE,
// records and bus messages published, "delivered" (the dispatches gateway nodes would
// write if every member of every guild had a session with GUILD_PRESENCES: each record
// times its guild's other members) against the naive count (every member of every guild
// of every user, no thresholds, no coalescing), and the largest burst one such session
// would get (records for it within any one second, and in the whole storm).
#include <event2/event.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "chat/bus/bus.hpp"
#include "chat/proto/ops.hpp"
#include "chat/proto/subjects.hpp"
#include "chat/sys/daemon.hpp"

using namespace chat;

namespace {

double now_s() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

struct ProcFigures {
  double cpu_s = 0;
  uint64_t hwm_kb = 0, rss_kb = 0;
};

ProcFigures proc_figures(int pid) {
  ProcFigures f;
  if (pid <= 0) return f;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  size_t close = s.rfind(')');
  if (close != std::string::npos) {
    std::vector<std::string> fields;
    std::string cur;
    for (size_t i = close + 2; i < s.size(); ++i) {
      if (s[i] == ' ') {
        fields.push_back(cur);
        cur.clear();
      } else {
        cur += s[i];
      }
    }
    if (fields.size() > 13)
      f.cpu_s = static_cast<double>(std::stoull(fields[11]) + std::stoull(fields[12])) /
                static_cast<double>(sysconf(_SC_CLK_TCK));
  }
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) f.hwm_kb = std::stoull(line.substr(6));
    if (line.rfind("VmRSS:", 0) == 0) f.rss_kb = std::stoull(line.substr(6));
  }
  return f;
}

struct World {
  std::vector<std::vector<uint32_t>> members;      // guild index -> user indexes
  std::vector<std::vector<uint32_t>> user_guilds;  // user index -> guild indexes
};

// Slots (user, k) for k < per_user, shuffled, dealt to guilds in order of size.
World make_world(uint32_t users, uint32_t per_user, uint32_t large, uint32_t large_size,
                 uint32_t mid, uint32_t mid_max, uint32_t small_max, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint32_t> slots;
  slots.reserve(static_cast<size_t>(users) * per_user);
  for (uint32_t u = 0; u < users; ++u)
    for (uint32_t k = 0; k < per_user; ++k) slots.push_back(u);
  std::shuffle(slots.begin(), slots.end(), rng);
  World w;
  w.user_guilds.resize(users);
  size_t pos = 0;
  auto deal = [&](size_t size) {
    std::vector<uint32_t> m;
    for (size_t i = 0; i < size && pos < slots.size(); ++i) m.push_back(slots[pos++]);
    std::sort(m.begin(), m.end());
    m.erase(std::unique(m.begin(), m.end()), m.end());
    uint32_t gi = static_cast<uint32_t>(w.members.size());
    for (uint32_t u : m) w.user_guilds[u].push_back(gi);
    w.members.push_back(std::move(m));
  };
  std::uniform_int_distribution<uint32_t> large_d(large_size, large_size + large_size / 4);
  for (uint32_t i = 0; i < large && pos < slots.size(); ++i) deal(large_d(rng));
  std::uniform_int_distribution<uint32_t> mid_d(100, mid_max);
  for (uint32_t i = 0; i < mid && pos < slots.size(); ++i) deal(mid_d(rng));
  std::uniform_int_distribution<uint32_t> small_d(2, small_max);
  while (pos < slots.size()) deal(small_d(rng));
  return w;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"presence storm: one fake gateway node with many users, then its lease expires"};
  std::string url = "nats://127.0.0.1:4290";
  uint32_t users = 20000, per_user = 100, large = 5, large_size = 12000, mid = 100, mid_max = 1000,
           small_max = 99, seed = 1, threshold = 1000;
  int lease_ms = 15000, pid = 0, shards = 1;
  double settle_s = 5;
  app.add_option("--nats", url, "bus URL");
  app.add_option("--users", users, "users (one session each)");
  app.add_option("--guilds-per-user", per_user, "guilds per user");
  app.add_option("--large", large, "guilds over 10,000 members");
  app.add_option("--large-size", large_size, "their size (up to +25%)");
  app.add_option("--mid", mid, "guilds of 100..--mid-max members");
  app.add_option("--mid-max", mid_max, "largest mid guild");
  app.add_option("--small-max", small_max, "the rest: 2..this many members");
  app.add_option("--threshold", threshold, "presence.large_guild_threshold of presenced");
  app.add_option("--lease-ms", lease_ms, "presence.lease_timeout_ms of presenced");
  app.add_option("--shards", shards, "shards of the config");
  app.add_option("--presenced-pid", pid, "presenced's pid, for CPU time and peak RSS");
  app.add_option("--settle", settle_s, "seconds without a PRESENCE_UPDATE that end a phase");
  app.add_option("--seed", seed, "random seed");
  uint32_t announce_rate = 2000;
  app.add_option("--announce-rate", announce_rate, "sessions announced per second");
  CLI11_PARSE(app, argc, argv);

  World w = make_world(users, per_user, large, large_size, mid, mid_max, small_max, seed);
  const uint64_t kUserBase = 1ULL << 40, kGuildBase = 1ULL << 41;
  size_t n_large = 0, n_mid = 0, n_small = 0;
  double naive = 0, memberships = 0;
  for (auto& m : w.members) {
    double s = static_cast<double>(m.size());
    naive += s * (s - 1);
    memberships += s;
    if (m.size() > threshold)
      ++n_large;
    else if (m.size() >= 100)
      ++n_mid;
    else
      ++n_small;
  }
  std::printf(
      "world: %u users, %zu guilds (%zu over %u members, %zu of 100..%u, %zu under 100), "
      "%.0f memberships\n",
      users, w.members.size(), n_large, threshold, n_mid, threshold, n_small, memberships);

  bus::global_init();
  event_base* base = event_base_new();
  std::string error;
  auto bus = bus::Bus::connect(base, url, "presence-storm", error);
  if (!bus) {
    std::fprintf(stderr, "storm: cannot reach the bus: %s\n", error.c_str());
    return 69;
  }

  // What presenced publishes.
  struct Phase {
    double start = 0, last = 0;
    uint64_t records = 0, messages = 0, user_msgs = 0;
    double delivered = 0;
  } online_phase, offline_phase;
  Phase* phase = &online_phase;
  std::vector<uint32_t> per_session_total(users, 0);
  std::vector<uint32_t> per_session_second(users, 0);  // in the current second
  uint64_t current_second = 0;
  uint32_t worst_second = 0, worst_total = 0;
  // The handler only keeps the bytes and the arrival time (a slow handler would stall the
  // loop that also reads the socket); the counting is done once the phase is over.
  struct Arrival {
    double t;
    std::string data;
  };
  std::vector<Arrival> offline_arrivals;
  auto on_guild = [&](bus::Message& m) {
    Phase& p = *phase;
    p.last = now_s();
    ++p.messages;
    if (phase == &offline_phase) offline_arrivals.push_back({p.last, std::move(m.data)});
  };
  auto count = [&](Phase& p, const std::string& data, double t) {
    proto::Event ev;
    if (!proto::unpack(data, ev) || ev.t != "PRESENCE_UPDATE") return;
    p.records += ev.presences.size();
    uint64_t gi = ev.guild_id - kGuildBase;
    if (gi >= w.members.size()) return;
    const auto& mem = w.members[gi];
    uint64_t second = static_cast<uint64_t>(t - p.start);
    if (second != current_second) {
      std::fill(per_session_second.begin(), per_session_second.end(), 0);
      current_second = second;
    }
    for (const proto::PresenceRecord& r : ev.presences) {
      p.delivered += static_cast<double>(mem.size() - 1);
      uint32_t who = static_cast<uint32_t>(r.user_id - kUserBase);
      for (uint32_t u : mem) {
        if (u == who) continue;
        worst_total = std::max(worst_total, ++per_session_total[u]);
        worst_second = std::max(worst_second, ++per_session_second[u]);
      }
    }
  };
  bus->subscribe("chat.evt.guild.*", on_guild);
  bus->subscribe("chat.evt.presence.*", [&](bus::Message&) {
    phase->last = now_s();
    ++phase->user_msgs;
  });

  const std::string node = "storm-node";
  uint64_t beat_seq = 0;
  bool beating = true;
  auto beat = [&] {
    if (!beating) return;
    proto::LeaseBeat b;
    b.node = node;
    b.sessions = users;
    b.seq = ++beat_seq;
    bus->publish(subjects::lease(node), proto::pack(b));
  };
  sys::Timer beat_timer(base, std::max(100, lease_ms / 3), beat);
  beat();

  // Everything below runs on the loop: announcing (in slices, so that the loop keeps
  // reading what presenced publishes), then the two phases, each ending after `settle`
  // seconds without a PRESENCE_UPDATE.
  ProcFigures before = proc_figures(pid), after_online;
  online_phase.start = now_s();
  double announced = 0;
  uint32_t next_user = 0;
  int stage = 0;  // 0 announcing, 1 online storm, 2 offline storm
  auto announce_slice = [&] {
    uint32_t due = static_cast<uint32_t>((now_s() - online_phase.start) * announce_rate) + 1;
    for (; next_user < std::min(due, users); ++next_user) {
      uint32_t u = next_user;
      proto::PresenceRequest req;
      req.op = "online";
      req.node = node;
      proto::SessionPresence s;
      s.session_id = kUserBase + u;
      s.user_id = kUserBase + u;
      s.status = "online";
      for (uint32_t gi : w.user_guilds[u])
        s.guilds.push_back({kGuildBase + gi, static_cast<uint32_t>(w.members[gi].size())});
      req.sessions = {std::move(s)};
      bus->publish(subjects::presence(subjects::shard_of(kUserBase + u, shards)), proto::pack(req));
    }
    if (next_user == users && announced == 0) announced = now_s();
  };
  sys::Timer driver(base, 5, [&] {
    double t = now_s();
    if (stage == 0) {
      announce_slice();
      if (announced > 0) stage = 1;
      return;
    }
    Phase& p = stage == 1 ? online_phase : offline_phase;
    double min_end = stage == 1 ? announced : offline_phase.start + lease_ms / 1000.0;
    if (t < min_end || t - std::max(p.last, p.start) <= settle_s) return;
    if (stage == 1) {
      after_online = proc_figures(pid);
      std::printf(
          "online storm: %u sessions announced in %.2fs; last PRESENCE_UPDATE %.2fs after the "
          "first announcement; %llu guild messages, %llu user-subject "
          "messages; presenced CPU %.2fs, RSS %.1f MiB\n",
          users, announced - online_phase.start, online_phase.last - online_phase.start,
          (unsigned long long)online_phase.messages, (unsigned long long)online_phase.user_msgs,
          after_online.cpu_s - before.cpu_s, static_cast<double>(after_online.rss_kb) / 1024.0);
      std::fflush(stdout);
      beating = false;  // the kill: no more beats
      phase = &offline_phase;
      offline_phase.start = now_s();
      stage = 2;
      return;
    }
    event_base_loopbreak(base);
  });
  event_base_dispatch(base);
  ProcFigures after = proc_figures(pid);
  for (const Arrival& a : offline_arrivals) count(offline_phase, a.data, a.t);
  double expected_records = 0;
  for (auto& m : w.members)
    if (m.size() <= threshold) expected_records += static_cast<double>(m.size());
  std::printf("offline storm (node silent at t=0, lease %d ms):\n", lease_ms);
  std::printf("  last PRESENCE_UPDATE at t=%.2fs\n", offline_phase.last - offline_phase.start);
  std::printf(
      "  records published %llu (expected %.0f: one per user per guild <= %u members) "
      "in %llu guild messages; %llu user-subject messages\n",
      (unsigned long long)offline_phase.records, expected_records, threshold,
      (unsigned long long)offline_phase.messages, (unsigned long long)offline_phase.user_msgs);
  std::printf("  delivered (every member watching) %.0f vs naive %.0f (%.2f%%)\n",
              offline_phase.delivered, naive, 100.0 * offline_phase.delivered / naive);
  std::printf("  largest burst to one session: %u in one second, %u in the whole storm\n",
              worst_second, worst_total);
  std::printf("  presenced CPU %.2fs in the offline storm, %.2fs in all; peak RSS %.1f MiB\n",
              after.cpu_s - after_online.cpu_s, after.cpu_s - before.cpu_s,
              static_cast<double>(after.hwm_kb) / 1024.0);
  bus.reset();
  event_base_free(base);
  return 0;
}
