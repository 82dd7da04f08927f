// PresenceState's merge for users with many sessions: twenty thousand sessions of one user
// each updated once must give the same merged presence as the definition (the most present
// status wins, the most recently updated session on a tie; client_status per client type)
// without walking every session on every change; and a random sequence of online, status
// and offline over a few users must agree with a direct computation of that definition.
#include <catch2/catch.hpp>
#include <map>
#include <random>

#include "../../../daemons/presenced/presence_state.hpp"

using namespace chat;
using chat::presenced::PresenceSettings;
using chat::presenced::PresenceState;

namespace {

const char* const kClients[] = {"desktop", "mobile", "web"};

proto::SessionPresence many(uint64_t sid, const std::string& status, const std::string& game) {
  proto::SessionPresence s;
  s.session_id = sid;
  s.user_id = 7;
  s.status = status;
  s.client = kClients[sid % 3];
  s.activities = {{game, 0, "", ""}};
  return s;
}

std::string game_of(const proto::PresenceRecord& p) {
  return p.activities.size() == 1 ? p.activities[0].name : "";
}

// The merge as the header defines it, computed from scratch.
struct Reference {
  struct S {
    uint64_t user;
    std::string status, client, game;
    uint64_t stamp;
  };
  std::map<uint64_t, S> sessions;
  uint64_t clock = 0;

  void upsert(const proto::SessionPresence& s) {
    std::string client = s.client.empty() ? "web" : s.client;
    sessions[s.session_id] = {s.user_id, s.status, client,
                              s.activities.empty() ? "" : s.activities[0].name, ++clock};
  }
  proto::PresenceRecord merged(uint64_t user) const {
    const S* best = nullptr;
    int client_rank[3] = {0, 0, 0};
    for (auto& [sid, s] : sessions) {
      if (s.user != user) continue;
      int r = presenced::status_rank(s.status);
      if (!best || r > presenced::status_rank(best->status) ||
          (r == presenced::status_rank(best->status) && s.stamp > best->stamp))
        best = &s;
      int slot = s.client == "desktop" ? 0 : s.client == "mobile" ? 1 : 2;
      client_rank[slot] = std::max(client_rank[slot], r);
    }
    proto::PresenceRecord p;
    p.user_id = user;
    if (best && presenced::status_rank(best->status) >= 2) {
      p.status = best->status;
      if (!best->game.empty()) p.activities = {{best->game, 0, "", ""}};
      static const char* kNames[] = {"", "", "idle", "dnd", "online"};
      std::string* slots[3] = {&p.desktop, &p.mobile, &p.web};
      for (int i = 0; i < 3; ++i)
        if (client_rank[i] >= 2) *slots[i] = kNames[client_rank[i]];
    }
    return p;
  }
};

}  // namespace

TEST_CASE("one user with 20000 sessions, each updated: the merge follows the definition",
          "[presence]") {
  constexpr uint64_t n = 20000;
  PresenceState st(PresenceSettings{}, 0);
  for (uint64_t i = 1; i <= n; ++i) {
    auto s = many(i, "idle", "s" + std::to_string(i));
    s.guilds = {{100, 10}};
    st.online("n", s, 1);
  }
  auto p = st.presence_of(7);
  CHECK(p.status == "idle");
  CHECK(game_of(p) == "s20000");  // all idle: the last updated wins
  CHECK((p.desktop == "idle" && p.mobile == "idle" && p.web == "idle"));

  // Every session updated once: the even ones to dnd.
  for (uint64_t i = 1; i <= n; ++i)
    st.status("n", many(i, i % 2 ? "idle" : "dnd", "u" + std::to_string(i)), 2);
  p = st.presence_of(7);
  CHECK(p.status == "dnd");
  CHECK(game_of(p) == "u20000");
  CHECK((p.desktop == "dnd" && p.mobile == "dnd" && p.web == "dnd"));

  // One session goes online and away again: back to the latest dnd.
  st.status("n", many(5, "online", "five"), 3);
  p = st.presence_of(7);
  CHECK(p.status == "online");
  CHECK(game_of(p) == "five");
  CHECK((p.web == "online" && p.desktop == "dnd" && p.mobile == "dnd"));
  st.offline("n", 5, 4);
  CHECK(game_of(st.presence_of(7)) == "u20000");

  // The winner steps down: the next most recently updated dnd session wins.
  st.status("n", many(n, "idle", "last"), 5);
  p = st.presence_of(7);
  CHECK(p.status == "dnd");
  CHECK(game_of(p) == "u19998");

  // Without the dnd sessions the latest idle one wins (20000, updated just now, is even).
  for (uint64_t i = 2; i <= n; i += 2) st.offline("n", i, 6);
  p = st.presence_of(7);
  CHECK(p.status == "idle");
  CHECK(game_of(p) == "u19999");

  // Every mobile session invisible: no mobile status, the rest unchanged.
  for (uint64_t i = 1; i <= n; i += 2)
    if (i % 3 == 1) st.status("n", many(i, "invisible", "gone"), 7);
  p = st.presence_of(7);
  CHECK(p.mobile.empty());
  CHECK((p.desktop == "idle" && p.web == "idle"));
  CHECK(game_of(p) == "u19997");  // 19999 is mobile: the latest idle one left is 19997

  for (uint64_t i = 1; i <= n; i += 2) st.offline("n", i, 8);
  p = st.presence_of(7);
  CHECK(p.status == "offline");
  CHECK((p.desktop.empty() && p.mobile.empty() && p.web.empty() && p.activities.empty()));
  CHECK(st.session_count() == 0);
}

TEST_CASE("random online, status and offline agree with the merge computed afresh", "[presence]") {
  const char* const statuses[] = {"online", "dnd", "idle", "invisible", "offline", ""};
  const char* const clients[] = {"desktop", "mobile", "web", ""};
  std::mt19937 rng(12345);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  PresenceState st(PresenceSettings{}, 0);
  Reference ref;
  for (int step = 0; step < 5000; ++step) {
    proto::SessionPresence s;
    s.session_id = 1 + pick(12);
    s.user_id = 1 + pick(3);  // a session id may move to another user: a new session
    s.status = statuses[pick(6)];
    s.client = clients[pick(4)];
    s.activities = {{"g" + std::to_string(step), 0, "", ""}};
    int op = pick(3);
    if (op == 2) {
      st.offline("n", s.session_id, step);
      ref.sessions.erase(s.session_id);
    } else {
      if (op == 0)
        st.online("n", s, step);
      else
        st.status("n", s, step);
      ref.upsert(s);
    }
    for (uint64_t user = 1; user <= 3; ++user) {
      auto want = ref.merged(user);
      auto got = st.presence_of(user);
      INFO("step " << step << " user " << user);
      REQUIRE(got.status == want.status);
      REQUIRE(game_of(got) == game_of(want));
      REQUIRE(got.desktop == want.desktop);
      REQUIRE(got.mobile == want.mobile);
      REQUIRE(got.web == want.web);
    }
  }
}
