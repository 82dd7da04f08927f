// PresenceState with a shard range (presence.shard_range): which users a range owns, a
// resync that lists every session of a node keeps only the owned users', the beat check
// that still works with a partial range, and lease expiry touching only owned users.
#include <catch2/catch.hpp>

#include <algorithm>

#include "../../../daemons/presenced/presence_state.hpp"
#include "chat/proto/subjects.hpp"

using namespace chat;
using chat::presenced::PresenceSettings;
using chat::presenced::PresenceState;
using chat::presenced::UserRange;

namespace {

struct Sink : presenced::Sink {
  std::vector<proto::PresenceRecord> records;
  std::vector<std::string> syncs, expired;
  void guild_update(uint64_t, std::vector<proto::PresenceRecord> r) override {
    records.insert(records.end(), r.begin(), r.end());
  }
  void user_update(const proto::PresenceRecord& r) override { records.push_back(r); }
  void request_sync(const std::string& n) override { syncs.push_back(n); }
  void node_expired(const std::string& n, size_t) override { expired.push_back(n); }
};

proto::SessionPresence session(uint64_t sid, uint64_t uid) {
  proto::SessionPresence s;
  s.session_id = sid;
  s.user_id = uid;
  s.status = "online";
  s.client = "web";
  s.guilds = {{100, 10}};
  return s;
}

PresenceSettings settings() {
  PresenceSettings s;
  s.lease_timeout_ms = 1000;
  s.coalesce_ms = 100;
  s.sync_window_ms = 500;
  return s;
}

// The first `n` user ids from 1000 up whose shard (of 4) is, or is not, in 0..1.
std::vector<uint64_t> users(bool inside, size_t n) {
  std::vector<uint64_t> out;
  for (uint64_t id = 1000; out.size() < n; ++id)
    if ((subjects::shard_of(id, 4) <= 1) == inside) out.push_back(id);
  return out;
}

}  // namespace

TEST_CASE("a user range owns the users whose shard it covers", "[presence]") {
  UserRange every;
  CHECK(every.all());
  CHECK(every.owns(12345));
  UserRange whole{4, 0, 3};
  CHECK(whole.all());
  UserRange part{4, 1, 2};
  CHECK_FALSE(part.all());
  size_t owned = 0;
  for (uint64_t id = 1; id <= 4000; ++id) {
    uint32_t shard = subjects::shard_of(id, 4);
    CHECK(part.owns(id) == (shard == 1 || shard == 2));
    owned += part.owns(id);
  }
  CHECK(owned > 1000);  // about half: the hash spreads ids over the shards
  CHECK(owned < 3000);
}

TEST_CASE("a resync keeps only the users in range; leases and beats follow", "[presence]") {
  PresenceState st(settings(), 0);
  st.set_range(UserRange{4, 0, 1});
  Sink sink;
  std::vector<uint64_t> mine = users(true, 3), theirs = users(false, 3);
  uint64_t sid = 1;
  for (uint64_t u : mine) CHECK(st.sync_session("n", 1, session(sid++, u), 10));
  for (uint64_t u : theirs) CHECK_FALSE(st.sync_session("n", 1, session(sid++, u), 10));
  st.sync_done("n", 1, 10);
  CHECK(st.session_count() == 3);
  CHECK(st.user_count() == 3);
  for (uint64_t u : mine) CHECK(st.presence_of(u).status == "online");
  for (uint64_t u : theirs) CHECK(st.presence_of(u).status == "offline");

  // The node's beat counts all six of its sessions: no mismatch with our three.
  proto::LeaseBeat b;
  b.node = "n";
  b.sessions = 6;
  for (uint64_t t : {300, 600, 900}) {
    st.beat(b, t);
    st.tick(t + 10, sink);
  }
  CHECK(sink.syncs.empty());
  CHECK(sink.records.empty());  // the resync was silent

  // Fewer than we hold, twice: we hold stale sessions, so ask the node again.
  b.sessions = 2;
  st.beat(b, 1000);
  st.tick(1010, sink);
  st.beat(b, 1100);
  st.tick(1110, sink);
  REQUIRE(sink.syncs == std::vector<std::string>{"n"});

  // The node stops beating: only our users go offline, visibly.
  st.tick(2200, sink);
  REQUIRE(sink.expired == std::vector<std::string>{"n"});
  CHECK(st.stats().expired_sessions == 3);
  CHECK(st.session_count() == 0);
  st.tick(2400, sink);
  REQUIRE(sink.records.size() == 3);
  for (const auto& r : sink.records) {
    CHECK(r.status == "offline");
    CHECK(std::find(mine.begin(), mine.end(), r.user_id) != mine.end());
  }
}

TEST_CASE("without a range a resync keeps everyone and beats must match", "[presence]") {
  PresenceState st(settings(), 0);
  Sink sink;
  std::vector<uint64_t> a = users(true, 2), b = users(false, 2);
  uint64_t sid = 1;
  for (uint64_t u : a) CHECK(st.sync_session("n", 1, session(sid++, u), 10));
  for (uint64_t u : b) CHECK(st.sync_session("n", 1, session(sid++, u), 10));
  st.sync_done("n", 1, 10);
  CHECK(st.session_count() == 4);
  proto::LeaseBeat beat;
  beat.node = "n";
  beat.sessions = 6;
  st.beat(beat, 100);
  st.tick(110, sink);
  st.beat(beat, 200);
  st.tick(210, sink);
  CHECK(sink.syncs == std::vector<std::string>{"n"});
}
