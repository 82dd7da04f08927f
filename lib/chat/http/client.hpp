// HTTP/1.1 clients, plain http:// only. fetch() is blocking (poll on one socket, one
// deadline) for chatctl and scripts. Client is asynchronous on an event_base for gatewayd
// and the tests: one keep-alive connection to one host, requests sent one at a time in
// order, reconnecting when the server closed it.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "chat/http/message.hpp"

struct event_base;

namespace chat::http {

struct Result {
  int status = 0;  // 0 when the request failed before a response; see error
  Headers headers;
  std::string body;
  std::string error;  // "" on success (any HTTP status counts as success)
  bool ok() const { return error.empty(); }
};

struct Url {
  std::string scheme;  // "http" or "ws"
  std::string host;    // without brackets for IPv6
  uint16_t port = 0;   // defaulted from the scheme when absent
  std::string target;  // path and query, "/" when empty
};
// Parses http://, ws:// (and https://, wss:// syntactically, though we cannot speak TLS).
bool parse_url(std::string_view url, Url& out, std::string* error = nullptr);

// Blocking request. Adds Host, Content-Length (when a body or a POST/PUT/PATCH) and
// "Connection: close"; a header in `headers` of the same name wins.
Result fetch(std::string_view method, std::string_view url, const Headers& headers = {},
             std::string_view body = {}, int timeout_ms = 10000);

struct ClientOptions {
  int connect_timeout_ms = 5000;
  int request_timeout_ms = 30000;  // per request, from send to complete response
  size_t max_body = 64 << 20;
};

class Client {
 public:
  using Callback = std::function<void(Result result)>;

  Client(event_base* base, std::string host, uint16_t port, ClientOptions options = {});
  // Pending callbacks are dropped without being called.
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Queues a request; `callback` runs on the loop thread with the response or an error.
  // `target` is the path and query ("/api/v10/gateway").
  void request(std::string method, std::string target, Headers headers, std::string body,
               Callback callback);
  size_t queued() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace chat::http
