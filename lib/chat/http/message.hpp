// HTTP/1.1 message types shared by the server and the client: a header list with
// case-insensitive lookup, the parsed Request, the Response we send (and its serializer),
// and small helpers for targets (query strings, percent-decoding). Plain data; no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace chat::http {

// ASCII case-insensitive equality (header names, tokens).
bool iequals(std::string_view a, std::string_view b);

// Headers in arrival order; duplicates allowed. Lookups are case-insensitive and linear
// (requests carry a dozen headers; a vector beats a map here).
class Headers {
 public:
  using Entry = std::pair<std::string, std::string>;

  void add(std::string name, std::string value) {
    entries_.emplace_back(std::move(name), std::move(value));
  }
  // Replaces every header of that name with one.
  void set(std::string_view name, std::string value);
  void remove(std::string_view name);
  // First value of `name`, or nullptr.
  const std::string* find(std::string_view name) const;
  // First value of `name`, or "" when absent.
  std::string_view get(std::string_view name) const;
  bool has(std::string_view name) const { return find(name) != nullptr; }
  // True when any `name` header holds `token` in its comma-separated list (e.g.
  // Connection: keep-alive, Upgrade), compared case-insensitively.
  bool has_token(std::string_view name, std::string_view token) const;

  const std::vector<Entry>& entries() const { return entries_; }
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  void clear() { entries_.clear(); }
  auto begin() const { return entries_.begin(); }
  auto end() const { return entries_.end(); }

 private:
  std::vector<Entry> entries_;
};

using QueryParams = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method;  // "GET", as sent (methods are case-sensitive)
  std::string target;  // request-target as sent: "/api/v10/x?a=1"
  std::string path;    // target up to '?', raw (not percent-decoded)
  std::string query;   // after '?', raw; "" when none
  QueryParams params;  // query decoded into pairs ('+' is a space), in order
  Headers headers;
  std::string body;
  int version_minor = 1;  // HTTP/1.<minor>

  // First decoded query parameter of that name, or nullptr.
  const std::string* param(std::string_view name) const;
  // HTTP/1.1 unless "Connection: close"; HTTP/1.0 only with "Connection: keep-alive".
  bool keep_alive() const;
  // "Connection: upgrade" and an Upgrade header are present.
  bool is_upgrade() const;
};

struct Response {
  int status = 200;
  Headers headers;
  std::string body;

  // `Content-Type: application/json`, exactly (no charset), as PROTOCOL.md requires.
  static Response json(int status, std::string body);
  static Response text(int status, std::string body,
                       std::string content_type = "text/plain; charset=utf-8");
  // No body (204, 304, or an error with nothing to say).
  static Response empty(int status);
  // {"code": code, "message": message} with status; for simple errors.
  static Response error(int status, std::string_view message);
};

// "OK", "Not Found", ...; "Unknown" for codes we do not name.
std::string_view reason_phrase(int status);

// Appends the status line and headers (plus Content-Length unless the status forbids a
// body, and "Connection: close" when !keep_alive) and then the body unless head_only.
// Content-Length and Connection in response.headers are ignored; the serializer owns them.
void serialize_response(const Response& response, bool keep_alive, bool head_only,
                        std::string& out);
inline std::string serialize_response(const Response& response, bool keep_alive = true) {
  std::string out;
  serialize_response(response, keep_alive, false, out);
  return out;
}

// Splits "a=1&b=x%20y" into decoded pairs ("+" is a space). Malformed escapes are kept as
// they are.
QueryParams parse_query(std::string_view query);
// Percent-decoding; with plus_is_space, '+' becomes ' ' (form/query encoding).
std::string percent_decode(std::string_view in, bool plus_is_space = false);
// Percent-encodes everything but unreserved characters (RFC 3986 §2.3).
std::string percent_encode(std::string_view in);
// JSON string escaping for the few bodies this library writes itself (no nlohmann here).
std::string json_escape(std::string_view in);

}  // namespace chat::http
