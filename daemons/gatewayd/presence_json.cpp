// Presence JSON in and out (see presence_json.hpp).
#include "presence_json.hpp"

#include <algorithm>
#include <cctype>

#include "chat/proto/discord_json.hpp"

namespace chat::gateway {
namespace {

using Json = nlohmann::json;

constexpr size_t kMaxActivities = 5;
constexpr size_t kMaxField = 128;

bool short_string(const Json& j, std::string& out) {
  if (j.is_null()) return true;
  if (!j.is_string() || j.get_ref<const std::string&>().size() > kMaxField) return false;
  out = j.get<std::string>();
  return true;
}

bool parse_activity(const Json& a, proto::Activity& out) {
  if (!a.is_object()) return false;
  auto name = a.find("name");
  if (name == a.end() || !short_string(*name, out.name)) return false;
  if (auto t = a.find("type"); t != a.end() && !t->is_null()) {
    if (!t->is_number_integer() || t->get<int64_t>() < 0 || t->get<int64_t>() > 5) return false;
    out.type = t->get<int>();
  }
  if (auto u = a.find("url"); u != a.end() && !short_string(*u, out.url)) return false;
  if (auto s = a.find("state"); s != a.end() && !short_string(*s, out.state)) return false;
  return true;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string property(const Json& p, const char* key) {
  for (std::string k : {std::string(key), "$" + std::string(key)})
    if (auto it = p.find(k); it != p.end() && it->is_string()) return it->get<std::string>();
  return {};
}

}  // namespace

bool valid_status(const std::string& s) {
  return s == "online" || s == "idle" || s == "dnd" || s == "invisible" || s == "offline";
}

bool parse_presence(const Json& d, proto::SessionPresence& out, std::string& why) {
  if (!d.is_object()) return why = "presence is not an object", false;
  if (auto s = d.find("status"); s != d.end() && !s->is_null()) {
    if (!s->is_string() || !valid_status(s->get<std::string>()))
      return why = "unknown status", false;
    out.status = s->get<std::string>();
    if (out.status == "offline") out.status = "invisible";  // a client cannot be "offline"
  }
  out.since_ms = 0;
  if (auto s = d.find("since"); s != d.end() && s->is_number_unsigned())
    out.since_ms = s->get<uint64_t>();
  out.afk = false;
  if (auto a = d.find("afk"); a != d.end() && a->is_boolean()) out.afk = a->get<bool>();
  std::vector<proto::Activity> activities;
  if (auto a = d.find("activities"); a != d.end() && !a->is_null()) {
    if (!a->is_array() || a->size() > kMaxActivities) return why = "bad activities", false;
    for (const Json& one : *a) {
      proto::Activity act;
      if (!parse_activity(one, act)) return why = "bad activity", false;
      activities.push_back(std::move(act));
    }
  } else if (auto g = d.find("game"); g != d.end() && !g->is_null()) {  // discord.py's key
    proto::Activity act;
    if (!parse_activity(*g, act)) return why = "bad game", false;
    activities.push_back(std::move(act));
  }
  out.activities = std::move(activities);
  return true;
}

std::string client_type(const Json& properties) {
  if (!properties.is_object()) return "web";
  std::string browser = lower(property(properties, "browser"));
  std::string os = lower(property(properties, "os"));
  std::string device = lower(property(properties, "device"));
  if (browser == "discord android" || browser == "discord ios" || os == "android" || os == "ios" ||
      device == "android" || device == "ios")
    return "mobile";
  if (browser == "discord client") return "desktop";
  return "web";
}

Json presence_json(const proto::PresenceRecord& r, uint64_t guild_id) {
  Json activities = Json::array();
  for (const proto::Activity& a : r.activities) {
    Json j = {{"name", a.name}, {"type", a.type}, {"created_at", r.since_ms}};
    if (!a.url.empty()) j["url"] = a.url;
    if (!a.state.empty()) j["state"] = a.state;
    activities.push_back(std::move(j));
  }
  Json client_status = Json::object();
  if (!r.desktop.empty()) client_status["desktop"] = r.desktop;
  if (!r.mobile.empty()) client_status["mobile"] = r.mobile;
  if (!r.web.empty()) client_status["web"] = r.web;
  Json d = {{"user", {{"id", proto::id_string(r.user_id)}}},
            {"status", r.status},
            {"activities", std::move(activities)},
            {"client_status", std::move(client_status)}};
  if (guild_id) d["guild_id"] = proto::id_string(guild_id);
  return d;
}

}  // namespace chat::gateway
