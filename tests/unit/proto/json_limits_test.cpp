#include <catch2/catch.hpp>

#include "chat/proto/json_limits.hpp"

using chat::proto::JsonError;
using chat::proto::JsonLimits;
using chat::proto::parse_json;

TEST_CASE("well-formed JSON within the limits parses") {
  nlohmann::json j;
  REQUIRE(parse_json(R"({"op":2,"d":{"token":"x","intents":513}})", j, {}) == JsonError::none);
  CHECK(j["d"]["intents"] == 513);
}

TEST_CASE("payloads over the size limit are refused before parsing") {
  nlohmann::json j;
  std::string big = "\"" + std::string(5000, 'a') + "\"";
  std::string why;
  CHECK(parse_json(big, j, {}, &why) == JsonError::too_large);
  CHECK(why.find("4096") != std::string::npos);
  CHECK(parse_json(big, j, JsonLimits{8192, 32}) == JsonError::none);
}

TEST_CASE("nesting deeper than the limit is refused") {
  nlohmann::json j;
  std::string deep(40, '[');
  deep += std::string(40, ']');
  CHECK(parse_json(deep, j, {}) == JsonError::too_deep);
  std::string ok(10, '[');
  ok += std::string(10, ']');
  CHECK(parse_json(ok, j, {}) == JsonError::none);
  std::string objs;
  for (int i = 0; i < 40; ++i) objs += "{\"a\":";
  objs += "1" + std::string(40, '}');
  CHECK(parse_json(objs, j, {}) == JsonError::too_deep);
}

TEST_CASE("bad JSON is a syntax error, never an exception") {
  nlohmann::json j;
  for (const char* bad : {"", "{", "{\"a\":}", "nul", "[1,2", "\"\\ud800\"x", "{}}"}) {
    CHECK(parse_json(bad, j, {}) == JsonError::syntax);
  }
}
