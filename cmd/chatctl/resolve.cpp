// Name resolution for chatctl's GUILD, CHANNEL and USER arguments; see resolve.hpp.
#include "resolve.hpp"

#include "client.hpp"

namespace chat::ctl {

namespace {

std::string str(const json& o, const char* key) {
  if (o.is_object() && o.contains(key)) {
    if (o[key].is_string()) return o[key].get<std::string>();
    if (o[key].is_number_unsigned()) return std::to_string(o[key].get<uint64_t>());
  }
  return {};
}

// Picks the one element of `list` whose name field equals `name`.
Status match_one(const json& list, const std::string& name, const char* kind,
                 const std::vector<const char*>& name_keys, json& found) {
  std::vector<json> hits;
  // A bare array, or an object wrapping one under the plural ({"users": [...]}).
  const std::string plural = kind + std::string("s");
  const json& items = list.is_object() && list.contains(plural) ? list[plural] : list;
  if (items.is_array()) {
    for (auto& item : items) {
      for (const char* key : name_keys) {
        if (str(item, key) == name) {
          hits.push_back(item);
          break;
        }
      }
    }
  }
  if (hits.empty())
    return Status::error(exit_code::not_found, kind + std::string(" ") + name,
                         std::string("no ") + kind + " of that name");
  if (hits.size() > 1) {
    std::string ids;
    for (auto& h : hits) ids += (ids.empty() ? "" : ", ") + str(h, "id");
    return Status::error(exit_code::usage, kind + std::string(" ") + name,
                         "the name is ambiguous; give one of the ids: " + ids);
  }
  found = hits.front();
  return {};
}

}  // namespace

Status resolve_guild(Context& ctx, const std::string& spec, GuildRef& out) {
  if (is_snowflake(spec)) {
    out = GuildRef{spec, ""};
    return {};
  }
  if (spec.empty()) return Status::error(exit_code::usage, "guild", "empty name");
  if (Status s = ctx.connect_api(); !s.ok()) return s;
  // The admin sees every guild; anyone else (or a gateway without the admin route) the
  // guilds the token's user is a member of.
  json list;
  Status s = ctx.api().call("GET", "/admin/guilds", nullptr, &list, "guild " + spec);
  if (!s.ok() && (s.code() == exit_code::no_perm || s.code() == exit_code::not_found)) {
    s = ctx.api().call("GET", "/users/@me/guilds", nullptr, &list, "guild " + spec);
  }
  if (!s.ok()) return s;
  json found;
  if (Status m = match_one(list, spec, "guild", {"name"}, found); !m.ok()) return m;
  out = GuildRef{str(found, "id"), spec};
  return {};
}

Status resolve_channel(Context& ctx, const std::string& spec, bool details, ChannelRef& out) {
  if (is_snowflake(spec)) {
    out = ChannelRef{spec, "", ""};
    if (!details) return {};
    if (Status s = ctx.connect_api(); !s.ok()) return s;
    json channel;
    if (Status s = ctx.api().call("GET", "/channels/" + spec, nullptr, &channel, "channel " + spec);
        !s.ok())
      return s;
    out.name = str(channel, "name");
    out.guild_id = str(channel, "guild_id");
    return {};
  }
  auto sep = spec.find("/#");
  if (sep == std::string::npos || sep == 0 || sep + 2 >= spec.size())
    return Status::error(exit_code::usage, "channel " + spec,
                         "give a channel id or GUILD/#name, as in ops/#alerts");
  GuildRef guild;
  if (Status s = resolve_guild(ctx, spec.substr(0, sep), guild); !s.ok()) return s;
  std::string name = spec.substr(sep + 2);
  if (Status s = ctx.connect_api(); !s.ok()) return s;
  json channels;
  if (Status s = ctx.api().call("GET", "/guilds/" + guild.id + "/channels", nullptr, &channels,
                                "channel " + spec);
      !s.ok())
    return s;
  json found;
  if (Status s = match_one(channels, name, "channel", {"name"}, found); !s.ok())
    return Status::error(s.code(), "channel " + spec, s.why());
  out = ChannelRef{str(found, "id"), name, guild.id};
  return {};
}

Status resolve_user(Context& ctx, const std::string& spec, UserRef& out) {
  if (is_snowflake(spec)) {
    out = UserRef{spec, ""};
    return {};
  }
  if (spec.empty()) return Status::error(exit_code::usage, "user", "empty name");
  if (Status s = ctx.connect_api(); !s.ok()) return s;
  json users;
  if (Status s = ctx.api().call("GET", "/admin/users", nullptr, &users, "user " + spec); !s.ok())
    return s;
  json found;
  if (Status s = match_one(users, spec, "user", {"name", "username"}, found); !s.ok()) return s;
  out = UserRef{str(found, "id"), spec};
  return {};
}

}  // namespace chat::ctl
