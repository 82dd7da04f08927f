// discord_json: the keys discord.py reads unconditionally are present, ids are strings,
// timestamps carry an explicit offset (DISCORD_COMPAT.md §0, §1.10, §1.11, §2.3).
#include <catch2/catch.hpp>

#include "chat/proto/discord_json.hpp"
#include "chat/proto/snowflake.hpp"

using chat::proto::Json;
namespace proto = chat::proto;

namespace {

const uint64_t kId = 1191168914227331077ULL;  // 2024-01-01T00:00:00Z, worker 1, seq 5

proto::Message sample_message() {
  proto::Message m;
  m.id = kId;
  m.channel_id = kId + 1;
  m.guild_id = kId + 2;
  m.author_id = kId + 3;
  m.author_name = "alice";
  m.content = "hello";
  m.nonce = "n1";
  m.mentions = {kId + 3, kId + 9};
  return m;
}

void require_keys(const Json& j, std::initializer_list<const char*> keys) {
  for (const char* k : keys) {
    INFO("key " << k);
    REQUIRE(j.contains(k));
  }
}

}  // namespace

TEST_CASE("message objects carry every key discord.py requires", "[discord_json]") {
  Json j = proto::message_json(sample_message());
  require_keys(j, {"id",     "channel_id", "attachments",      "embeds",       "edited_timestamp",
                   "type",   "pinned",     "mention_everyone", "tts",          "content",
                   "author", "mentions",   "mention_roles",    "components",   "timestamp",
                   "flags",  "guild_id",   "member",           "channel_type", "nonce"});
  REQUIRE(j["id"] == std::to_string(kId));
  REQUIRE(j["channel_id"].is_string());
  REQUIRE(j["guild_id"].is_string());
  REQUIRE(j["author"]["id"].is_string());
  REQUIRE(j["edited_timestamp"].is_null());
  REQUIRE(j["attachments"].is_array());
  REQUIRE(j["embeds"].is_array());
  REQUIRE(j["timestamp"] == "2024-01-01T00:00:00.000000+00:00");
  REQUIRE(j["member"].contains("roles"));
  REQUIRE(j["member"].contains("flags"));
  REQUIRE(j["mentions"].size() == 2);
  REQUIRE(j["mentions"][0]["username"] == "alice");
  require_keys(j["author"], {"id", "username", "discriminator", "avatar", "global_name", "bot"});
}

TEST_CASE("message content is blanked on request; DM messages have no guild keys",
          "[discord_json]") {
  proto::MessageJsonOptions o;
  o.strip_content = true;
  REQUIRE(proto::message_json(sample_message(), o)["content"] == "");
  proto::Message dm = sample_message();
  dm.guild_id = 0;
  Json j = proto::message_json(dm);
  REQUIRE_FALSE(j.contains("guild_id"));
  REQUIRE_FALSE(j.contains("member"));
  REQUIRE(j["channel_type"] == 1);
  o = {};
  o.gateway_extras = false;
  REQUIRE_FALSE(proto::message_json(sample_message(), o).contains("member"));
}

TEST_CASE("edited messages and replies", "[discord_json]") {
  proto::Message m = sample_message();
  m.edited_ms = chat::snowflake_unix_ms(kId) + 1500;
  m.ref_message_id = kId - 100;
  m.type = proto::kReply;
  Json j = proto::message_json(m);
  REQUIRE(j["edited_timestamp"] == "2024-01-01T00:00:01.500000+00:00");
  REQUIRE(j["message_reference"]["message_id"] == std::to_string(kId - 100));
  REQUIRE(j["message_reference"]["channel_id"] == std::to_string(m.channel_id));
  REQUIRE(j["type"] == 19);
}

TEST_CASE("users, members, channels", "[discord_json]") {
  Json u = proto::user_json(kId, "bot", true, true);
  require_keys(u, {"id", "username", "discriminator", "avatar", "bot", "verified", "flags"});
  REQUIRE(u["id"].is_string());
  REQUIRE(u["avatar"].is_null());

  proto::Member m{kId + 2, kId, "bot", true, 1704067200000ULL, ""};
  Json mj = proto::member_json(m);
  require_keys(mj, {"user", "roles", "flags", "joined_at", "deaf", "mute", "nick"});
  REQUIRE(mj["joined_at"] == "2024-01-01T00:00:00.000000+00:00");
  REQUIRE(mj["user"]["id"] == std::to_string(kId));

  proto::Channel text;
  text.id = kId + 1;
  text.guild_id = kId + 2;
  text.name = "general";
  Json cj = proto::channel_json(text);
  require_keys(cj, {"id", "type", "guild_id", "name", "position", "permission_overwrites", "nsfw",
                    "parent_id", "topic", "last_message_id"});
  REQUIRE(cj["parent_id"].is_null());
  text.type = proto::kGuildVoice;
  require_keys(proto::channel_json(text), {"bitrate", "user_limit", "name", "position"});

  proto::Channel dm;
  dm.id = kId + 5;
  dm.type = proto::kDm;
  dm.recipients = {kId, kId + 3};
  Json dj = proto::channel_json(dm, {proto::User{kId + 3, "alice", false, false}});
  REQUIRE(dj["type"] == 1);
  REQUIRE(dj["recipients"].size() == 2);
  REQUIRE(dj["recipients"][1]["username"] == "alice");
}

TEST_CASE("GUILD_CREATE has the full guild, only its own channels and members", "[discord_json]") {
  proto::Guild g{kId + 2, "g", kId};
  proto::Channel c1, c2;
  c1.id = kId + 10, c1.guild_id = g.id, c1.name = "general";
  c2.id = kId + 11, c2.guild_id = g.id + 1, c2.name = "elsewhere";
  proto::Member m1{g.id, kId, "bot", true, 1704067200000ULL, ""};
  proto::Member m2{g.id + 1, kId, "bot", true, 0, ""};
  Json j = proto::guild_create_json(g, {c1, c2}, {m1, m2}, kId);
  require_keys(
      j, {"id", "name", "owner_id", "channels", "members", "member_count", "joined_at", "large",
          "unavailable", "roles", "emojis", "stickers", "features", "voice_states", "presences",
          "threads", "stage_instances", "guild_scheduled_events", "icon"});
  REQUIRE(j["channels"].size() == 1);
  REQUIRE(j["members"].size() == 1);
  REQUIRE(j["member_count"] == 1);
  REQUIRE(j["large"] == false);
  REQUIRE(j["unavailable"] == false);
  REQUIRE(j["roles"][0]["id"] == std::to_string(g.id));
  REQUIRE(j["roles"][0]["name"] == "@everyone");
  REQUIRE(j["owner_id"] == std::to_string(kId));
  REQUIRE(j["joined_at"] == "2024-01-01T00:00:00.000000+00:00");
}

TEST_CASE("GUILD_CREATE of a large guild: real member_count, own member only", "[discord_json]") {
  proto::Guild g{kId + 2, "g", kId};
  std::vector<proto::Member> members;
  for (uint64_t i = 0; i < 100; ++i)
    members.push_back(proto::Member{g.id, kId + i, "u" + std::to_string(i), false, 0, ""});
  // Every member given (guilds.mine lists them all up to 250): the threshold decides.
  Json small = proto::guild_create_json(g, {}, members, kId + 7, 250);
  REQUIRE(small["large"] == false);
  REQUIRE(small["member_count"] == 100);
  REQUIRE(small["members"].size() == 100);
  Json large = proto::guild_create_json(g, {}, members, kId + 7, 50);
  REQUIRE(large["large"] == true);
  REQUIRE(large["member_count"] == 100);
  REQUIRE(large["members"].size() == 1);
  REQUIRE(large["members"][0]["user"]["id"] == std::to_string(kId + 7));
  // guildd's count wins over the members listed (it lists only the own one past 250).
  g.member_count = 100000;
  Json big = proto::guild_create_json(g, {}, {members[3]}, kId + 3, 250);
  REQUIRE(big["large"] == true);
  REQUIRE(big["member_count"] == 100000);
  REQUIRE(big["members"].size() == 1);
  REQUIRE(big["members"][0]["user"]["id"] == std::to_string(kId + 3));
}

TEST_CASE("application info for discord.py's login", "[discord_json]") {
  Json a = proto::application_json(proto::User{kId, "bot", true, false});
  require_keys(a, {"id", "name", "description", "icon", "bot_public", "bot_require_code_grant",
                   "owner", "verify_key", "flags"});
  REQUIRE(a["id"] == std::to_string(kId));
  REQUIRE(a["icon"].is_null());
  require_keys(a["owner"], {"id", "username", "discriminator", "avatar"});
}
