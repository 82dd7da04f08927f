// dir.scan paging through the RequestHandler: page bounds by count and by bytes, `more`,
// start_after (inside a prefix, before it, between keys, past it), that walking pages
// yields every key of a prefix exactly once in order and nothing of its neighbours, and
// that a full page packs well under NATS's default 1 MiB max payload.
#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <random>

#include "chat/proto/model.hpp"
#include "chat/store/request_handler.hpp"

using namespace chat;
using namespace chat::store;

namespace {

struct Fixture {
  std::filesystem::path dir;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<RequestHandler> handler;
  Fixture() {
    std::random_device rd;
    dir = std::filesystem::temp_directory_path() / ("chat-store-scan-" + std::to_string(rd()));
    EngineOptions o;
    o.path = (dir / "store").string();
    o.block_cache_mb = 8;
    REQUIRE(Engine::open(o, engine).is_ok());
    handler = std::make_unique<RequestHandler>(*engine);
  }
  ~Fixture() {
    handler.reset();
    engine.reset();
    std::filesystem::remove_all(dir);
  }
  void put(const std::string& key, const std::string& value) { engine->stage_dir_put(key, value); }
  void commit() { REQUIRE(engine->commit(true).is_ok()); }
  proto::StoreReply scan(const std::string& prefix, const std::string& start_after = {},
                         int limit = 0) {
    proto::StoreRequest r;
    r.op = "dir.scan";
    r.prefix = prefix;
    r.start_after = start_after;
    r.limit = limit;
    proto::StoreReply reply;
    Handled h = handler->handle(r, reply);
    CHECK(h.when == Disposition::reply_now);
    CHECK_FALSE(h.write);
    REQUIRE(reply.status == 200);
    return reply;
  }
  // Every key under `prefix`, page by page as guildd's startup asks; counts the pages.
  std::vector<std::string> walk(const std::string& prefix, int limit, size_t& pages) {
    std::vector<std::string> keys;
    std::string after;
    pages = 0;
    for (;;) {
      proto::StoreReply r = scan(prefix, after, limit);
      ++pages;
      REQUIRE(pages < 100000);
      for (const auto& e : r.entries) keys.push_back(e.key);
      if (!r.more) break;
      REQUIRE_FALSE(r.entries.empty());
      after = r.entries.back().key;
    }
    return keys;
  }
};

std::string key(char kind, int n) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%c%06d", kind, n);
  return buf;
}

}  // namespace

TEST_CASE("dir.scan of an empty prefix is one empty page") {
  Fixture f;
  f.put(key('a', 1), "x");
  f.put(key('c', 1), "x");
  f.commit();
  proto::StoreReply r = f.scan("b");
  CHECK(r.entries.empty());
  CHECK_FALSE(r.more);
  r = f.scan("b", key('b', 5));
  CHECK(r.entries.empty());
  CHECK_FALSE(r.more);
  // After the prefix's last key: nothing, even though keys of another prefix follow.
  r = f.scan("a", key('a', 1));
  CHECK(r.entries.empty());
  CHECK_FALSE(r.more);
}

TEST_CASE("dir.scan: exactly one full page has no more; one key over has") {
  Fixture f;
  for (size_t i = 0; i < kMaxScanEntries; ++i) f.put(key('m', static_cast<int>(i)), "v");
  f.put(key('n', 0), "neighbour");
  f.commit();
  proto::StoreReply r = f.scan("m");
  CHECK(r.entries.size() == kMaxScanEntries);
  CHECK_FALSE(r.more);

  // A caller's own limit that the prefix fills exactly: no more either.
  r = f.scan("m", key('m', static_cast<int>(kMaxScanEntries) - 11), 10);
  CHECK(r.entries.size() == 10);
  CHECK_FALSE(r.more);

  f.put(key('m', static_cast<int>(kMaxScanEntries)), "v");
  f.commit();
  r = f.scan("m");
  CHECK(r.entries.size() == kMaxScanEntries);
  CHECK(r.more);
  r = f.scan("m", r.entries.back().key);
  REQUIRE(r.entries.size() == 1);
  CHECK(r.entries[0].key == key('m', static_cast<int>(kMaxScanEntries)));
  CHECK_FALSE(r.more);

  // A limit above the page bound is held to it.
  r = f.scan("m", {}, static_cast<int>(kMaxScanEntries) * 4);
  CHECK(r.entries.size() == kMaxScanEntries);
  CHECK(r.more);
}

TEST_CASE("dir.scan pages split a prefix anywhere and lose or repeat nothing") {
  Fixture f;
  std::vector<std::string> want;
  for (int i = 0; i < 23; ++i) {
    f.put(key('l', i), "before");
    want.push_back(key('m', i));
    f.put(want.back(), "member " + std::to_string(i));
    f.put(key('n', i), "after");
  }
  f.commit();
  for (int limit : {1, 2, 5, 7, 22, 23, 24}) {
    INFO("limit " << limit);
    size_t pages = 0;
    CHECK(f.walk("m", limit, pages) == want);
    CHECK(pages == (23 + static_cast<size_t>(limit) - 1) / static_cast<size_t>(limit));
  }

  // start_after need not be a stored key, and below the prefix it means the start.
  proto::StoreReply r = f.scan("m", key('m', 4) + "zz", 2);
  REQUIRE(r.entries.size() == 2);
  CHECK(r.entries[0].key == key('m', 5));
  CHECK(r.entries[1].key == key('m', 6));
  CHECK(r.more);
  r = f.scan("m", key('a', 0), 1);
  REQUIRE(r.entries.size() == 1);
  CHECK(r.entries[0].key == key('m', 0));
  r = f.scan("m", "l\xff", 1);
  REQUIRE(r.entries.size() == 1);
  CHECK(r.entries[0].key == key('m', 0));
}

TEST_CASE("dir.scan stops before the byte bound, and always takes one entry") {
  Fixture f;
  const std::string value(100 * 1024, 'v');
  for (int i = 0; i < 12; ++i) f.put(key('m', i), value);
  f.commit();
  proto::StoreReply r = f.scan("m");
  // Five 100 KiB records fit in 512 KiB, a sixth would not.
  CHECK(r.entries.size() == 5);
  CHECK(r.more);
  size_t pages = 0;
  std::vector<std::string> keys = f.walk("m", 0, pages);
  CHECK(keys.size() == 12);
  CHECK(pages == 3);

  // One record larger than the bound still goes, alone.
  Fixture g;
  g.put(key('m', 0), std::string(kMaxScanBytes + 1, 'x'));
  g.put(key('m', 1), "small");
  g.commit();
  r = g.scan("m");
  REQUIRE(r.entries.size() == 1);
  CHECK(r.entries[0].value.size() == kMaxScanBytes + 1);
  CHECK(r.more);
  r = g.scan("m", key('m', 0));
  REQUIRE(r.entries.size() == 1);
  CHECK(r.entries[0].value == "small");
  CHECK_FALSE(r.more);
}

TEST_CASE("a full dir.scan page packs under 1 MiB") {
  Fixture f;
  // Member-sized records (~110 bytes), more than one page of them: the byte bound ends it.
  const std::string value(110, 'm');
  for (int i = 0; i < 6000; ++i) f.put(key('m', i), value);
  // Tiny records: the count bound ends the page, framing is most of the bytes.
  for (int i = 0; i < 9000; ++i) f.put(key('h', i), "t");
  f.commit();
  for (const char* prefix : {"m", "h"}) {
    INFO(prefix);
    proto::StoreReply r = f.scan(prefix);
    CHECK(r.more);
    CHECK(proto::pack(r).size() < 900 * 1024);
  }
}
