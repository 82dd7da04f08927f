// Message key encoding: byte order equals numeric order across channels, buckets and ids,
// and the bucket is the snowflake's time divided by bucket_ms.
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <tuple>
#include <vector>

#include "chat/proto/snowflake.hpp"
#include "chat/store/keys.hpp"

using namespace chat;
using namespace chat::store;

namespace {
constexpr uint64_t kDay = kMsPerDay;
uint64_t id_at(uint64_t unix_ms, uint64_t seq = 0) {
  return snowflake_floor(unix_ms) | seq;
}
}  // namespace

TEST_CASE("bucket is (id >> 22 + epoch) / bucket_ms") {
  const uint64_t t = 1700000000000ULL;  // 2023-11-14
  CHECK(bucket_of(id_at(t), 10 * kDay) == t / (10 * kDay));
  CHECK(bucket_of(id_at(t), kDay) == t / kDay);
  // The low 22 bits (worker, process, sequence) never move a message to another bucket.
  CHECK(bucket_of(id_at(t, (1u << 22) - 1), kDay) == t / kDay);
  // Boundaries: the last ms of a bucket and the first of the next.
  const uint64_t edge = (t / kDay + 1) * kDay;
  CHECK(bucket_of(id_at(edge - 1), kDay) == t / kDay);
  CHECK(bucket_of(id_at(edge), kDay) == t / kDay + 1);
  // Id 1 is at the Discord epoch.
  CHECK(bucket_of(1, kDay) == kDiscordEpochMs / kDay);
}

TEST_CASE("message keys are 20 bytes, big-endian, and decode back") {
  std::string k = message_key_at(0x0102030405060708ULL, 0x0A0B0C0DU, 0x1112131415161718ULL);
  REQUIRE(k.size() == kMessageKeySize);
  CHECK(k == std::string("\x01\x02\x03\x04\x05\x06\x07\x08\x0A\x0B\x0C\x0D"
                         "\x11\x12\x13\x14\x15\x16\x17\x18",
                         20));
  MessageKey d;
  REQUIRE(decode_message_key(k, d));
  CHECK(d.channel_id == 0x0102030405060708ULL);
  CHECK(d.bucket == 0x0A0B0C0DU);
  CHECK(d.message_id == 0x1112131415161718ULL);
  CHECK_FALSE(decode_message_key(k.substr(1), d));

  const uint64_t id = id_at(1600000000000ULL, 5);
  CHECK(message_key(7, id, kDay) == message_key_at(7, bucket_of(id, kDay), id));
}

TEST_CASE("byte order of keys is numeric order of (channel, bucket, id)") {
  std::mt19937_64 rng(42);
  std::vector<std::tuple<uint64_t, uint32_t, uint64_t>> tuples;
  const uint64_t channels[] = {
      1, 255, 256, 65535, 65536, 1ULL << 32, (1ULL << 63) + 5, UINT64_MAX - 1};
  for (int i = 0; i < 2000; ++i) {
    uint64_t ch = channels[rng() % std::size(channels)];
    uint32_t bucket = static_cast<uint32_t>(rng() >> (i % 3 == 0 ? 56 : 32));
    uint64_t id = rng() >> (rng() % 64);
    tuples.emplace_back(ch, bucket, id);
  }
  std::vector<std::pair<std::string, std::tuple<uint64_t, uint32_t, uint64_t>>> keyed;
  for (auto& t : tuples)
    keyed.emplace_back(message_key_at(std::get<0>(t), std::get<1>(t), std::get<2>(t)), t);
  std::sort(keyed.begin(), keyed.end());
  for (size_t i = 1; i < keyed.size(); ++i) CHECK(keyed[i - 1].second <= keyed[i].second);
}

TEST_CASE("ids in bucketed keys sort by time within a channel") {
  // Messages years apart, with small buckets: key order is id order.
  std::vector<uint64_t> ids;
  for (uint64_t t : {1450000000000ULL, 1500000000000ULL, 1500000000001ULL, 1600000000000ULL,
                     1700000000000ULL, 1799999999999ULL})
    for (uint64_t seq : {0ULL, 1ULL, 4095ULL}) ids.push_back(id_at(t, seq));
  std::vector<std::string> keys;
  for (uint64_t id : ids) keys.push_back(message_key(99, id, kDay));
  CHECK(std::is_sorted(keys.begin(), keys.end()));
}

TEST_CASE("channel bounds enclose exactly the channel's keys") {
  for (uint64_t ch :
       std::initializer_list<uint64_t>{1, 77, 0xFF, 0xFFFFFFFF, UINT64_MAX - 1, UINT64_MAX}) {
    const std::string lo = channel_begin(ch), hi = channel_end(ch);
    CHECK(lo <= message_key_at(ch, 0, 0));
    CHECK(message_key_at(ch, UINT32_MAX, UINT64_MAX) < hi);
    CHECK(channel_last(ch) == message_key_at(ch, UINT32_MAX, UINT64_MAX));
    if (ch > 1) CHECK(message_key_at(ch - 1, UINT32_MAX, UINT64_MAX) < lo);
    if (ch < UINT64_MAX) CHECK(hi <= message_key_at(ch + 1, 0, 0));
  }
}

TEST_CASE("prefix successor bounds a prefix scan") {
  CHECK(prefix_successor("abc") == "abd");
  CHECK(prefix_successor(std::string("a\xff", 2)) == "b");
  CHECK(prefix_successor(std::string("\xff\xff", 2)).empty());
  CHECK(prefix_successor("").empty());
}
