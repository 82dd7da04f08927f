// JSON from outside (gateway frames, REST bodies) is parsed with limits: a maximum size in
// bytes and a maximum nesting depth, so that a hostile client cannot make a parser recurse
// or allocate without bound. Built on nlohmann::json's SAX-style callback, which sees every
// object and array start before it is built.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace chat::proto {

struct JsonLimits {
  size_t max_bytes = 4096;  // a gateway payload's limit (PROTOCOL.md)
  int max_depth = 32;
};

enum class JsonError { none, too_large, too_deep, syntax };

// Parses `text` into `out`. Never throws; on failure returns the reason and, when `detail`
// is given, a short human text for logs and error bodies.
JsonError parse_json(std::string_view text, nlohmann::json& out, const JsonLimits& limits,
                     std::string* detail = nullptr);

}  // namespace chat::proto
