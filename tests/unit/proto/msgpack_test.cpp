#include <catch2/catch.hpp>

#include "chat/proto/ops.hpp"

using namespace chat::proto;

TEST_CASE("messages round-trip through msgpack") {
  Message m;
  m.id = 1234567890123456789ULL;
  m.channel_id = 42;
  m.guild_id = 7;
  m.author_id = 99;
  m.author_name = "alice";
  m.content = "héllo\nworld";
  m.mentions = {1, 2, 3};
  m.type = kReply;
  m.ref_message_id = 5;
  Message back;
  REQUIRE(unpack(pack(m), back));
  CHECK(back.id == m.id);
  CHECK(back.content == m.content);
  CHECK(back.author_name == "alice");
  CHECK(back.mentions == m.mentions);
  CHECK(back.type == kReply);
  CHECK(back.ref_message_id == 5);
}

TEST_CASE("envelopes round-trip and carry the schema version") {
  StoreRequest req;
  req.op = "msg.append";
  req.messages.resize(2);
  req.messages[1].id = 77;
  req.entries.push_back({std::string("\x00\x01k", 3), std::string("v\x00", 2)});
  StoreRequest back;
  REQUIRE(unpack(pack(req), back));
  CHECK(back.v == kSchemaVersion);
  CHECK(back.op == "msg.append");
  CHECK(back.messages.size() == 2);
  CHECK(back.messages[1].id == 77);
  CHECK(back.entries[0].key == std::string("\x00\x01k", 3));  // binary-safe
  CHECK(back.entries[0].value == std::string("v\x00", 2));

  Event ev;
  ev.t = "MESSAGE_CREATE";
  ev.message.content = "x";
  Event ev2;
  REQUIRE(unpack(pack(ev), ev2));
  CHECK(ev2.t == "MESSAGE_CREATE");
  CHECK(ev2.message.content == "x");
}

TEST_CASE("a reader tolerates unknown fields and defaults missing ones") {
  // A map with only `op` and a field from a future version.
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_map(2);
  pk.pack(std::string("op"));
  pk.pack(std::string("msg.get"));
  pk.pack(std::string("future_field"));
  pk.pack(123);
  StoreRequest req;
  REQUIRE(unpack(std::string_view(buf.data(), buf.size()), req));
  CHECK(req.op == "msg.get");
  CHECK(req.limit == 0);
}

TEST_CASE("bad msgpack is an error, never an exception or a crash") {
  StoreRequest req;
  std::string err;
  auto full = pack(StoreRequest{});
  CHECK_FALSE(unpack(std::string_view(full).substr(0, full.size() / 2), req, &err));
  CHECK_FALSE(err.empty());
  CHECK_FALSE(unpack(std::string("\xc1", 1), req));  // never-used byte
  CHECK_FALSE(unpack(pack(std::string("not a map")), req));
  GuildReply rep;
  CHECK_FALSE(unpack(std::string(), rep));
}

TEST_CASE("a guild's member_count crosses the bus; an older record reads as 0") {
  GuildReply r;
  r.guilds.push_back(Guild{10, "big", 1, -1, 100000});
  r.members.push_back(Member{10, 1, "owner", false, 0, ""});
  GuildReply back;
  REQUIRE(unpack(pack(r), back));
  REQUIRE(back.guilds.size() == 1);
  CHECK(back.guilds[0].member_count == 100000);
  CHECK(back.guilds[0].retention_days == -1);

  // A Guild as stored before the field existed: four keys only.
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_map(4);
  pk.pack(std::string("id"));
  pk.pack(uint64_t{10});
  pk.pack(std::string("name"));
  pk.pack(std::string("old"));
  pk.pack(std::string("owner_id"));
  pk.pack(uint64_t{1});
  pk.pack(std::string("retention_days"));
  pk.pack(30);
  Guild old;
  REQUIRE(unpack(std::string_view(buf.data(), buf.size()), old));
  CHECK(old.name == "old");
  CHECK(old.retention_days == 30);
  CHECK(old.member_count == 0);
}
