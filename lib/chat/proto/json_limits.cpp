#include "chat/proto/json_limits.hpp"

namespace chat::proto {

JsonError parse_json(std::string_view text, nlohmann::json& out, const JsonLimits& limits,
                     std::string* detail) {
  if (text.size() > limits.max_bytes) {
    if (detail) *detail = "payload over " + std::to_string(limits.max_bytes) + " bytes";
    return JsonError::too_large;
  }
  bool too_deep = false;
  // The callback returns false to discard a value; once too deep we discard everything and
  // let the parse finish on the (small, bounded) text.
  auto cb = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json&) {
    if ((event == nlohmann::json::parse_event_t::object_start ||
         event == nlohmann::json::parse_event_t::array_start) &&
        depth >= limits.max_depth)
      too_deep = true;
    return !too_deep;
  };
  out = nlohmann::json::parse(text.begin(), text.end(), cb, /*allow_exceptions=*/false);
  if (too_deep) {
    out = nullptr;
    if (detail) *detail = "nesting deeper than " + std::to_string(limits.max_depth);
    return JsonError::too_deep;
  }
  if (out.is_discarded()) {
    out = nullptr;
    if (detail) *detail = "not valid JSON";
    return JsonError::syntax;
  }
  return JsonError::none;
}

}  // namespace chat::proto
