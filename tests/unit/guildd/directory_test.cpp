// The directory's persistence encoding (key layout, record round trip through load())
// and its in-memory indexes.
#include <catch2/catch.hpp>

#include "../../../daemons/guildd/dir_keys.hpp"
#include "../../../daemons/guildd/directory.hpp"
#include "../../../daemons/guildd/tokens.hpp"

using namespace chat::guildd;
namespace proto = chat::proto;

TEST_CASE("keys: kind byte then big-endian ids", "[guildd][keys]") {
  CHECK(user_key(1) == std::string("u\0\0\0\0\0\0\0\x01", 9));
  CHECK(guild_key(0x0102030405060708ULL) == std::string("g\x01\x02\x03\x04\x05\x06\x07\x08", 9));
  CHECK(channel_key(258) == std::string("c\0\0\0\0\0\0\x01\x02", 9));
  CHECK(token_key(1)[0] == 'h');
  CHECK(member_key(1, 2) == std::string("m\0\0\0\0\0\0\0\x01\0\0\0\0\0\0\0\x02", 17));
  CHECK(kind_prefix(KeyKind::member) == "m");
  // Byte order is numeric order, and a guild's members share its prefix.
  CHECK(user_key(255) < user_key(256));
  CHECK(member_key(1, UINT64_MAX) < member_key(2, 0));
  CHECK(member_key(7, 9).rfind(member_key(7, 0).substr(0, 9), 0) == 0);
}

TEST_CASE("parse_key round-trips and refuses other shapes", "[guildd][keys]") {
  ParsedKey k;
  REQUIRE(parse_key(channel_key(99), k));
  CHECK(k.kind == KeyKind::channel);
  CHECK(k.id == 99);
  REQUIRE(parse_key(member_key(5, 6), k));
  CHECK(k.kind == KeyKind::member);
  CHECK(k.id == 5);
  CHECK(k.second == 6);
  REQUIRE(parse_key(token_key(12), k));
  CHECK(k.kind == KeyKind::token);
  CHECK_FALSE(parse_key("", k));
  CHECK_FALSE(parse_key("x12345678", k));
  CHECK_FALSE(parse_key(user_key(1) + "x", k));
  CHECK_FALSE(parse_key(member_key(1, 2).substr(0, 9), k));
}

namespace {
proto::User user(uint64_t id, const char* name, bool admin = false) {
  proto::User u;
  u.id = id;
  u.name = name;
  u.admin = admin;
  return u;
}
}  // namespace

TEST_CASE("directory: records round-trip through their stored encoding", "[guildd][directory]") {
  Directory src;
  proto::User alice = user(10, "alice"), root = user(5, "root", true);
  proto::Guild g{100, "ops", 10};
  proto::Channel general;
  general.id = 200;
  general.guild_id = 100;
  general.name = "general";
  proto::Channel dm;
  dm.id = 300;
  dm.type = proto::kDm;
  dm.recipients = {5, 10};
  proto::Member m;
  m.guild_id = 100;
  m.user_id = 10;
  m.user_name = "alice";
  std::string digest = sha256("tok");

  std::vector<proto::DirEntry> entries = {
      Directory::entry_for(general), Directory::entry_for(dm),
      Directory::entry_for(g),       Directory::entry_for_token(10, digest),
      Directory::entry_for(m),       Directory::entry_for(alice),
      Directory::entry_for(root)};  // any order: load() does not depend on it
  Directory d;
  for (const auto& e : entries) {
    std::string err;
    REQUIRE(d.load(e, err));
  }
  REQUIRE(d.user(10));
  CHECK(d.user(10)->name == "alice");
  CHECK(d.user_by_name("alice")->id == 10);
  CHECK(d.user_by_token_digest(digest)->id == 10);
  CHECK(d.first_admin()->id == 5);
  REQUIRE(d.guild(100));
  CHECK(d.guild(100)->owner_id == 10);
  CHECK(d.channels_of(100).size() == 1);
  CHECK(d.member(100, 10)->user_name == "alice");
  CHECK(d.guilds_of(10).size() == 1);
  CHECK(d.guilds_of(5).empty());
  CHECK(d.dm_between(10, 5) == 300);
  CHECK(d.channel(300)->guild_id == 0);

  std::string err;
  CHECK_FALSE(d.load(proto::DirEntry{user_key(1), "\xc1"}, err));  // not msgpack
  CHECK_FALSE(d.load(proto::DirEntry{token_key(1), "short"}, err));
  CHECK_FALSE(d.load(proto::DirEntry{"zzz", ""}, err));
}

TEST_CASE("directory: deleting a guild removes its channels and members", "[guildd][directory]") {
  Directory d;
  d.put_user(user(1, "a"));
  d.put_user(user(2, "b"));
  d.put_guild(proto::Guild{10, "g", 1});
  for (uint64_t cid : {20, 21}) {
    proto::Channel c;
    c.id = cid;
    c.guild_id = 10;
    c.position = static_cast<int>(21 - cid);  // 21 first by position
    d.put_channel(c);
  }
  for (uint64_t uid : {1, 2}) {
    proto::Member m;
    m.guild_id = 10;
    m.user_id = uid;
    d.put_member(m);
  }
  auto chans = d.channels_of(10);
  REQUIRE(chans.size() == 2);
  CHECK(chans[0]->id == 21);
  CHECK(d.members_of(10, 1).size() == 1);  // after user 1
  CHECK(d.members_of(10, 0, 1).size() == 1);
  CHECK(d.keys_of_guild(10).size() == 5);

  d.erase_guild(10);
  CHECK_FALSE(d.guild(10));
  CHECK_FALSE(d.channel(20));
  CHECK_FALSE(d.member(10, 2));
  CHECK(d.guilds_of(1).empty());
  CHECK(d.channel_count() == 0);
}

TEST_CASE("directory: a new token digest replaces the old one", "[guildd][directory]") {
  Directory d;
  d.put_user(user(1, "a"));
  d.set_token_digest(1, sha256("old"));
  d.set_token_digest(1, sha256("new"));
  CHECK_FALSE(d.user_by_token_digest(sha256("old")));
  CHECK(d.user_by_token_digest(sha256("new"))->id == 1);
  d.clear_token(1);
  CHECK_FALSE(d.user_by_token_digest(sha256("new")));
  CHECK_FALSE(d.token_digest(1));
}

TEST_CASE("directory: remove() drops what a deleted key names", "[guildd][directory]") {
  Directory d;
  d.put_user(user(1, "a"));
  d.put_user(user(2, "b"));
  d.set_token_digest(1, sha256("t1"));
  d.set_token_digest(2, sha256("t2"));
  d.put_guild(proto::Guild{10, "g", 1});
  proto::Channel text;
  text.id = 20;
  text.guild_id = 10;
  d.put_channel(text);
  proto::Channel dm;
  dm.id = 30;
  dm.type = proto::kDm;
  dm.recipients = {1, 2};
  d.put_channel(dm);
  for (uint64_t uid : {1, 2}) {
    proto::Member m;
    m.guild_id = 10;
    m.user_id = uid;
    d.put_member(m);
  }
  std::string err;

  // A member key: that membership only.
  REQUIRE(d.remove(member_key(10, 2), err));
  CHECK_FALSE(d.member(10, 2));
  CHECK(d.member(10, 1));
  CHECK(d.member_count(10) == 1);
  CHECK(d.guilds_of(2).empty());
  CHECK(d.guilds_of(1).size() == 1);

  // A token key: the digest no longer authenticates; the user stays.
  REQUIRE(d.remove(token_key(2), err));
  CHECK_FALSE(d.user_by_token_digest(sha256("t2")));
  CHECK_FALSE(d.token_digest(2));
  CHECK(d.user(2));

  // A DM channel key: the pair has no DM any more.
  REQUIRE(d.remove(channel_key(30), err));
  CHECK_FALSE(d.channel(30));
  CHECK(d.dm_between(1, 2) == 0);
  CHECK(d.channels_of(10).size() == 1);

  // A user key: the user, its name and its token go.
  REQUIRE(d.remove(user_key(1), err));
  CHECK_FALSE(d.user(1));
  CHECK_FALSE(d.user_by_name("a"));
  CHECK_FALSE(d.user_by_token_digest(sha256("t1")));
  CHECK(d.user_by_name("b"));

  // A guild key: the guild with its channels and members.
  REQUIRE(d.remove(guild_key(10), err));
  CHECK_FALSE(d.guild(10));
  CHECK_FALSE(d.channel(20));
  CHECK(d.member_count(10) == 0);
  CHECK(d.channel_count() == 0);

  // Keys already absent are fine; malformed ones are refused with a reason.
  CHECK(d.remove(guild_key(10), err));
  CHECK(d.remove(member_key(99, 98), err));
  CHECK(d.remove(user_key(77), err));
  err.clear();
  CHECK_FALSE(d.remove("", err));
  CHECK_FALSE(err.empty());
  CHECK_FALSE(d.remove("x12345678", err));
  CHECK_FALSE(d.remove(member_key(1, 2).substr(0, 9), err));
  CHECK(d.user_count() == 1);
}
