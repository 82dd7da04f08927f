// `chatctl presence USER...` and `chatctl presence --guild GUILD`: who is online, from
// presenced through gatewayd's admin routes (GET /admin/presence/users/{u} and
// /admin/presence/guilds/{g}). A person gets one aligned line per user (name or id,
// status, since when, client types), or for a guild its online members and a line of
// counts per status; --json (or a pipe) gets one presence object a line, CLI.md's shape:
// {user_id, status, since, client_status}, ids as strings.
#include <CLI/CLI.hpp>

#include "client.hpp"
#include "output.hpp"
#include "resolve.hpp"

namespace chat::ctl {

namespace {

json presence_object(const json& p) {
  auto get = [&](const char* k) { return p.is_object() && p.contains(k) ? p[k] : json(); };
  json client = get("client_status");
  return {{"user_id", get("user_id").is_string() ? get("user_id") : json("")},
          {"status", get("status").is_string() ? get("status") : json("offline")},
          {"since", get("since")},
          {"client_status", client.is_object() ? client : json::object()}};
}

std::string clients_text(const json& client_status) {
  std::string out;
  for (auto& [type, status] : client_status.items()) {
    if (!out.empty()) out += ",";
    out += type + "=" + (status.is_string() ? status.get<std::string>() : "?");
  }
  return out.empty() ? "-" : out;
}

std::vector<std::string> row(const json& p, const std::string& name) {
  std::string since = p["since"].is_string() ? p["since"].get<std::string>() : "-";
  if (since.size() > 19) since = since.substr(0, 19) + "Z";  // 2026-11-27T18:30:00Z
  return {name.empty() ? p["user_id"].get<std::string>() : name, p["status"].get<std::string>(),
          since, clients_text(p["client_status"])};
}

class Presence : public Command {
 public:
  CLI::App* define(CLI::App& root) override {
    auto* sub = root.add_subcommand("presence",
                                    "each user's status and since when, or a guild's "
                                    "online members and counts per status");
    sub->add_option("USER", users_, "user ids or names");
    sub->add_option("--guild", guild_, "a guild (id or name): its online members");
    return sub;
  }

  Status run(Context& ctx) override {
    if (users_.empty() == guild_.empty())
      return Status::error(exit_code::usage, "presence", "give USER... or --guild GUILD");
    if (Status s = ctx.connect_api(); !s.ok()) return s;
    return guild_.empty() ? run_users(ctx) : run_guild(ctx);
  }

 private:
  Status run_users(Context& ctx) {
    std::vector<std::vector<std::string>> rows;
    Output& out = ctx.output();
    for (const std::string& spec : users_) {
      UserRef user;
      if (Status s = resolve_user(ctx, spec, user); !s.ok()) return s;
      json answer;
      if (Status s = ctx.api().call("GET", "/admin/presence/users/" + user.id, nullptr, &answer,
                                    "presence " + spec);
          !s.ok())
        return s;
      json p = presence_object(answer);
      if (out.ndjson())
        out.object(p);
      else
        rows.push_back(row(p, user.name));
    }
    if (!out.ndjson()) out.table(rows);
    return {};
  }

  Status run_guild(Context& ctx) {
    GuildRef guild;
    if (Status s = resolve_guild(ctx, guild_, guild); !s.ok()) return s;
    json answer;
    if (Status s = ctx.api().call("GET", "/admin/presence/guilds/" + guild.id, nullptr, &answer,
                                  "presence --guild " + guild_);
        !s.ok())
      return s;
    Output& out = ctx.output();
    const json& list =
        answer.is_object() && answer.contains("presences") && answer["presences"].is_array()
            ? answer["presences"]
            : json::array();
    std::vector<std::vector<std::string>> rows;
    for (const json& one : list) {
      json p = presence_object(one);
      if (out.ndjson())
        out.object(p);
      else
        rows.push_back(row(p, ""));
    }
    if (out.ndjson()) return {};
    out.table(rows);
    const json counts = answer.value("counts", json::object());
    auto n = [&](const char* k) {
      return counts.contains(k) && counts[k].is_number() ? std::to_string(counts[k].get<long>())
                                                         : std::string("0");
    };
    out.line("online " + n("online") + ", idle " + n("idle") + ", dnd " + n("dnd") + ", offline " +
             n("offline") + " of " + std::to_string(answer.value("member_count", 0L)) + " members");
    return {};
  }

  std::vector<std::string> users_;
  std::string guild_;
};

}  // namespace

void add_presence_commands(CommandList& out) {
  out.push_back(std::make_unique<Presence>());
}

}  // namespace chat::ctl
