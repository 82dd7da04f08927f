// Rest: the per-request pipeline (see rest.hpp). Order of checks, as Discord's: route
// (404/405), path ids (400 50035), Authorization (401 40001), rate limit (429), body
// (400 50109), the route's own validation, then the bus round trip (503 when guildd is
// unreachable), then the reply's status and code mapped to the HTTP answer.
#include "rest.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>

#include "chat/obs/log.hpp"
#include "chat/proto/json_limits.hpp"
#include "chat/proto/snowflake.hpp"
#include "json_text.hpp"
#include "worker.hpp"

namespace chat::gateway {
namespace {

using Json = nlohmann::json;

std::vector<std::string_view> split_path(std::string_view p) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i <= p.size()) {
    size_t j = p.find('/', i);
    if (j == std::string_view::npos) j = p.size();
    if (j > i) out.push_back(p.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

std::string fmt_seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", s);
  return buf;
}

// The JSON in a multipart/form-data body's payload_json part (uploads, as the libraries
// send them); attachments themselves are not kept.
bool multipart_payload(const http::Request& r, std::string& out) {
  std::string_view ct = r.headers.get("Content-Type");
  size_t b = ct.find("boundary=");
  if (b == std::string_view::npos) return false;
  std::string_view boundary = ct.substr(b + 9);
  if (!boundary.empty() && boundary.front() == '"') {
    boundary.remove_prefix(1);
    boundary = boundary.substr(0, boundary.find('"'));
  }
  boundary = boundary.substr(0, boundary.find(';'));
  std::string delim = "--" + std::string(boundary);
  std::string_view body = r.body;
  size_t pos = 0;
  while ((pos = body.find(delim, pos)) != std::string_view::npos) {
    pos += delim.size();
    size_t head_end = body.find("\r\n\r\n", pos);
    if (head_end == std::string_view::npos) return false;
    std::string_view head = body.substr(pos, head_end - pos);
    size_t next = body.find(delim, head_end);
    if (next == std::string_view::npos) return false;
    if (head.find("name=\"payload_json\"") != std::string_view::npos) {
      size_t start = head_end + 4;
      size_t end = next >= 2 ? next - 2 : next;  // the CRLF before the delimiter
      out.assign(body.substr(start, end - start));
      return true;
    }
  }
  return false;
}

}  // namespace

std::string request_token(const http::Request& r) {
  std::string_view h = r.headers.get("Authorization");
  while (!h.empty() && h.front() == ' ') h.remove_prefix(1);
  while (!h.empty() && h.back() == ' ') h.remove_suffix(1);
  for (std::string_view prefix : {"Bot ", "Bearer "})
    if (h.size() > prefix.size() && http::iequals(h.substr(0, prefix.size()), prefix)) {
      h.remove_prefix(prefix.size());
      break;
    }
  return std::string(h);
}

http::Response rest_json(int status, const Json& body) {
  return http::Response::json(status, dump(body));
}

http::Response rest_error(int status, int code, std::string_view message, std::string_view field,
                          std::string_view field_code, std::string_view field_message) {
  Json body = {{"code", code}, {"message", message}};
  if (!field.empty()) {
    Json leaf = {
        {"_errors", Json::array({{{"code", field_code.empty() ? "BASE_TYPE_INVALID" : field_code},
                                  {"message", field_message.empty() ? message : field_message}}})}};
    // "a.b.0" nests as {"a": {"b": {"0": leaf}}}.
    std::vector<std::string> parts;
    size_t i = 0;
    while (i <= field.size()) {
      size_t j = field.find('.', i);
      if (j == std::string_view::npos) j = field.size();
      parts.emplace_back(field.substr(i, j - i));
      i = j + 1;
    }
    Json errors = std::move(leaf);
    for (auto it = parts.rbegin(); it != parts.rend(); ++it)
      errors = Json{{*it, std::move(errors)}};
    body["errors"] = std::move(errors);
  }
  return rest_json(status, body);
}

void Rest::sweep(uint64_t now_ms) {
  uint64_t window = static_cast<uint64_t>(worker_.config().gateway.rest_rate_window_ms);
  limiter_.sweep(now_ms, std::max<uint64_t>(60000, window));
}

void Rest::handle(http::Request& request, http::Responder responder) {
  worker_.metrics().rest_requests->inc();
  // /api/v10/..., /api/v9/..., /api/...
  std::string_view path = request.path;
  path.remove_prefix(4);  // "/api"
  if (path.starts_with("/v10/") || path == "/v10")
    path.remove_prefix(4);
  else if (path.starts_with("/v9/") || path == "/v9")
    path.remove_prefix(3);
  std::vector<std::string_view> segs = split_path(path);

  // Route lookup: the first pattern whose shape matches; 405 if only the method differs.
  const Route* route = nullptr;
  bool shape_matched = false;
  RestCtx ctx;
  ctx.request = &request;
  ctx.worker = &worker_;
  http::Response bad_id;
  bool id_error = false;
  for (const Route* r = rest_routes(); r->method; ++r) {
    std::vector<std::string_view> pat = split_path(r->pattern);
    if (pat.size() != segs.size()) continue;
    bool ok = true;
    for (size_t i = 0; i < pat.size() && ok; ++i)
      if (pat[i].front() != '{' && pat[i] != segs[i]) ok = false;
    if (!ok) continue;
    shape_matched = true;
    if (request.method != r->method) continue;
    route = r;
    ctx = RestCtx{};
    ctx.request = &request;
    ctx.worker = &worker_;
    for (size_t i = 0; i < pat.size() && !id_error; ++i) {
      if (pat[i].front() != '{') continue;
      std::string seg = http::percent_decode(segs[i]);
      if (pat[i] == "{name}") {
        ctx.name = seg;
        continue;
      }
      uint64_t* slot = pat[i] == "{c}"   ? &ctx.channel_id
                       : pat[i] == "{m}" ? &ctx.message_id
                       : pat[i] == "{g}" ? &ctx.guild_id
                                         : &ctx.user_id;
      const char* field = pat[i] == "{c}"   ? "channel_id"
                          : pat[i] == "{m}" ? "message_id"
                          : pat[i] == "{g}" ? "guild_id"
                                            : "user_id";
      if (!parse_snowflake(seg, *slot)) {
        id_error = true;
        bad_id = rest_error(400, proto::kInvalidFormBody, "Invalid Form Body", field,
                            "NUMBER_TYPE_COERCE", "Value \"" + seg + "\" is not snowflake.");
      }
    }
    break;
  }
  if (!route) {
    responder.send(shape_matched ? rest_error(405, 0, "405: Method Not Allowed")
                                 : rest_error(404, 0, "404: Not Found"));
    return;
  }
  if (id_error) return responder.send(std::move(bad_id));

  // Authorization and the route's rate-limit bucket.
  ctx.token = request_token(request);
  http::Headers rl_headers;
  if (route->auth) {
    if (ctx.token.empty())
      return responder.send(rest_error(401, proto::kUnauthorized, "401: Unauthorized"));
    uint64_t major = ctx.channel_id ? ctx.channel_id : ctx.guild_id;
    std::string bucket_name = std::string(route->method) + " " + route->pattern;
    char bucket[17];
    std::snprintf(bucket, sizeof bucket, "%016zx", std::hash<std::string>{}(bucket_name));
    std::string key = ctx.token + '|' + bucket + '|' + std::to_string(major);
    uint64_t now = worker_.now_ms();
    const Config::Gateway& gc = worker_.config().gateway;
    RateDecision d = limiter_.check(key, static_cast<uint32_t>(gc.rest_rate_limit),
                                    static_cast<uint64_t>(gc.rest_rate_window_ms), now);
    double reset_after = static_cast<double>(d.reset_after_ms) / 1000.0;
    double reset_at = static_cast<double>(now_unix_ms() + d.reset_after_ms) / 1000.0;
    rl_headers.add("X-RateLimit-Limit", std::to_string(d.limit));
    rl_headers.add("X-RateLimit-Remaining", std::to_string(d.remaining));
    rl_headers.add("X-RateLimit-Reset", fmt_seconds(reset_at));
    rl_headers.add("X-RateLimit-Reset-After", fmt_seconds(reset_after));
    rl_headers.add("X-RateLimit-Bucket", bucket);
    if (!d.allowed) {
      http::Response r = rest_json(429, {{"message", "You are being rate limited."},
                                         {"retry_after", reset_after},
                                         {"global", false},
                                         {"code", 0}});
      for (const auto& [k, v] : rl_headers) r.headers.add(k, v);
      r.headers.add("Retry-After", std::to_string((d.reset_after_ms + 999) / 1000));
      r.headers.add("X-RateLimit-Scope", "user");
      r.headers.add("Via", "1.1 gatewayd");
      return responder.send(std::move(r));
    }
  }

  // Body.
  if (request.method == "POST" || request.method == "PATCH" || request.method == "PUT") {
    std::string_view text = request.body;
    std::string multipart;
    if (request.headers.get("Content-Type").starts_with("multipart/form-data") &&
        multipart_payload(request, multipart))
      text = multipart;
    if (!text.empty()) {
      proto::JsonLimits limits;
      limits.max_bytes = 1 << 20;
      if (proto::parse_json(text, ctx.body, limits) != proto::JsonError::none)
        return responder.send(
            rest_error(400, proto::kInvalidJson, "The request body contains invalid JSON."));
      if (!ctx.body.is_object())
        return responder.send(rest_error(400, proto::kInvalidFormBody, "Invalid Form Body"));
    } else {
      ctx.body = Json::object();
    }
  }

  auto finish = [rl_headers](http::Responder& resp, http::Response r) {
    for (const auto& [k, v] : rl_headers) r.headers.add(k, v);
    resp.send(std::move(r));
  };

  proto::GuildRequest req;
  req.token = ctx.token;
  req.channel_id = ctx.channel_id;
  req.message_id = ctx.message_id;
  req.guild_id = ctx.guild_id;
  req.user_id = ctx.user_id;
  http::Response error;
  if (route->build && !route->build(ctx, req, error)) return finish(responder, std::move(error));
  if (!route->op) {
    proto::GuildReply none;
    return finish(responder, route->render(ctx, none));
  }
  req.op = route->op;
  // The context outlives this call: the reply comes later on this loop.
  auto shared_ctx = std::make_shared<RestCtx>(std::move(ctx));
  auto render = route->render;
  worker_.guild_request(req, [shared_ctx, render, responder, finish](
                                 bus::Status st, proto::GuildReply& reply) mutable {
    if (!responder.pending()) return;
    if (st != bus::Status::ok && reply.status == 503) {
      http::Response r = rest_error(503, 0, "service unavailable");
      r.headers.add("Retry-After", "1");
      return responder.send(std::move(r));
    }
    if (reply.status >= 400) {
      std::string_view field = reply.errors, field_code;
      if (size_t colon = field.find(':'); colon != std::string_view::npos) {
        field_code = field.substr(colon + 1);
        field = field.substr(0, colon);
      }
      std::string message =
          reply.message.empty()
              ? std::to_string(reply.status) + ": " + std::string(http::reason_phrase(reply.status))
              : reply.message;
      if (!field.empty()) {  // guildd says "Invalid Form Body: why"; Discord nests the why
        std::string_view prefix = "Invalid Form Body: ";
        std::string why = message.starts_with(prefix) ? message.substr(prefix.size()) : message;
        return finish(responder, rest_error(reply.status, reply.code, "Invalid Form Body", field,
                                            field_code, why));
      }
      return finish(responder, rest_error(reply.status, reply.code, message));
    }
    finish(responder, render(*shared_ctx, reply));
  });
}

}  // namespace chat::gateway
