// The REST API of gatewayd (PROTOCOL.md "REST"): /api/v10 (and /api/v9) routes, each
// turned into one GuildRequest to chat.guild.<shard> and its GuildReply into Discord's
// JSON answer. This class owns the per-request pipeline: routing and path ids, the
// Authorization header, the loop's rate-limit buckets (gateway.rest_rate_limit requests
// per gateway.rest_rate_window_ms) and X-RateLimit-* headers, body decoding, errors in
// Discord's shape. The route table itself is in rest_routes.cpp.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "chat/http/server.hpp"
#include "chat/proto/ops.hpp"
#include "ratelimit.hpp"

namespace chat::gateway {

class Worker;

// The token of a REST request's Authorization header: "Bot T", "Bearer T" or a bare "T".
std::string request_token(const http::Request& r);

// Everything a route's build/render step may use.
struct RestCtx {
  const http::Request* request = nullptr;
  std::string token;
  uint64_t channel_id = 0, message_id = 0, guild_id = 0, user_id = 0;
  std::string name;  // {name} path segment, percent-decoded
  nlohmann::json body;
  Worker* worker = nullptr;
};

// An error answer in Discord's shape: {"code", "message"} and, for invalid form bodies,
// {"errors": {field: {"_errors": [{"code", "message"}]}}} (dots in `field` nest).
http::Response rest_error(int status, int code, std::string_view message,
                          std::string_view field = {}, std::string_view field_code = {},
                          std::string_view field_message = {});
// A JSON answer with exactly Content-Type: application/json.
http::Response rest_json(int status, const nlohmann::json& body);

struct Route {
  const char* method;
  const char* pattern;  // "channels/{c}/messages/{m}"; {c} {m} {g} {u} ids, {name} text
  const char* op;       // the GuildRequest op; nullptr when answered locally
  // Fills the request from ctx; returns false with `error` set for bad input.
  bool (*build)(RestCtx& ctx, proto::GuildRequest& req, http::Response& error);
  // The answer for a successful reply.
  http::Response (*render)(RestCtx& ctx, proto::GuildReply& reply);
  bool auth = true;
};
// The route table (rest_routes.cpp), terminated by a Route with method == nullptr.
const Route* rest_routes();

class Rest {
 public:
  explicit Rest(Worker& worker) : worker_(worker) {}
  // Answers one /api/... request (now, or after a bus round trip).
  void handle(http::Request& request, http::Responder responder);
  // Forgets buckets idle for a minute (or a window, if longer).
  void sweep(uint64_t now_ms);

 private:
  Worker& worker_;
  RestLimiter limiter_;
};

}  // namespace chat::gateway
