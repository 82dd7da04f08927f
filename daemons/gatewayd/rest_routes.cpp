// The REST route table: for each Discord route (and our admin routes) the guildd op it
// becomes, how the request body and query are checked and copied into the GuildRequest,
// and how the reply is rendered as Discord JSON (DISCORD_COMPAT.md §2.2). Validation that
// needs no state (lengths, counts, id syntax) is done here so bad input never crosses
// the bus; guildd checks the rest (membership, permissions, existence).
#include <algorithm>

#include "chat/proto/discord_json.hpp"
#include "chat/proto/snowflake.hpp"
#include "rest.hpp"
#include "worker.hpp"

namespace chat::gateway {
namespace {

using Json = nlohmann::json;
using proto::GuildReply;
using proto::GuildRequest;
using Resp = http::Response;

constexpr size_t kMaxContent = 2000;

size_t utf8_length(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

Resp form_error(std::string_view field, std::string_view code, std::string_view message) {
  return rest_error(400, proto::kInvalidFormBody, "Invalid Form Body", field, code, message);
}

// An id from a JSON string or number.
bool json_id(const Json& j, uint64_t& out) {
  if (j.is_string()) return parse_snowflake(j.get_ref<const std::string&>(), out);
  if (j.is_number_unsigned()) return (out = j.get<uint64_t>()) != 0;
  return false;
}

// A snowflake query parameter; "0" is accepted and becomes `zero` (discord.py sends
// after=0 for "from the start of the channel", i.e. oldest first: after=1 says the same to
// the store, as no message id is that small). Absent leaves `out` alone.
bool query_id(const RestCtx& ctx, const char* name, uint64_t& out, Resp& error, uint64_t zero = 0) {
  const std::string* v = ctx.request->param(name);
  if (!v) return true;
  if (*v == "0") {
    out = zero;
    return true;
  }
  if (parse_snowflake(*v, out)) return true;
  error = form_error(name, "NUMBER_TYPE_COERCE", "Value \"" + *v + "\" is not snowflake.");
  return false;
}

bool query_int(const RestCtx& ctx, const char* name, int lo, int hi, int& out, Resp& error) {
  const std::string* v = ctx.request->param(name);
  if (!v) return true;
  char* end = nullptr;
  long n = std::strtol(v->c_str(), &end, 10);
  if (v->empty() || *end != '\0') {
    error = form_error(name, "NUMBER_TYPE_COERCE", "Value \"" + *v + "\" is not int.");
    return false;
  }
  if (n < lo || n > hi) {
    error = form_error(
        name, "NUMBER_TYPE_MAX",
        "Int value should be between " + std::to_string(lo) + " and " + std::to_string(hi) + ".");
    return false;
  }
  out = static_cast<int>(n);
  return true;
}

// content: a string of at most 2000 characters; empty only when `allow_empty`.
bool body_content(const RestCtx& ctx, GuildRequest& req, Resp& error, bool allow_empty) {
  auto it = ctx.body.find("content");
  if (it != ctx.body.end() && !it->is_null()) {
    if (!it->is_string()) {
      error = form_error("content", "BASE_TYPE_STRING", "Could not interpret value as string.");
      return false;
    }
    req.content = it->get<std::string>();
  }
  if (utf8_length(req.content) > kMaxContent) {
    error = form_error("content", "BASE_TYPE_BAD_LENGTH", "Must be 2000 or fewer in length.");
    return false;
  }
  if (req.content.empty() && !allow_empty) {
    error = rest_error(400, proto::kEmptyMessage, "Cannot send an empty message");
    return false;
  }
  return true;
}

bool body_string(const RestCtx& ctx, const char* key, std::string& out, size_t lo, size_t hi,
                 bool required, Resp& error) {
  auto it = ctx.body.find(key);
  if (it == ctx.body.end() || it->is_null()) {
    if (!required) return true;
    error = form_error(key, "BASE_TYPE_REQUIRED", "This field is required");
    return false;
  }
  if (!it->is_string()) {
    error = form_error(key, "BASE_TYPE_STRING", "Could not interpret value as string.");
    return false;
  }
  out = it->get<std::string>();
  size_t n = utf8_length(out);
  if (n < lo || n > hi) {
    error = form_error(
        key, "BASE_TYPE_BAD_LENGTH",
        "Must be between " + std::to_string(lo) + " and " + std::to_string(hi) + " in length.");
    return false;
  }
  return true;
}

// ---- build steps ---------------------------------------------------------------------

bool build_message_create(RestCtx& ctx, GuildRequest& req, Resp& error) {
  if (!body_content(ctx, req, error, false)) return false;
  const Json& b = ctx.body;
  if (auto it = b.find("nonce"); it != b.end() && !it->is_null()) {
    if (it->is_string())
      req.nonce = it->get<std::string>();
    else if (it->is_number_integer())
      req.nonce = std::to_string(it->get<int64_t>());
    else
      return error = form_error("nonce", "BASE_TYPE_STRING", "Could not interpret value."), false;
    if (req.nonce.size() > 25)
      return error = form_error("nonce", "BASE_TYPE_BAD_LENGTH", "Must be 25 or fewer in length."),
             false;
  }
  if (auto it = b.find("tts"); it != b.end() && it->is_boolean()) req.flag = it->get<bool>();
  if (auto it = b.find("message_reference"); it != b.end() && it->is_object()) {
    auto mid = it->find("message_id");
    if (mid == it->end() || !json_id(*mid, req.ref_message_id))
      return error = form_error("message_reference.message_id", "NUMBER_TYPE_COERCE",
                                "Value is not snowflake."),
             false;
    if (auto cid = it->find("channel_id");
        cid != it->end() && !cid->is_null() && !json_id(*cid, req.ref_channel_id))
      return error = form_error("message_reference.channel_id", "NUMBER_TYPE_COERCE",
                                "Value is not snowflake."),
             false;
  }
  return true;
}

bool build_message_edit(RestCtx& ctx, GuildRequest& req, Resp& error) {
  return body_content(ctx, req, error, true);
}

bool build_history(RestCtx& ctx, GuildRequest& req, Resp& error) {
  req.limit = 50;
  return query_int(ctx, "limit", 1, 100, req.limit, error) &&
         query_id(ctx, "before", req.before, error) &&
         query_id(ctx, "after", req.after, error, 1) && query_id(ctx, "around", req.around, error);
}

bool build_bulk_delete(RestCtx& ctx, GuildRequest& req, Resp& error) {
  auto it = ctx.body.find("messages");
  if (it == ctx.body.end() || !it->is_array())
    return error = form_error("messages", "BASE_TYPE_REQUIRED", "This field is required"), false;
  for (size_t i = 0; i < it->size(); ++i) {
    uint64_t id = 0;
    if (!json_id((*it)[i], id))
      return error = form_error("messages." + std::to_string(i), "NUMBER_TYPE_COERCE",
                                "Value is not snowflake."),
             false;
    req.ids.push_back(id);
  }
  std::sort(req.ids.begin(), req.ids.end());
  req.ids.erase(std::unique(req.ids.begin(), req.ids.end()), req.ids.end());
  if (req.ids.size() < 2 || req.ids.size() > 100)
    return error = rest_error(400, 50016,
                              "You must provide at least 2 and fewer than 100 messages to delete."),
           false;
  return true;
}

// retention_days (our extension, on PATCH of a channel or a guild): an integer
// 0..36500, or null to remove the setting; absent leaves it alone.
bool body_retention(const RestCtx& ctx, GuildRequest& req, Resp& error) {
  auto it = ctx.body.find("retention_days");
  if (it == ctx.body.end()) return true;
  if (it->is_null()) {
    req.days = proto::kRetentionRemove;
    return true;
  }
  if (!it->is_number_integer())
    return error = form_error("retention_days", "NUMBER_TYPE_COERCE", "Value is not int."), false;
  int64_t days = it->get<int64_t>();
  if (days < 0 || days > proto::kMaxRetentionDays)
    return error = form_error("retention_days", "NUMBER_TYPE_MAX",
                              "Int value should be between 0 and 36500."),
           false;
  req.days = static_cast<int>(days);
  return true;
}

bool build_channel_patch(RestCtx& ctx, GuildRequest& req, Resp& error) {
  return body_string(ctx, "name", req.name, 1, 100, false, error) &&
         body_string(ctx, "topic", req.topic, 0, 1024, false, error) &&
         body_retention(ctx, req, error);
}

bool build_channel_create(RestCtx& ctx, GuildRequest& req, Resp& error) {
  if (!body_string(ctx, "name", req.name, 1, 100, true, error) ||
      !body_string(ctx, "topic", req.topic, 0, 1024, false, error))
    return false;
  if (auto it = ctx.body.find("type"); it != ctx.body.end() && !it->is_null()) {
    if (!it->is_number_integer())
      return error = form_error("type", "NUMBER_TYPE_COERCE", "Value is not int."), false;
    req.type = it->get<int>();
    if (req.type != proto::kGuildText && req.type != proto::kGuildVoice &&
        req.type != proto::kGuildCategory)
      return error = form_error("type", "BASE_TYPE_CHOICES", "Value must be one of {0, 2, 4}."),
             false;
  }
  return true;
}

bool build_guild_name(RestCtx& ctx, GuildRequest& req, Resp& error) {
  return body_string(ctx, "name", req.name, 2, 100, ctx.request->method == "POST", error);
}

bool build_guild_patch(RestCtx& ctx, GuildRequest& req, Resp& error) {
  return build_guild_name(ctx, req, error) && body_retention(ctx, req, error);
}

bool build_members(RestCtx& ctx, GuildRequest& req, Resp& error) {
  req.limit = 1;
  return query_int(ctx, "limit", 1, 1000, req.limit, error) &&
         query_id(ctx, "after", req.after, error);
}

bool build_member_search(RestCtx& ctx, GuildRequest& req, Resp& error) {
  req.limit = 1;
  const std::string* q = ctx.request->param("query");
  if (!q) return error = form_error("query", "BASE_TYPE_REQUIRED", "This field is required"), false;
  req.name = *q;
  return query_int(ctx, "limit", 1, 1000, req.limit, error);
}

bool build_dm(RestCtx& ctx, GuildRequest& req, Resp& error) {
  auto it = ctx.body.find("recipient_id");
  if (it == ctx.body.end() || !json_id(*it, req.user_id))
    return error = form_error("recipient_id", "NUMBER_TYPE_COERCE", "Value is not snowflake."),
           false;
  return true;
}

bool build_user_create(RestCtx& ctx, GuildRequest& req, Resp& error) {
  if (!body_string(ctx, "name", req.name, 1, 32, true, error)) return false;
  if (auto it = ctx.body.find("bot"); it != ctx.body.end() && it->is_boolean())
    req.flag = it->get<bool>();
  return true;
}

bool build_name_param(RestCtx& ctx, GuildRequest& req, Resp&) {
  req.name = ctx.name;
  return true;
}

// ---- render steps --------------------------------------------------------------------

Resp no_content(RestCtx&, GuildReply&) {
  return Resp::empty(204);
}

Resp first_message(RestCtx&, GuildReply& r) {
  if (r.messages.empty()) return rest_error(404, proto::kUnknownMessage, "Unknown Message");
  proto::MessageJsonOptions o;
  o.gateway_extras = false;
  Json j = proto::message_json(r.messages[0], o);
  if (r.messages[0].guild_id) j["guild_id"] = proto::id_string(r.messages[0].guild_id);
  return rest_json(200, j);
}

Resp message_list(RestCtx&, GuildReply& r) {
  proto::MessageJsonOptions o;
  o.gateway_extras = false;
  Json a = Json::array();
  for (const proto::Message& m : r.messages) a.push_back(proto::message_json(m, o));
  return rest_json(200, a);
}

// A channel's JSON, with retention_days (ours) when the channel has its own setting.
Json channel_with_retention(const proto::Channel& c, const std::vector<proto::User>& users) {
  Json j = proto::channel_json(c, users);
  if (c.retention_days >= 0) j["retention_days"] = c.retention_days;
  return j;
}

Resp first_channel_status(GuildReply& r, int status) {
  if (r.channels.empty()) return rest_error(404, proto::kUnknownChannel, "Unknown Channel");
  return rest_json(status, channel_with_retention(r.channels[0], r.users));
}
Resp first_channel(RestCtx&, GuildReply& r) {
  return first_channel_status(r, 200);
}
Resp created_channel(RestCtx&, GuildReply& r) {
  return first_channel_status(r, 201);
}

Resp channel_list(RestCtx&, GuildReply& r) {
  Json a = Json::array();
  for (const proto::Channel& c : r.channels) a.push_back(channel_with_retention(c, r.users));
  return rest_json(200, a);
}

Resp first_guild(RestCtx&, GuildReply& r) {
  if (r.guilds.empty()) return rest_error(404, proto::kUnknownGuild, "Unknown Guild");
  Json j = proto::guild_json(r.guilds[0]);
  if (r.guilds[0].retention_days > 0) j["retention_days"] = r.guilds[0].retention_days;
  return rest_json(200, j);
}

Resp created_guild(RestCtx& ctx, GuildReply& r) {
  if (r.guilds.empty()) return rest_error(500, 0, "guild not created");
  Json j = proto::guild_json(r.guilds[0]);
  Json chans = Json::array();
  for (const proto::Channel& c : r.channels) chans.push_back(proto::channel_json(c));
  j["channels"] = std::move(chans);
  return rest_json(201, j);
}

Resp guild_list(RestCtx&, GuildReply& r) {
  uint64_t viewer = r.users.empty() ? 0 : r.users[0].id;
  Json a = Json::array();
  for (const proto::Guild& g : r.guilds) a.push_back(proto::partial_guild_json(g, viewer));
  return rest_json(200, a);
}

Resp member_list(RestCtx&, GuildReply& r) {
  Json a = Json::array();
  for (const proto::Member& m : r.members) a.push_back(proto::member_json(m));
  return rest_json(200, a);
}

Resp first_member_status(GuildReply& r, int status) {
  if (r.members.empty()) return rest_error(404, proto::kUnknownMember, "Unknown Member");
  return rest_json(status, proto::member_json(r.members[0]));
}
Resp first_member(RestCtx&, GuildReply& r) {
  return first_member_status(r, 200);
}
Resp added_member(RestCtx&, GuildReply& r) {
  return first_member_status(r, 201);
}

Resp me(RestCtx&, GuildReply& r) {
  if (r.users.empty()) return rest_error(404, proto::kUnknownUser, "Unknown User");
  return rest_json(200, proto::user_json(r.users[0], true));
}

Resp first_user(RestCtx&, GuildReply& r) {
  if (r.users.empty()) return rest_error(404, proto::kUnknownUser, "Unknown User");
  return rest_json(200, proto::user_json(r.users[0]));
}

Resp application(RestCtx&, GuildReply& r) {
  if (r.users.empty()) return rest_error(404, proto::kUnknownUser, "Unknown User");
  return rest_json(200, proto::application_json(r.users[0]));
}

Resp gateway_url(RestCtx& ctx, GuildReply&) {
  return rest_json(200, {{"url", ctx.worker->shared().public_url}});
}

Resp gateway_bot(RestCtx& ctx, GuildReply&) {
  return rest_json(
      200, {{"url", ctx.worker->shared().public_url},
            {"shards", 1},
            {"session_start_limit",
             {{"total", 1000}, {"remaining", 1000}, {"reset_after", 0}, {"max_concurrency", 1}}}});
}

// Admin: a user record with its fresh token.
Json admin_user(const proto::User& u) {
  Json j = proto::user_json(u);
  j["name"] = u.name;
  j["admin"] = u.admin;
  return j;
}

Resp admin_user_token(RestCtx&, GuildReply& r) {
  if (r.users.empty()) return rest_error(500, 0, "no user in reply");
  Json j = admin_user(r.users[0]);
  j["token"] = r.token;
  return rest_json(200, j);
}

Resp admin_user_list(RestCtx&, GuildReply& r) {
  Json a = Json::array();
  for (const proto::User& u : r.users) a.push_back(admin_user(u));
  return rest_json(200, a);
}

Resp admin_one_user(RestCtx&, GuildReply& r) {
  if (r.users.empty()) return rest_error(404, proto::kUnknownUser, "Unknown User");
  return rest_json(200, admin_user(r.users[0]));
}

Resp admin_guild_list(RestCtx&, GuildReply& r) {
  Json a = Json::array();
  for (const proto::Guild& g : r.guilds) a.push_back(proto::guild_json(g));
  return rest_json(200, a);
}

const Route kRoutes[] = {
    // Users and login.
    {"GET", "users/@me", "user.get", nullptr, me},
    {"GET", "users/@me/guilds", "guild.list", nullptr, guild_list},
    {"POST", "users/@me/channels", "dm.open", build_dm, first_channel},
    {"GET", "users/{u}", "user.get", nullptr, first_user},
    {"GET", "oauth2/applications/@me", "user.get", nullptr, application},
    {"GET", "applications/@me", "user.get", nullptr, application},
    {"GET", "gateway", nullptr, nullptr, gateway_url, false},
    {"GET", "gateway/bot", "auth", nullptr, gateway_bot},
    // Messages.
    {"POST", "channels/{c}/messages", "msg.create", build_message_create, first_message},
    {"GET", "channels/{c}/messages", "msg.list", build_history, message_list},
    {"POST", "channels/{c}/messages/bulk-delete", "msg.bulk_delete", build_bulk_delete, no_content},
    {"GET", "channels/{c}/messages/{m}", "msg.get", nullptr, first_message},
    {"PATCH", "channels/{c}/messages/{m}", "msg.edit", build_message_edit, first_message},
    {"DELETE", "channels/{c}/messages/{m}", "msg.delete", nullptr, no_content},
    {"POST", "channels/{c}/typing", "typing", nullptr, no_content},
    // Channels.
    {"GET", "channels/{c}", "channel.get", nullptr, first_channel},
    {"PATCH", "channels/{c}", "channel.patch", build_channel_patch, first_channel},
    {"DELETE", "channels/{c}", "channel.delete", nullptr, first_channel},
    // Guilds.
    {"POST", "guilds", "guild.create", build_guild_name, created_guild},
    {"GET", "guilds/{g}", "guild.get", nullptr, first_guild},
    {"PATCH", "guilds/{g}", "guild.patch", build_guild_patch, first_guild},
    {"DELETE", "guilds/{g}", "guild.delete", nullptr, no_content},
    {"GET", "guilds/{g}/channels", "channel.list", nullptr, channel_list},
    {"POST", "guilds/{g}/channels", "channel.create", build_channel_create, created_channel},
    {"GET", "guilds/{g}/members", "member.list", build_members, member_list},
    {"GET", "guilds/{g}/members/search", "member.search", build_member_search, member_list},
    {"GET", "guilds/{g}/members/{u}", "member.get", nullptr, first_member},
    {"PUT", "guilds/{g}/members/{u}", "member.add", nullptr, added_member},
    {"DELETE", "guilds/{g}/members/{u}", "member.remove", nullptr, no_content},
    // Admin (guildd checks that the caller is an admin).
    {"POST", "admin/users", "user.create", build_user_create, admin_user_token},
    {"GET", "admin/users", "user.list", nullptr, admin_user_list},
    {"GET", "admin/users/by-name/{name}", "user.find", build_name_param, admin_one_user},
    {"GET", "admin/users/{u}", "user.get", nullptr, admin_one_user},
    {"POST", "admin/users/{u}/token", "token.create", nullptr, admin_user_token},
    {"DELETE", "admin/users/{u}/token", "token.revoke", nullptr, no_content},
    {"GET", "admin/guilds", "guild.list", nullptr, admin_guild_list},
    {nullptr, nullptr, nullptr, nullptr, nullptr},
};

}  // namespace

const Route* rest_routes() {
  return kRoutes;
}

}  // namespace chat::gateway
