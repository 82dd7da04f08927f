// chatctl's REST client for gatewayd's /api/v10: one keep-alive HTTP connection (the
// library's asynchronous http::Client driven on a private event loop, so calls block and
// may be made from inside another loop's callbacks, as tail's gateway handler does),
// the `Authorization: Bot <token>` header, JSON in and out, and the one place where HTTP
// statuses, Discord error codes and transport failures become chatctl exit codes:
//   400 -> 65, 404 or an "unknown ..." code -> 66, 401/403 -> 77,
//   429/502/503/504 -> 75, no connection -> 69.
#pragma once

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "app.hpp"

namespace chat::ctl {

using json = nlohmann::json;

// The exit code for an HTTP error answer (status >= 300) with its parsed body.
int exit_code_for_http(int http_status, const json& body);

class Api {
 public:
  // `base_url` is http://host[:port][/prefix]; call init() before anything else.
  Api(std::string base_url, std::string token);
  ~Api();
  Api(const Api&) = delete;
  Api& operator=(const Api&) = delete;

  // Checks the URL; a bad one is a usage error.
  Status init();

  // One request to /api/v10<path> (path starts with '/', query included). A 2xx answer
  // stores its JSON body in `out` (null when empty); anything else is a Status whose
  // message starts with `what`.
  Status call(std::string_view method, const std::string& path, const json* body, json* out,
              const std::string& what);

  // As call(), but transient failures (no connection, 429 with its retry_after, 502, 503,
  // 504) are retried with backoff until `budget` has passed; the last failure is
  // returned then. For sending, so a message counts as sent only once the server has it.
  Status call_retrying(std::string_view method, const std::string& path, const json* body,
                       json* out, const std::string& what, std::chrono::milliseconds budget);

  // The deadline of each request from now on (30 s by default); store compact and backup
  // wait minutes for their answer.
  void set_request_timeout(std::chrono::milliseconds timeout);

  // ws://host:port[/prefix]/gateway?v=10&encoding=json
  std::string gateway_url() const;
  const std::string& token() const { return token_; }
  const std::string& base_url() const { return base_url_; }

  struct Transport;

 private:
  // One attempt. `transient` says whether retrying might help; `retry_after_ms` is the
  // server's hint on a 429 (or -1).
  Status attempt(std::string_view method, const std::string& path, const std::string& body,
                 json* out, const std::string& what, bool& transient, long& retry_after_ms);

  std::string base_url_, token_;
  std::string host_, prefix_;
  uint16_t port_ = 0;
  int request_timeout_ms_ = 30000;
  std::unique_ptr<Transport> transport_;
};

}  // namespace chat::ctl
