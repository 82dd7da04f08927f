// gatewayd's presence JSON edge: op 3 / IDENTIFY presence parsing (both libraries'
// shapes, bad input), client types from IDENTIFY properties, PRESENCE_UPDATE's d.
#include <catch2/catch.hpp>

#include "../../../daemons/gatewayd/presence_json.hpp"

using namespace chat;
using Json = nlohmann::json;

TEST_CASE("op 3 as discord.py and discord.js send it", "[presence]") {
  proto::SessionPresence p;
  std::string why;
  // discord.js: {activities, afk, since, status}
  REQUIRE(gateway::parse_presence(
      Json::parse(
          R"({"activities":[{"name":"chess","type":0}],"afk":false,"since":null,"status":"dnd"})"),
      p, why));
  CHECK(p.status == "dnd");
  REQUIRE(p.activities.size() == 1);
  CHECK(p.activities[0].name == "chess");
  // discord.py's IDENTIFY: legacy `game`, status may be null (keeps the current one).
  REQUIRE(gateway::parse_presence(
      Json::parse(R"({"status":null,"game":{"name":"go","type":0},"since":0,"afk":false})"), p,
      why));
  CHECK(p.status == "dnd");
  CHECK(p.activities[0].name == "go");
  // "offline" from a client means invisible.
  REQUIRE(gateway::parse_presence(Json::parse(R"({"status":"offline"})"), p, why));
  CHECK(p.status == "invisible");
}

TEST_CASE("bad presences are refused", "[presence]") {
  proto::SessionPresence p;
  std::string why;
  CHECK_FALSE(gateway::parse_presence(Json::parse(R"({"status":"away"})"), p, why));
  CHECK_FALSE(gateway::parse_presence(Json::parse(R"({"status":3})"), p, why));
  CHECK_FALSE(gateway::parse_presence(Json::parse(R"({"activities":{}})"), p, why));
  CHECK_FALSE(gateway::parse_presence(Json::parse(R"({"activities":[{"type":0}]})"), p, why));
  CHECK_FALSE(
      gateway::parse_presence(Json::parse(R"({"activities":[{"name":"x","type":9}]})"), p, why));
  Json many = {{"activities", Json::array()}};
  for (int i = 0; i < 6; ++i) many["activities"].push_back({{"name", "a"}});
  CHECK_FALSE(gateway::parse_presence(many, p, why));
  CHECK_FALSE(
      gateway::parse_presence(Json{{"activities", {{{"name", std::string(300, 'x')}}}}}, p, why));
  CHECK_FALSE(gateway::parse_presence(Json::array(), p, why));
}

TEST_CASE("client types as Discord tells them apart", "[presence]") {
  CHECK(gateway::client_type(Json::parse(R"({"os":"linux","browser":"discord.py"})")) == "web");
  CHECK(gateway::client_type(Json::parse(R"({"browser":"@discordjs/ws 1.2.3"})")) == "web");
  CHECK(gateway::client_type(Json::parse(R"({"$browser":"Discord Client"})")) == "desktop");
  CHECK(gateway::client_type(Json::parse(R"({"browser":"Discord iOS"})")) == "mobile");
  CHECK(gateway::client_type(Json::parse(R"({"os":"Android"})")) == "mobile");
  CHECK(gateway::client_type(nullptr) == "web");
}

TEST_CASE("PRESENCE_UPDATE's d has what discord.py requires", "[presence]") {
  proto::PresenceRecord r;
  r.user_id = 42;
  r.status = "idle";
  r.mobile = "idle";
  r.activities = {{"chess", 0, "", ""}};
  Json d = gateway::presence_json(r, 7);
  CHECK(d["user"]["id"] == "42");
  CHECK(d["guild_id"] == "7");
  CHECK(d["status"] == "idle");
  CHECK(d["client_status"] == Json{{"mobile", "idle"}});
  CHECK(d["activities"][0]["name"] == "chess");
  CHECK_FALSE(gateway::presence_json(r).contains("guild_id"));
}
