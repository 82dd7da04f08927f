// REST calls for chatctl: the keep-alive transport, JSON bodies, retries for transient
// failures, and the mapping of every failure to an exit code (see client.hpp).
#include "client.hpp"

#include <event2/event.h>

#include <algorithm>
#include <random>
#include <thread>

#include "chat/http/client.hpp"

namespace chat::ctl {

namespace {

// Discord's JSON error codes that mean "no such thing" and "not allowed".
bool is_unknown_code(long code) {
  return code >= 10001 && code <= 10099;
}
bool is_forbidden_code(long code) {
  return code == 40001 || code == 50001 || code == 50013;
}

long body_code(const json& body) {
  if (body.is_object() && body.contains("code") && body["code"].is_number_integer())
    return body["code"].get<long>();
  return 0;
}

// "404 Unknown Channel (10003)", or the status's reason when the body says nothing.
std::string describe_http_error(int status, const json& body) {
  std::string text = std::to_string(status);
  std::string message;
  if (body.is_object() && body.contains("message") && body["message"].is_string())
    message = body["message"].get<std::string>();
  if (message.empty()) message = std::string(http::reason_phrase(status));
  // Discord's messages often repeat the status ("401: Unauthorized").
  if (message.starts_with(text))
    text = message;
  else
    text += " " + message;
  if (long code = body_code(body); code != 0) text += " (" + std::to_string(code) + ")";
  return text;
}

long retry_after_ms(const http::Result& r, const json& body) {
  if (body.is_object() && body.contains("retry_after") && body["retry_after"].is_number())
    return static_cast<long>(body["retry_after"].get<double>() * 1000.0);
  if (auto v = r.headers.get("Retry-After"); !v.empty()) {
    try {
      return static_cast<long>(std::stod(std::string(v)) * 1000.0);
    } catch (...) {
    }
  }
  return -1;
}

}  // namespace

int exit_code_for_http(int http_status, const json& body) {
  long code = body_code(body);
  if (is_unknown_code(code)) return exit_code::not_found;
  if (is_forbidden_code(code)) return exit_code::no_perm;
  switch (http_status) {
    case 400:
    case 413:
    case 422:
      return exit_code::data;
    case 401:
    case 403:
      return exit_code::no_perm;
    case 404:
      return exit_code::not_found;
    case 429:
    case 502:
    case 503:
    case 504:
      return exit_code::temporary;
    default:
      return http_status >= 500 ? exit_code::unavailable : exit_code::data;
  }
}

// A blocking façade over the asynchronous keep-alive client: each request runs the
// private loop until its callback has fired.
struct Api::Transport {
  Transport(const std::string& host, uint16_t port, int request_timeout_ms) {
    base = event_base_new();
    http::ClientOptions options;
    options.connect_timeout_ms = 5000;
    options.request_timeout_ms = request_timeout_ms;
    client = std::make_unique<http::Client>(base, host, port, options);
  }
  ~Transport() {
    client.reset();
    if (base) event_base_free(base);
  }

  http::Result request(std::string_view method, const std::string& target, http::Headers headers,
                       const std::string& body) {
    bool done = false;
    http::Result result;
    client->request(std::string(method), target, std::move(headers), body, [&](http::Result r) {
      result = std::move(r);
      done = true;
    });
    while (!done) {
      // 1 means nothing is pending, which would leave us waiting forever.
      if (event_base_loop(base, EVLOOP_ONCE) == 1 && !done) {
        result.status = 0;
        result.error = "HTTP client stalled";
        break;
      }
    }
    return result;
  }

  event_base* base = nullptr;
  std::unique_ptr<http::Client> client;
};

Api::Api(std::string base_url, std::string token)
    : base_url_(std::move(base_url)), token_(std::move(token)) {}

Api::~Api() = default;

Status Api::init() {
  http::Url url;
  std::string error;
  if (!http::parse_url(base_url_, url, &error))
    return Status::error(exit_code::usage, "gateway URL " + base_url_, error);
  if (url.scheme != "http")
    return Status::error(exit_code::usage, "gateway URL " + base_url_, "only http:// is supported");
  host_ = url.host;
  port_ = url.port;
  prefix_ = url.target;
  if (auto q = prefix_.find('?'); q != std::string::npos) prefix_.resize(q);
  while (!prefix_.empty() && prefix_.back() == '/') prefix_.pop_back();
  transport_ = std::make_unique<Transport>(host_, port_, request_timeout_ms_);
  return {};
}

void Api::set_request_timeout(std::chrono::milliseconds timeout) {
  request_timeout_ms_ = static_cast<int>(timeout.count());
  if (transport_) transport_ = std::make_unique<Transport>(host_, port_, request_timeout_ms_);
}

std::string Api::gateway_url() const {
  std::string host = host_.find(':') != std::string::npos ? "[" + host_ + "]" : host_;
  return "ws://" + host + ":" + std::to_string(port_) + prefix_ + "/gateway?v=10&encoding=json";
}

Status Api::attempt(std::string_view method, const std::string& path, const std::string& body,
                    json* out, const std::string& what, bool& transient, long& retry_after) {
  transient = false;
  retry_after = -1;
  http::Headers headers;
  headers.add("Authorization", "Bot " + token_);
  headers.add("User-Agent", "chatctl/0.1");
  if (!body.empty()) headers.add("Content-Type", "application/json");
  http::Result r =
      transport_->request(method, prefix_ + "/api/v10" + path, std::move(headers), body);
  if (!r.ok() || r.status == 0) {
    transient = true;
    return Status::error(exit_code::unavailable, what,
                         "cannot reach the gateway at " + base_url_ + ": " + r.error);
  }
  json parsed;
  if (!r.body.empty()) {
    parsed = json::parse(r.body, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded()) parsed = json();
  }
  if (r.status >= 200 && r.status < 300) {
    if (!r.body.empty() && parsed.is_null())
      return Status::error(exit_code::software, what, "the gateway's answer is not JSON");
    if (out) *out = std::move(parsed);
    return {};
  }
  int code = exit_code_for_http(r.status, parsed);
  transient = code == exit_code::temporary;
  if (r.status == 429) retry_after = retry_after_ms(r, parsed);
  return Status::error(code, what, describe_http_error(r.status, parsed));
}

Status Api::call(std::string_view method, const std::string& path, const json* body, json* out,
                 const std::string& what) {
  bool transient = false;
  long retry_after = -1;
  return attempt(method, path, body ? body->dump() : std::string(), out, what, transient,
                 retry_after);
}

Status Api::call_retrying(std::string_view method, const std::string& path, const json* body,
                          json* out, const std::string& what, std::chrono::milliseconds budget) {
  using clock = std::chrono::steady_clock;
  static thread_local std::minstd_rand rng{std::random_device{}()};
  const auto deadline = clock::now() + budget;
  const std::string text = body ? body->dump() : std::string();
  long backoff_ms = 100;
  for (;;) {
    bool transient = false;
    long retry_after = -1;
    Status s = attempt(method, path, text, out, what, transient, retry_after);
    if (s.ok() || !transient) return s;
    long wait_ms = retry_after >= 0
                       ? retry_after + 10
                       : backoff_ms / 2 + static_cast<long>(rng() % (backoff_ms / 2 + 1));
    backoff_ms = std::min(backoff_ms * 2, 2000L);
    if (clock::now() + std::chrono::milliseconds(wait_ms) > deadline) return s;
    std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
  }
}

}  // namespace chat::ctl
