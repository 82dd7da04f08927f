// StoreAdmin: gatewayd's /admin/store/* routes (see store_admin.hpp).
#include "store_admin.hpp"

#include <nlohmann/json.hpp>

#include "chat/obs/log.hpp"
#include "chat/proto/json_limits.hpp"
#include "chat/proto/ops.hpp"
#include "chat/proto/snowflake.hpp"
#include "chat/proto/subjects.hpp"
#include "rest.hpp"
#include "worker.hpp"

namespace chat::gateway {
namespace {

using Json = nlohmann::json;

constexpr size_t kMaxBody = 4096;  // {channel_id} or {name}: a few dozen bytes

http::Response form_error(std::string_view field, std::string_view code, std::string_view message) {
  return rest_error(400, proto::kInvalidFormBody, "Invalid Form Body", field, code, message);
}

http::Response unavailable(std::string_view why) {
  http::Response r = rest_error(503, 0, why);
  r.headers.add("Retry-After", "1");
  return r;
}

// The JSON object of a POST body (an empty body is {}); false with the answer on bad input.
bool body_object(const http::Request& request, Json& out, http::Response& error) {
  if (request.body.empty()) {
    out = Json::object();
    return true;
  }
  proto::JsonLimits limits;
  limits.max_bytes = kMaxBody;
  limits.max_depth = 4;
  if (proto::parse_json(request.body, out, limits) != proto::JsonError::none) {
    error = rest_error(400, proto::kInvalidJson, "The request body contains invalid JSON.");
    return false;
  }
  if (!out.is_object()) {
    error = rest_error(400, proto::kInvalidFormBody, "Invalid Form Body");
    return false;
  }
  return true;
}

// channel_id from a JSON string or number; absent or null leaves `out` at 0.
bool body_channel(const Json& body, uint64_t& out, http::Response& error) {
  auto it = body.find("channel_id");
  if (it == body.end() || it->is_null()) return true;
  bool ok = false;
  if (it->is_string())
    ok = parse_snowflake(it->get_ref<const std::string&>(), out);
  else if (it->is_number_unsigned())
    ok = (out = it->get<uint64_t>()) != 0;
  if (!ok) error = form_error("channel_id", "NUMBER_TYPE_COERCE", "Value is not snowflake.");
  return ok;
}

// stored's answer as the HTTP answer: its JSON text on 200, else its status and why.
http::Response from_reply(const proto::AdminReply& reply) {
  if (reply.status == 200) {
    Json parsed = Json::parse(reply.text, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded()) return rest_error(502, 0, "stored answered with invalid JSON");
    return http::Response::json(200, reply.text);
  }
  std::string why = reply.error.empty() ? "stored refused the request" : reply.error;
  switch (reply.status) {
    case 400:
      return rest_error(400, proto::kInvalidFormBody, why);
    case 404:
      return rest_error(404, 0, why);
    case 409:
      return rest_error(409, 0, why);
    case 503:
      return unavailable("stored is busy: " + why);
    default:
      return rest_error(500, 0, "storage error: " + why);
  }
}

}  // namespace

bool StoreAdmin::handle(http::Request& request, http::Responder& responder) {
  std::string_view path = request.path;
  bool ours = false;
  for (std::string_view prefix :
       {"/api/v10/admin/store/", "/api/v9/admin/store/", "/api/admin/store/"}) {
    if (path.starts_with(prefix)) {
      path.remove_prefix(prefix.size());
      ours = true;
      break;
    }
  }
  if (!ours) return false;
  while (path.ends_with('/')) path.remove_suffix(1);

  const char* method = path == "stats"                         ? "GET"
                       : path == "compact" || path == "backup" ? "POST"
                                                               : nullptr;
  if (!method) {
    responder.send(rest_error(404, 0, "404: Not Found"));
    return true;
  }
  if (request.method != method) {
    responder.send(rest_error(405, 0, "405: Method Not Allowed"));
    return true;
  }
  std::string token = request_token(request);
  if (token.empty()) {
    responder.send(rest_error(401, proto::kUnauthorized, "401: Unauthorized"));
    return true;
  }

  proto::AdminRequest req;
  req.op = std::string(path);
  http::Response error;
  if (req.op == "stats") {
    if (const std::string* c = request.param("channel_id");
        c && !parse_snowflake(*c, req.channel_id)) {
      responder.send(
          form_error("channel_id", "NUMBER_TYPE_COERCE", "Value \"" + *c + "\" is not snowflake."));
      return true;
    }
  } else {
    Json body;
    if (!body_object(request, body, error)) {
      responder.send(std::move(error));
      return true;
    }
    if (req.op == "compact" && !body_channel(body, req.channel_id, error)) {
      responder.send(std::move(error));
      return true;
    }
    if (req.op == "backup") {
      auto it = body.find("name");
      if (it == body.end() || it->is_null()) {
        responder.send(form_error("name", "BASE_TYPE_REQUIRED", "This field is required"));
        return true;
      }
      if (!it->is_string()) {
        responder.send(
            form_error("name", "BASE_TYPE_STRING", "Could not interpret value as string."));
        return true;
      }
      req.name = it->get<std::string>();
      if (req.name.empty() || req.name.size() > 64) {
        responder.send(
            form_error("name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 64 in length."));
        return true;
      }
    }
  }
  authorize_and_forward(token, std::move(req), responder);
  return true;
}

void StoreAdmin::authorize_and_forward(const std::string& token, proto::AdminRequest req,
                                       http::Responder responder) {
  proto::GuildRequest auth;
  auth.op = "auth";
  auth.token = token;
  worker_.guild_request(
      auth, [this, req = std::move(req), responder](bus::Status, proto::GuildReply& r) mutable {
        if (!responder.pending()) return;
        if (r.status == 401 || r.status == 403)
          return responder.send(rest_error(401, proto::kUnauthorized, "401: Unauthorized"));
        if (r.status != 200 || r.users.empty())
          return responder.send(unavailable("guildd is not answering"));
        if (!r.users[0].admin)
          return responder.send(rest_error(403, proto::kMissingPermissions, "Missing Permissions"));
        forward(std::move(req), responder);
      });
}

void StoreAdmin::forward(proto::AdminRequest req, http::Responder responder) {
  std::string op = req.op;
  uint64_t channel = req.channel_id;
  worker_.bus().request(
      subjects::admin("stored"), proto::pack(req), kStoreAdminTimeoutMs,
      [responder, op, channel](bus::Status st, bus::Message& m) {
        if (st != bus::Status::ok) {
          log::warn("rest", "store admin request failed",
                    {{"op", op}, {"channel_id", channel}, {"status", bus::to_string(st)}});
          if (responder.pending())
            responder.send(
                unavailable(std::string("stored is not answering (") + bus::to_string(st) + ")"));
          return;
        }
        proto::AdminReply reply;
        std::string why;
        if (!proto::unpack(m.data, reply, &why) || reply.v > proto::kSchemaVersion) {
          log::warn("rest", "bad store admin reply", {{"op", op}, {"error", why}});
          if (responder.pending()) responder.send(rest_error(502, 0, "bad reply from stored"));
          return;
        }
        log::info("rest", "store admin request",
                  {{"op", op}, {"channel_id", channel}, {"status", reply.status}});
        if (responder.pending()) responder.send(from_reply(reply));
      });
}

}  // namespace chat::gateway
