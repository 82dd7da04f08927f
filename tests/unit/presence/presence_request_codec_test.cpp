// PresenceRequest on the wire: every request gatewayd builds decodes in presenced, at the
// edges of its values too; what presenced refuses, and what it can say about it
// (describe_bad_request). The "bad request dropped ... std::bad_cast v=1" of the scale
// benchmark is reproduced here from the bytes a bus connection lost in the middle of a
// message leaves behind: the head of one message and then the next message's protocol
// line and payload.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "../../../daemons/presenced/bad_request.hpp"
#include "chat/proto/ops.hpp"

using namespace chat;
using proto::PresenceRequest;
using proto::SessionPresence;

namespace {

constexpr uint64_t kMax64 = std::numeric_limits<uint64_t>::max();

SessionPresence session(uint64_t id, uint64_t user) {
  SessionPresence s;
  s.session_id = id;
  s.user_id = user;
  s.status = "dnd";
  s.since_ms = kMax64;
  s.afk = true;
  s.activities = {{"a game", 0, "", ""},
                  {"", 5, "https://example.invalid/\xF0\x9F\x8E\xAE", "\xE2\x80\x94"},
                  {"negative type", -1, "", ""}};
  s.client = "mobile";
  s.guilds = {{kMax64, std::numeric_limits<uint32_t>::max()}, {1, 0}};
  return s;
}

// The requests gatewayd's PresenceClient sends (presence_client.cpp), with extreme values.
std::vector<PresenceRequest> every_request() {
  std::vector<PresenceRequest> out;
  PresenceRequest r;
  r.op = "online";
  r.node = "gw123-abcdef-0";
  r.sessions = {session(kMax64, kMax64)};
  out.push_back(r);

  r = {};
  r.op = "status";
  r.node = "gw123-abcdef-0";
  r.sessions = {session(1, 2)};
  r.sessions[0].guilds.clear();  // "unchanged", as update() sends it
  r.sessions[0].activities.clear();
  out.push_back(r);

  r = {};
  r.op = "offline";
  r.node = "n";
  r.session_id = kMax64;
  r.user_id = kMax64;
  out.push_back(r);

  r = {};
  r.op = "sync";
  r.node = "gw1-000000-3";
  r.sync_id = kMax64;
  for (uint64_t i = 0; i < 200; ++i) r.sessions.push_back(session(i, i << 40));
  out.push_back(r);

  r = {};
  r.op = "sync";  // a node with no session: an empty last chunk
  r.node = "gw1-000000-3";
  r.sync_id = 1;
  r.last = true;
  out.push_back(r);

  r = {};
  r.op = "guild.join";
  r.node = "n";
  r.session_id = 1;
  r.user_id = 2;
  r.guild_id = kMax64;
  r.members = std::numeric_limits<uint32_t>::max();
  out.push_back(r);

  r = {};
  r.op = "guild.leave";
  r.node = "n";
  r.user_id = 2;
  r.guild_id = 3;
  out.push_back(r);

  r = {};
  r.op = "query.guilds";
  r.guild_ids = {0, 1, kMax64};
  out.push_back(r);

  r = {};
  r.op = "query.users";
  for (uint64_t i = 0; i < 1000; ++i) r.ids.push_back(kMax64 - i);
  out.push_back(r);

  r = {};
  r.op = "admin.users";
  r.ids = {kMax64};
  out.push_back(r);

  r = {};
  r.op = "admin.guild";
  r.guild_id = kMax64;
  out.push_back(r);
  return out;
}

bool same(const SessionPresence& a, const SessionPresence& b) {
  if (a.guilds.size() != b.guilds.size()) return false;
  for (size_t i = 0; i < a.guilds.size(); ++i)
    if (a.guilds[i].id != b.guilds[i].id || a.guilds[i].members != b.guilds[i].members)
      return false;
  return a.session_id == b.session_id && a.user_id == b.user_id && a.status == b.status &&
         a.since_ms == b.since_ms && a.afk == b.afk && a.activities == b.activities &&
         a.client == b.client;
}

}  // namespace

TEST_CASE("every presence request gatewayd sends decodes in presenced") {
  for (const PresenceRequest& r : every_request()) {
    INFO("op " << r.op);
    std::string bytes = proto::pack(r);
    PresenceRequest back;
    std::string error;
    REQUIRE(proto::unpack(bytes, back, &error));
    CHECK(error.empty());
    CHECK(back.v == proto::kPresenceSchemaVersion);
    CHECK(back.op == r.op);
    CHECK(back.node == r.node);
    CHECK(back.session_id == r.session_id);
    CHECK(back.user_id == r.user_id);
    CHECK(back.guild_id == r.guild_id);
    CHECK(back.ids == r.ids);
    CHECK(back.guild_ids == r.guild_ids);
    CHECK(back.sync_id == r.sync_id);
    CHECK(back.last == r.last);
    CHECK(back.members == r.members);
    REQUIRE(back.sessions.size() == r.sessions.size());
    for (size_t i = 0; i < r.sessions.size(); ++i) CHECK(same(back.sessions[i], r.sessions[i]));
  }
}

TEST_CASE("a presence request from a sender older or newer than the field list decodes") {
  // Older: no `members` (appended for guild.join). Newer: a field presenced does not know.
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_map(4);
  pk.pack(std::string("v"));
  pk.pack(1);
  pk.pack(std::string("op"));
  pk.pack(std::string("guild.join"));
  pk.pack(std::string("guild_id"));
  pk.pack(uint64_t{7});
  pk.pack(std::string("some_future_field"));
  pk.pack(std::vector<std::string>{"x"});
  PresenceRequest back;
  REQUIRE(proto::unpack(std::string_view(buf.data(), buf.size()), back));
  CHECK(back.op == "guild.join");
  CHECK(back.guild_id == 7);
  CHECK(back.members == 0);  // unknown: presenced keeps what it had
}

TEST_CASE("a presence request with a mistyped field is refused and the field is named") {
  auto packed_with = [](auto value) {
    msgpack::sbuffer buf;
    msgpack::packer<msgpack::sbuffer> pk(buf);
    pk.pack_map(3);
    pk.pack(std::string("v"));
    pk.pack(1);
    pk.pack(std::string("op"));
    pk.pack(std::string("guild.join"));
    pk.pack(std::string("members"));
    pk.pack(value);
    return std::string(buf.data(), buf.size());
  };
  std::string ok = packed_with(uint32_t{5});
  PresenceRequest req;
  REQUIRE(proto::unpack(ok, req));
  CHECK(req.members == 5);

  for (const std::string& bad : {packed_with(uint64_t{1} << 32),  // overflows uint32
                                 packed_with(std::string("5")), packed_with(-1)}) {
    PresenceRequest r;
    std::string error;
    CHECK_FALSE(proto::unpack(bad, r, &error));
    CHECK(error == "std::bad_cast");
    presenced::BadRequest d = presenced::describe_bad_request(bad);
    CHECK(d.op == "guild.join");
    CHECK(d.field == "members");
    CHECK(d.bytes == bad.size());
    CHECK(d.head.size() == 2 * std::min(bad.size(), presenced::kHeadBytes));
  }
}

TEST_CASE("what is not a presence request at all is described as such") {
  PresenceRequest r;
  std::string error;
  std::string number = proto::pack(42);
  CHECK_FALSE(proto::unpack(number, r, &error));
  CHECK(error == "std::bad_cast");
  CHECK(r.v == proto::kPresenceSchemaVersion);  // the default: nothing was decoded
  presenced::BadRequest d = presenced::describe_bad_request(number);
  CHECK(d.field == "not a map");
  CHECK(d.head == "2a");

  std::string truncated = proto::pack(every_request()[0]).substr(0, 10);
  CHECK_FALSE(proto::unpack(truncated, r, &error));
  CHECK(presenced::describe_bad_request(truncated).field == "not msgpack");

  std::map<int, int> int_keys{{1, 2}};
  std::string odd = proto::pack(int_keys);
  CHECK_FALSE(proto::unpack(odd, r, &error));
  CHECK(presenced::describe_bad_request(odd).field == "a key that is not a string");
}

TEST_CASE("a sync chunk cut short and completed with the next message's bytes") {
  // What a NATS client whose protocol parser outlives a lost connection delivers: the
  // MSG line announced N bytes, the connection dropped after some of them, and the rest
  // of the N came from the new connection (the next MSG line and its payload).
  PresenceRequest chunk = every_request()[3];  // op sync, 200 sessions
  std::string whole = proto::pack(chunk);
  PresenceRequest next = every_request()[2];  // op offline
  std::string after = "MSG chat.presence.resync.18d4577e0c11d9df 5 " +
                      std::to_string(proto::pack(next).size()) + "\r\n" + proto::pack(next) +
                      "\r\n";
  for (size_t cut : {whole.size() / 3, whole.size() / 2, whole.size() - after.size()}) {
    INFO("cut at " << cut << " of " << whole.size());
    std::string glued = whole.substr(0, cut) + after;
    while (glued.size() < whole.size()) glued += "PING\r\n";
    glued.resize(whole.size());
    PresenceRequest r;
    std::string error;
    CHECK_FALSE(proto::unpack(glued, r, &error));
    CHECK(error == "std::bad_cast");              // the benchmark's log line
    CHECK(r.v == proto::kPresenceSchemaVersion);  // and its v=1, decoded or not
    presenced::BadRequest d = presenced::describe_bad_request(glued);
    CHECK(d.op == "sync");
    CHECK(d.field == "sessions");
    CHECK(d.bytes == whole.size());
  }
}
