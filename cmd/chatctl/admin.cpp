// The directory commands: guild create/list/delete, channel create/list, user create,
// member add/remove, token create/revoke. Each is one REST call (after resolving names)
// and prints what it made or lists: aligned lines for people, or with --json one object a
// line in CLI.md's shapes (guild {id,name}; channel {id,guild_id,name,type}; user
// {id,name,bot[,token]}), ids as strings whatever the server sent.
#include <CLI/CLI.hpp>

#include "client.hpp"
#include "output.hpp"
#include "resolve.hpp"

namespace chat::ctl {

namespace {

std::string id_string(const json& o, const char* key) {
  if (!o.is_object() || !o.contains(key)) return {};
  const json& v = o[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_unsigned()) return std::to_string(v.get<uint64_t>());
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  return {};
}

std::string text(const json& o, const char* key) {
  return o.is_object() && o.contains(key) && o[key].is_string() ? o[key].get<std::string>() : "";
}

// A list answer, bare or wrapped in an object under `plural`.
const json& items(const json& answer, const char* plural) {
  static const json empty = json::array();
  if (answer.is_array()) return answer;
  if (answer.is_object() && answer.contains(plural) && answer[plural].is_array())
    return answer[plural];
  return empty;
}

json guild_object(const json& g) {
  return {{"id", id_string(g, "id")}, {"name", text(g, "name")}};
}

json channel_object(const json& c, const std::string& guild_id) {
  std::string gid = id_string(c, "guild_id");
  return {{"id", id_string(c, "id")},
          {"guild_id", gid.empty() ? guild_id : gid},
          {"name", text(c, "name")},
          {"type", c.is_object() && c.contains("type") && c["type"].is_number_integer()
                       ? c["type"].get<int>()
                       : 0}};
}

json user_object(const json& u) {
  std::string name = text(u, "name");
  if (name.empty()) name = text(u, "username");
  json o = {
      {"id", id_string(u, "id")},
      {"name", name},
      {"bot", u.is_object() && u.contains("bot") && u["bot"].is_boolean() && u["bot"].get<bool>()}};
  if (u.is_object() && u.contains("token") && u["token"].is_string()) o["token"] = u["token"];
  return o;
}

void print_guilds(Output& out, const std::vector<json>& guilds) {
  if (out.ndjson()) {
    for (auto& g : guilds) out.object(g);
    return;
  }
  std::vector<std::vector<std::string>> rows;
  for (auto& g : guilds) rows.push_back({g["id"].get<std::string>(), g["name"].get<std::string>()});
  out.table(rows);
}

void print_channels(Output& out, const std::vector<json>& channels) {
  if (out.ndjson()) {
    for (auto& c : channels) out.object(c);
    return;
  }
  std::vector<std::vector<std::string>> rows;
  for (auto& c : channels)
    rows.push_back({c["id"].get<std::string>(), "#" + c["name"].get<std::string>()});
  out.table(rows);
}

class GuildCreate : public Command {
 public:
  CLI::App* define(CLI::App& root) override {
    auto* sub = subgroup(root, "guild", "create, list and delete guilds")
                    .add_subcommand("create", "create a guild owned by the token's user");
    sub->add_option("NAME", name_, "guild name")->required();
    return sub;
  }
  Status run(Context& ctx) override {
    if (Status s = ctx.connect_api(); !s.ok()) return s;
    json body = {{"name", name_}}, guild;
    if (Status s = ctx.api().call("POST", "/guilds", &body, &guild, "guild create " + name_);
        !s.ok())
      return s;
    print_guilds(ctx.output(), {guild_object(guild)});
    return {};
  }

 private:
  std::string name_;
};

class GuildList : public Command {
 public:
  CLI::App* define(CLI::App& root) override {
    return subgroup(root, "guild", "create, list and delete guilds")
        .add_subcommand("list", "the guilds the token's user is a member of");
  }
  Status run(Context& ctx) override {
    if (Status s = ctx.connect_api(); !s.ok()) return s;
    json answer;
    if (Status s = ctx.api().call("GET", "/users/@me/guilds", nullptr, &answer, "guild list");
        !s.ok())
      return s;
    std::vector<json> guilds;
    for (auto& g : items(answer, "guilds")) guilds.push_back(guild_object(g));
    print_guilds(ctx.output(), guilds);
    return {};
  }
};

class GuildDelete : public Command {
 public:
  CLI::App* define(CLI::App& root) override {
    auto* sub = subgroup(root, "guild", "create, list and delete guilds")
                    .add_subcommand("delete", "delete a guild with its channels and messages");
    sub->add_option("GUILD", guild_, "guild id or name")->required();
    return sub;
  }
  Status run(Context& ctx) override {
    GuildRef guild;
    if (Status s = resolve_guild(ctx, guild_, guild); !s.ok()) return s;
    if (Status s = ctx.connect_api(); !s.ok()) return s;
    return ctx.api().call("DELETE", "/guilds/" + guild.id, nullptr, nullptr,
                          "guild delete " + guild_);
  }

 private:
  std::string guild_;
};

class ChannelCreate : public Command {
 public:
  CLI::App* define(CLI::App& root) override {
    auto* sub = subgroup(root, "channel", "create and list channels")
                    .add_subcommand("create", "create a text channel in a guild");
    sub->add_option("GUILD", guild_, "guild id or name")->required();
    sub->add_option("NAME", name_, "channel name")->required();
    return sub;
  }
  Status run(Context& ctx) override {
    GuildRef guild;
    if (Status s = resolve_guild(ctx, guild_, guild); !s.ok()) return s;
    if (Status s = ctx.connect_api(); !s.ok()) return s;
    json body = {{"name", name_}, {"type", 0}}, channel;
    if (Status s = ctx.api().call("POST", "/guilds/" + guild.id + "/channels", &body, &channel,
                                  "channel create " + name_);
        !s.ok())
      return s;
    print_channels(ctx.output(), {channel_object(channel, guild.id)});
    return {};
  }

 private:
  std::string guild_, name_;
};

class ChannelList : public Command {
 public:
  CLI::App* define(CLI::App& root) override {
    auto* sub = subgroup(root, "channel", "create and list channels")
                    .add_subcommand("list", "the channels of a guild");
    sub->add_option("GUILD", guild_, "guild id or name")->required();
    return sub;
  }
  Status run(Context& ctx) override {
    GuildRef guild;
    if (Status s = resolve_guild(ctx, guild_, guild); !s.ok()) return s;
    if (Status s = ctx.connect_api(); !s.ok()) return s;
    json answer;
    if (Status s = ctx.api().call("GET", "/guilds/" + guild.id + "/channels", nullptr, &answer,
                                  "channel list " + guild_);
        !s.ok())
      return s;
    std::vector<json> channels;
    for (auto& c : items(answer, "channels")) channels.push_back(channel_object(c, guild.id));
    print_channels(ctx.output(), channels);
    return {};
  }

 private:
  std::string guild_;
};

class UserCreate : public Command {
 public:
  CLI::App* define(CLI::App& root) override {
    auto* sub = subgroup(root, "user", "create users")
                    .add_subcommand("create", "create a user and print its id and token");
    sub->add_option("NAME", name_, "user name")->required();
    sub->add_flag("--bot", bot_, "a bot user");
    return sub;
  }
  Status run(Context& ctx) override {
    if (Status s = ctx.connect_api(); !s.ok()) return s;
    json body = {{"name", name_}, {"bot", bot_}}, user;
    if (Status s = ctx.api().call("POST", "/admin/users", &body, &user, "user create " + name_);
        !s.ok())
      return s;
    json u = user_object(user);
    Output& out = ctx.output();
    if (out.ndjson()) {
      out.object(u);
    } else {
      out.table({{"id", u["id"].get<std::string>()},
                 {"name", u["name"].get<std::string>()},
                 {"bot", u["bot"].get<bool>() ? "yes" : "no"},
                 {"token", u.value("token", std::string("-"))}});
    }
    return {};
  }

 private:
  std::string name_;
  bool bot_ = false;
};

// member add / member remove: PUT or DELETE /guilds/{g}/members/{u}.
class MemberChange : public Command {
 public:
  explicit MemberChange(bool add) : add_(add) {}
  CLI::App* define(CLI::App& root) override {
    auto* sub =
        subgroup(root, "member", "add users to guilds and remove them")
            .add_subcommand(add_ ? "add" : "remove", add_ ? "make a user a member of a guild"
                                                          : "remove a user from a guild");
    sub->add_option("GUILD", guild_, "guild id or name")->required();
    sub->add_option("USER", user_, "user id or name")->required();
    return sub;
  }
  Status run(Context& ctx) override {
    GuildRef guild;
    if (Status s = resolve_guild(ctx, guild_, guild); !s.ok()) return s;
    UserRef user;
    if (Status s = resolve_user(ctx, user_, user); !s.ok()) return s;
    if (Status s = ctx.connect_api(); !s.ok()) return s;
    json body = json::object();
    return ctx.api().call(
        add_ ? "PUT" : "DELETE", "/guilds/" + guild.id + "/members/" + user.id,
        add_ ? &body : nullptr, nullptr,
        std::string("member ") + (add_ ? "add " : "remove ") + guild_ + " " + user_);
  }

 private:
  bool add_;
  std::string guild_, user_;
};

// token create (prints the new token) / token revoke.
class TokenChange : public Command {
 public:
  explicit TokenChange(bool create) : create_(create) {}
  CLI::App* define(CLI::App& root) override {
    auto* sub = subgroup(root, "token", "issue and revoke users' tokens")
                    .add_subcommand(create_ ? "create" : "revoke",
                                    create_ ? "issue a new token for a user (revoking the old)"
                                            : "revoke a user's token");
    sub->add_option("USER", user_, "user id or name")->required();
    return sub;
  }
  Status run(Context& ctx) override {
    UserRef user;
    if (Status s = resolve_user(ctx, user_, user); !s.ok()) return s;
    if (Status s = ctx.connect_api(); !s.ok()) return s;
    const std::string what = std::string("token ") + (create_ ? "create " : "revoke ") + user_;
    json answer;
    if (Status s = ctx.api().call(create_ ? "POST" : "DELETE", "/admin/users/" + user.id + "/token",
                                  nullptr, &answer, what);
        !s.ok())
      return s;
    if (!create_) return {};
    std::string token = text(answer, "token");
    if (token.empty()) return Status::error(exit_code::software, what, "the answer holds no token");
    Output& out = ctx.output();
    if (out.ndjson()) {
      std::string id = id_string(answer, "id");
      out.object({{"id", id.empty() ? user.id : id}, {"token", token}});
    } else {
      out.line(token);
    }
    return {};
  }

 private:
  bool create_;
  std::string user_;
};

}  // namespace

void add_admin_commands(CommandList& out) {
  out.push_back(std::make_unique<GuildCreate>());
  out.push_back(std::make_unique<GuildList>());
  out.push_back(std::make_unique<GuildDelete>());
  out.push_back(std::make_unique<ChannelCreate>());
  out.push_back(std::make_unique<ChannelList>());
  out.push_back(std::make_unique<UserCreate>());
  out.push_back(std::make_unique<MemberChange>(true));
  out.push_back(std::make_unique<MemberChange>(false));
  out.push_back(std::make_unique<TokenChange>(true));
  out.push_back(std::make_unique<TokenChange>(false));
}

}  // namespace chat::ctl
