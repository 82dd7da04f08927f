// PresenceState with a fake clock: merging across sessions and nodes, invisible, client
// status, the coalescing window, per-guild batches and rate limits, the large-guild
// path, lease expiry, and the silent resync after a restart.
#include <catch2/catch.hpp>
#include <map>

#include "../../../daemons/presenced/presence_state.hpp"

using namespace chat;
using chat::presenced::PresenceSettings;
using chat::presenced::PresenceState;

namespace {

struct FakeSink : presenced::Sink {
  std::vector<std::pair<uint64_t, std::vector<proto::PresenceRecord>>> guild;
  std::vector<proto::PresenceRecord> user;
  std::vector<std::string> syncs, expired;
  void guild_update(uint64_t g, std::vector<proto::PresenceRecord> r) override {
    guild.emplace_back(g, std::move(r));
  }
  void user_update(const proto::PresenceRecord& r) override { user.push_back(r); }
  void request_sync(const std::string& n) override { syncs.push_back(n); }
  void node_expired(const std::string& n, size_t) override { expired.push_back(n); }
  size_t records() const {
    size_t n = 0;
    for (auto& [g, r] : guild) n += r.size();
    return n;
  }
  void clear() {
    guild.clear();
    user.clear();
  }
};

proto::SessionPresence session(uint64_t sid, uint64_t uid, std::string status,
                               std::string client = "web",
                               std::vector<proto::GuildSize> guilds = {{100, 10}}) {
  proto::SessionPresence s;
  s.session_id = sid;
  s.user_id = uid;
  s.status = std::move(status);
  s.client = std::move(client);
  s.guilds = std::move(guilds);
  return s;
}

PresenceSettings settings() {
  PresenceSettings s;
  s.lease_timeout_ms = 1000;
  s.coalesce_ms = 100;
  s.guild_rate = 10;
  s.guild_burst = 5;
  s.large_guild_threshold = 50;
  s.sync_window_ms = 500;
  return s;
}

}  // namespace

TEST_CASE("the most present session wins; invisible shows offline", "[presence]") {
  PresenceState st(settings(), 0);
  st.online("n1", session(1, 7, "idle", "desktop"), 10);
  st.online("n2", session(2, 7, "online", "mobile"), 10);
  auto p = st.presence_of(7);
  CHECK(p.status == "online");
  CHECK(p.desktop == "idle");
  CHECK(p.mobile == "online");
  CHECK(p.web.empty());

  st.status("n2", session(2, 7, "dnd", "mobile", {}), 20);
  CHECK(st.presence_of(7).status == "dnd");
  st.offline("n2", 2, 30);
  CHECK(st.presence_of(7).status == "idle");
  CHECK(st.presence_of(7).mobile.empty());

  st.status("n1", session(1, 7, "invisible", "desktop", {}), 40);
  p = st.presence_of(7);
  CHECK(p.status == "offline");
  CHECK(p.desktop.empty());
  CHECK(p.activities.empty());
}

TEST_CASE("activities come from the winning session", "[presence]") {
  PresenceState st(settings(), 0);
  auto a = session(1, 7, "idle");
  a.activities = {{"chess", 0, "", ""}};
  auto b = session(2, 7, "online");
  b.activities = {{"go", 0, "", ""}};
  st.online("n", a, 0);
  st.online("n", b, 0);
  REQUIRE(st.presence_of(7).activities.size() == 1);
  CHECK(st.presence_of(7).activities[0].name == "go");
}

TEST_CASE("changes within the window are coalesced to the last", "[presence]") {
  PresenceState st(settings(), 0);
  FakeSink sink;
  st.online("n", session(1, 7, "online"), 0);
  st.status("n", session(1, 7, "idle", "web", {}), 20);
  st.status("n", session(1, 7, "dnd", "web", {}), 40);
  st.tick(50, sink);
  CHECK(sink.records() == 0);  // still in the window
  st.tick(100, sink);
  REQUIRE(sink.guild.size() == 1);
  CHECK(sink.guild[0].first == 100);
  REQUIRE(sink.guild[0].second.size() == 1);
  CHECK(sink.guild[0].second[0].status == "dnd");

  // online -> offline -> online within a window is nothing at all.
  sink.clear();
  st.status("n", session(1, 7, "invisible", "web", {}), 200);
  st.status("n", session(1, 7, "dnd", "web", {}), 250);
  st.tick(400, sink);
  CHECK(sink.records() == 0);
  CHECK(st.stats().coalesced >= 1);

  // A session that comes and goes within the window was never announced.
  st.online("n", session(9, 8, "online"), 500);
  st.offline("n", 9, 520);
  st.tick(700, sink);
  CHECK(sink.records() == 0);
}

TEST_CASE("per-guild rate limit defers, batches and replaces, never drops", "[presence]") {
  PresenceState st(settings(), 0);  // burst 5, 10 per second
  FakeSink sink;
  for (uint64_t u = 1; u <= 12; ++u) st.online("n", session(u, u, "online"), 0);
  st.tick(100, sink);
  REQUIRE(sink.guild.size() == 1);  // one batch
  CHECK(sink.records() == 5);
  // u=12 changes again while queued: its queued record is replaced, not duplicated.
  st.status("n", session(12, 12, "idle", "web", {}), 150);
  st.tick(260, sink);
  st.tick(300, sink);  // 200 ms after the first flush: two more tokens
  CHECK(sink.records() == 7);
  std::map<uint64_t, std::string> last;
  proto::LeaseBeat b;
  b.node = "n";
  b.sessions = 12;
  for (uint64_t t = 400; t <= 2000; t += 100) {
    st.beat(b, t);  // the node stays alive
    st.tick(t, sink);
  }
  for (auto& [g, recs] : sink.guild)
    for (auto& r : recs) last[r.user_id] = r.status;
  CHECK(sink.records() == 12);  // everyone, once
  CHECK(last.size() == 12);
  CHECK(last[12] == "idle");
  CHECK(st.pending_records() == 0);
}

TEST_CASE("users in a large guild get their own subject, not the guild's", "[presence]") {
  PresenceState st(settings(), 0);  // threshold 50
  FakeSink sink;
  st.online("n", session(1, 7, "online", "web", {{100, 10}, {200, 5000}}), 0);
  st.tick(200, sink);
  REQUIRE(sink.guild.size() == 1);
  CHECK(sink.guild[0].first == 100);
  REQUIRE(sink.user.size() == 1);
  CHECK(sink.user[0].user_id == 7);
  std::vector<proto::PresenceRecord> out;
  CHECK_FALSE(st.guild_presences(200, out));
  CHECK(st.guild_presences(100, out));
  CHECK(out.size() == 1);
}

TEST_CASE("a node whose lease expires loses its sessions", "[presence]") {
  PresenceState st(settings(), 0);  // lease 1000
  FakeSink sink;
  st.online("dead", session(1, 7, "online"), 0);
  st.online("live", session(2, 8, "online"), 0);
  st.online("live", session(3, 7, "idle", "mobile"), 0);
  st.tick(200, sink);
  sink.clear();
  proto::LeaseBeat b;
  b.node = "live";
  b.sessions = 2;
  st.beat(b, 900);
  st.tick(1100, sink);  // "dead" last heard at 0
  REQUIRE(sink.expired == std::vector<std::string>{"dead"});
  CHECK(st.presence_of(7).status == "idle");  // the other node's session remains
  st.beat(b, 1800);
  st.tick(1300, sink);
  REQUIRE(sink.records() == 1);
  CHECK(sink.guild[0].second[0].status == "idle");
  CHECK(st.session_count() == 2);
  st.tick(3000, sink);  // "live" stopped beating too
  CHECK(st.session_count() == 0);
  st.tick(3200, sink);
  CHECK(st.presence_of(7).status == "offline");
  CHECK(st.presence_of(8).status == "offline");
}

TEST_CASE("a beat that disagrees twice asks that node for a resync", "[presence]") {
  PresenceState st(settings(), 0);
  FakeSink sink;
  proto::LeaseBeat b;
  b.node = "n";
  b.sessions = 3;
  st.beat(b, 10);
  st.tick(20, sink);
  CHECK(sink.syncs.empty());
  st.beat(b, 30);
  st.tick(40, sink);
  REQUIRE(sink.syncs == std::vector<std::string>{"n"});
}

TEST_CASE("a resync right after start is silent; later it drops what is gone", "[presence]") {
  PresenceState st(settings(), 0);  // sync window 500
  FakeSink sink;
  st.online("n", session(1, 7, "online"), 10, true);
  st.sync_seen("n", 1, 1, 10);
  st.online("n", session(2, 8, "dnd"), 10, true);
  st.sync_seen("n", 1, 2, 10);
  st.sync_done("n", 1, 10);
  st.tick(300, sink);
  CHECK(sink.records() == 0);  // nobody re-announced
  CHECK(st.presence_of(8).status == "dnd");

  // A later resync of the node that no longer lists user 8: 8 goes offline, visibly.
  st.online("n", session(1, 7, "online"), 1000, true);
  st.sync_seen("n", 2, 1, 1000);
  st.sync_done("n", 2, 1000);
  st.tick(1200, sink);
  REQUIRE(sink.records() == 1);
  CHECK(sink.guild[0].second[0].user_id == 8);
  CHECK(sink.guild[0].second[0].status == "offline");
}

TEST_CASE("guild queries list the members not shown offline", "[presence]") {
  PresenceState st(settings(), 0);
  st.online("n", session(1, 7, "online"), 0);
  st.online("n", session(2, 8, "invisible"), 0);
  std::vector<proto::PresenceRecord> out;
  uint32_t members = 0;
  st.guild_online(100, out, members);
  CHECK(members == 10);
  REQUIRE(out.size() == 1);
  CHECK(out[0].user_id == 7);
}

TEST_CASE("a guild joined after online gets the user's presence; a left one no more",
          "[presence]") {
  PresenceState st(settings(), 0);  // threshold 50
  FakeSink sink;
  st.online("n", session(1, 7, "dnd"), 0);  // guild 100 only
  st.tick(200, sink);
  REQUIRE(sink.records() == 1);
  sink.clear();

  st.guild_join(7, 300, 4, 300);  // a small guild: announced at once
  st.guild_join(7, 300, 4, 300);  // repeated by another node: nothing more
  st.guild_join(9, 300, 4, 300);  // an unknown user: ignored
  st.tick(310, sink);
  REQUIRE(sink.guild.size() == 1);
  CHECK(sink.guild[0].first == 300);
  REQUIRE(sink.guild[0].second.size() == 1);
  CHECK(sink.guild[0].second[0].user_id == 7);
  CHECK(sink.guild[0].second[0].status == "dnd");
  std::vector<proto::PresenceRecord> out;
  CHECK(st.guild_presences(300, out));
  CHECK(out.size() == 1);
  sink.clear();

  // Its next change goes to both guilds.
  st.status("n", session(1, 7, "idle", "web", {}), 400);
  st.tick(600, sink);
  std::map<uint64_t, size_t> per_guild;
  for (auto& [g, r] : sink.guild) per_guild[g] += r.size();
  CHECK(per_guild == std::map<uint64_t, size_t>{{100, 1}, {300, 1}});
  sink.clear();

  // A large guild learns nothing at the join; the user gets its own subject from then on.
  st.guild_join(7, 400, 5000, 700);
  st.tick(710, sink);
  CHECK(sink.guild.empty());
  CHECK(sink.user.empty());
  out.clear();
  CHECK_FALSE(st.guild_presences(400, out));

  // Left: no more of its changes, and not listed.
  st.guild_leave(7, 300);
  st.guild_leave(7, 300);
  out.clear();
  CHECK(st.guild_presences(300, out));
  CHECK(out.empty());
  st.status("n", session(1, 7, "online", "web", {}), 800);
  st.tick(1000, sink);
  per_guild.clear();
  for (auto& [g, r] : sink.guild) per_guild[g] += r.size();
  CHECK(per_guild == std::map<uint64_t, size_t>{{100, 1}});
  CHECK(sink.user.size() == 1);
}

TEST_CASE("a join inside the coalescing window goes out with the publish", "[presence]") {
  PresenceState st(settings(), 0);
  FakeSink sink;
  st.online("n", session(1, 7, "online"), 0);
  st.guild_join(7, 300, 3, 10);  // not published yet: nothing queued twice
  st.tick(200, sink);
  std::map<uint64_t, size_t> per_guild;
  for (auto& [g, r] : sink.guild) per_guild[g] += r.size();
  CHECK(per_guild == std::map<uint64_t, size_t>{{100, 1}, {300, 1}});
}
