#include <catch2/catch.hpp>

#include <algorithm>
#include <set>
#include <thread>
#include <vector>

#include "chat/proto/snowflake.hpp"

TEST_CASE("snowflakes carry the Discord epoch and the node bits") {
  chat::SnowflakeGenerator gen(3, 5);
  uint64_t id = gen.next_at(1764268200000ULL);
  CHECK(chat::snowflake_unix_ms(id) == 1764268200000ULL);
  CHECK(((id >> 17) & 31) == 3);
  CHECK(((id >> 12) & 31) == 5);
}

TEST_CASE("snowflakes strictly increase, even when the clock stalls or goes back") {
  chat::SnowflakeGenerator gen(1, 0);
  uint64_t prev = 0;
  for (int i = 0; i < 10000; ++i) {
    uint64_t id = gen.next_at(1764268200000ULL - (i % 3));  // stalled / backwards clock
    CHECK(id > prev);
    prev = id;
  }
}

TEST_CASE("snowflakes are unique and ordered per thread across threads") {
  chat::SnowflakeGenerator gen(1, 0);
  constexpr int kThreads = 4, kPer = 20000;
  std::vector<std::vector<uint64_t>> got(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPer; ++i) got[t].push_back(gen.next());
    });
  for (auto& th : threads) th.join();
  std::set<uint64_t> all;
  for (auto& v : got) {
    CHECK(std::is_sorted(v.begin(), v.end()));
    all.insert(v.begin(), v.end());
  }
  CHECK(all.size() == static_cast<size_t>(kThreads * kPer));
}

TEST_CASE("parse_snowflake rejects what is not an id") {
  uint64_t v = 0;
  CHECK(chat::parse_snowflake("175928847299117063", v));
  CHECK(v == 175928847299117063ULL);
  CHECK_FALSE(chat::parse_snowflake("", v));
  CHECK_FALSE(chat::parse_snowflake("-1", v));
  CHECK_FALSE(chat::parse_snowflake("12a", v));
  CHECK_FALSE(chat::parse_snowflake("0", v));
  CHECK_FALSE(chat::parse_snowflake("99999999999999999999", v));  // overflows 64 bits
}

TEST_CASE("timestamps are ISO 8601 with microseconds and an offset") {
  CHECK(chat::iso8601_from_ms(1764268200123ULL) == "2025-11-27T18:30:00.123000+00:00");
}
