// zlib-stream: every payload ends in the sync-flush marker and the shared context carries
// over from one payload to the next.
#include <catch2/catch.hpp>

#include "chat/ws/zlib_stream.hpp"

using namespace chat::ws;

TEST_CASE("zlib-stream round trip over many payloads") {
  ZlibDeflater d;
  ZlibInflater in;
  std::string first_size_probe;
  size_t first = 0, last = 0;
  for (int i = 0; i < 50; ++i) {
    std::string payload = R"({"op":0,"t":"MESSAGE_CREATE","s":)" + std::to_string(i) +
                          R"(,"d":{"content":"hello there, general kenobi","channel_id":"123"}})";
    std::string wire;
    REQUIRE(d.compress(payload, wire));
    CHECK(ends_with_sync_flush(wire));
    if (i == 0) first = wire.size();
    last = wire.size();
    std::string out;
    REQUIRE(in.feed(wire, out));
    CHECK(out == payload);
  }
  CHECK(last < first);  // the dictionary is shared across payloads
}

TEST_CASE("the inflater buffers a payload split across frames") {
  ZlibDeflater d(6, 9, 1);  // the small-memory settings still inflate with window 15
  ZlibInflater in;
  std::string big(100000, 'q');
  for (size_t i = 0; i < big.size(); i += 7) big[i] = char('a' + i % 26);
  std::string wire;
  REQUIRE(d.compress(big, wire));
  std::string out;
  REQUIRE(in.feed(std::string_view(wire).substr(0, wire.size() / 2), out));
  CHECK(out.empty());
  REQUIRE(in.feed(std::string_view(wire).substr(wire.size() / 2), out));
  CHECK(out == big);
  std::string junk = "garbage!";
  junk += std::string("\x00\x00\xff\xff", 4);
  ZlibInflater bad;
  std::string o2;
  CHECK_FALSE(bad.feed(junk, o2));
}
