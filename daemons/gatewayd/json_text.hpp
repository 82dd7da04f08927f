// Small text helpers every gatewayd file that speaks Discord JSON shares: encoding a JSON
// value as the wire text (invalid UTF-8 in strings replaced, never thrown across a
// libevent callback), session ids as 16 hex digits (READY's session_id, RESUME's
// check), and reading a snowflake that a client may send as a string or a number.
#pragma once

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "chat/proto/snowflake.hpp"

namespace chat::gateway {

inline std::string dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

inline std::string hex_id(uint64_t id) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016" PRIx64, id);
  return buf;
}

// 16 lowercase hex digits, as hex_id() writes them.
inline bool parse_hex_id(const std::string& s, uint64_t& out) {
  if (s.size() != 16) return false;
  out = 0;
  for (char c : s) {
    int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (v < 0) return false;
    out = out << 4 | static_cast<uint64_t>(v);
  }
  return true;
}

// A nonzero snowflake given as a decimal string or an unsigned number.
inline bool json_id(const nlohmann::json& j, uint64_t& out) {
  if (j.is_string()) return parse_snowflake(j.get_ref<const std::string&>(), out);
  if (j.is_number_unsigned()) return (out = j.get<uint64_t>()) != 0;
  return false;
}

}  // namespace chat::gateway
