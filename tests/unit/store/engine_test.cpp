// The storage engine in-process on a temporary directory (no bus): history pages over
// messages spread across buckets (with an empty bucket between and years between),
// checked against a brute-force model; edits, deletes that survive a reopen, the
// directory, and the meta checks that refuse incompatible data.
#include <catch2/catch.hpp>

#include <rocksdb/db.h>

#include <algorithm>
#include <filesystem>
#include <random>

#include "chat/proto/snowflake.hpp"
#include "chat/store/engine.hpp"
#include "chat/store/history.hpp"

using namespace chat;
using namespace chat::store;

namespace {

constexpr uint64_t kDay = kMsPerDay;
constexpr uint64_t kChannel = 10;

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::random_device rd;
    path = std::filesystem::temp_directory_path() /
           ("chat-store-test-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string db() const { return (path / "store").string(); }
};

std::unique_ptr<Engine> open_engine(const std::string& path, uint64_t bucket_ms = kDay) {
  EngineOptions o;
  o.path = path;
  o.bucket_ms = bucket_ms;
  o.block_cache_mb = 8;
  std::unique_ptr<Engine> e;
  Status s = Engine::open(o, e);
  INFO(s.message());
  REQUIRE(s.is_ok());
  return e;
}

proto::Message msg(uint64_t channel, uint64_t id, std::string content = {}) {
  proto::Message m;
  m.id = id;
  m.channel_id = channel;
  m.author_id = 1;
  m.author_name = "alice";
  m.content = content.empty() ? "m" + std::to_string(id) : std::move(content);
  return m;
}

uint64_t id_at(uint64_t unix_ms, uint64_t seq) {
  return snowflake_floor(unix_ms) | seq;
}

// Ids of channel 10: five on day 0, none on day 1, five on day 2, four a year later and
// three three years later; every one in a bucket of its own day (bucket_ms = 1 day).
std::vector<uint64_t> channel_ids() {
  const uint64_t t0 = 1500000000000ULL;
  std::vector<uint64_t> ids;
  for (uint64_t i = 0; i < 5; ++i) ids.push_back(id_at(t0 + i * 1000, i));
  for (uint64_t i = 0; i < 5; ++i) ids.push_back(id_at(t0 + 2 * kDay + i * 60000, i));
  for (uint64_t i = 0; i < 4; ++i) ids.push_back(id_at(t0 + 365 * kDay + i, 7));
  for (uint64_t i = 0; i < 3; ++i) ids.push_back(id_at(t0 + 3 * 365 * kDay + i * kDay / 2, 1));
  std::sort(ids.begin(), ids.end());
  return ids;
}

void fill(Engine& e, const std::vector<uint64_t>& ids) {
  for (uint64_t id : ids) e.stage_message(msg(kChannel, id));
  // Neighbouring channels, so a page that leaves its range would show it.
  for (uint64_t id : ids) e.stage_message(msg(kChannel - 1, id));
  for (uint64_t id : ids) e.stage_message(msg(kChannel + 1, id));
  REQUIRE(e.commit(true).is_ok());
}

std::vector<uint64_t> ids_of(const std::vector<proto::Message>& ms) {
  std::vector<uint64_t> out;
  for (auto& m : ms) {
    CHECK(m.channel_id == kChannel);
    out.push_back(m.id);
  }
  return out;
}

std::vector<uint64_t> page(Engine& e, uint64_t before, uint64_t after, uint64_t around, int limit) {
  PageQuery q;
  q.channel_id = kChannel;
  q.before = before;
  q.after = after;
  q.around = around;
  q.limit = limit;
  std::vector<proto::Message> out;
  Status s = page_messages(e, q, out);
  INFO(s.message());
  REQUIRE(s.is_ok());
  return ids_of(out);
}

// The model: `all` ascending; answers newest first.
std::vector<uint64_t> model(const std::vector<uint64_t>& all, uint64_t before, uint64_t after,
                            uint64_t around, size_t limit) {
  std::vector<uint64_t> out;
  if (before) {
    for (auto it = all.rbegin(); it != all.rend() && out.size() < limit; ++it)
      if (*it < before) out.push_back(*it);
  } else if (after) {
    for (auto it = all.begin(); it != all.end() && out.size() < limit; ++it)
      if (*it > after) out.push_back(*it);
    std::reverse(out.begin(), out.end());
  } else if (around) {
    size_t newer = std::max<size_t>(1, limit / 2), older = limit - newer;
    for (auto it = all.begin(); it != all.end() && out.size() < newer; ++it)
      if (*it >= around) out.push_back(*it);
    std::reverse(out.begin(), out.end());
    size_t n = 0;
    for (auto it = all.rbegin(); it != all.rend() && n < older; ++it)
      if (*it < around) out.push_back(*it), ++n;
  } else {
    for (auto it = all.rbegin(); it != all.rend() && out.size() < limit; ++it) out.push_back(*it);
  }
  return out;
}

}  // namespace

TEST_CASE("history pages across buckets, empty buckets and years") {
  TempDir dir;
  auto e = open_engine(dir.db());
  const auto all = channel_ids();
  fill(*e, all);
  const size_t n = all.size();

  SECTION("latest") {
    CHECK(page(*e, 0, 0, 0, 3) == std::vector<uint64_t>{all[n - 1], all[n - 2], all[n - 3]});
    auto every = page(*e, 0, 0, 0, 100);
    REQUIRE(every.size() == n);
    CHECK(std::is_sorted(every.rbegin(), every.rend()));
  }
  SECTION("before, after and around at concrete points") {
    CHECK(page(*e, all[10], 0, 0, 4) == std::vector<uint64_t>{all[9], all[8], all[7], all[6]});
    CHECK(page(*e, all[0], 0, 0, 10).empty());
    CHECK(page(*e, 0, all[3], 0, 4) == std::vector<uint64_t>{all[7], all[6], all[5], all[4]});
    CHECK(page(*e, 0, all[n - 1], 0, 10).empty());
    CHECK(page(*e, 0, 1, 0, 2) == std::vector<uint64_t>{all[1], all[0]});
    CHECK(page(*e, 0, 0, all[9], 5) ==
          std::vector<uint64_t>{all[10], all[9], all[8], all[7], all[6]});
    CHECK(page(*e, 0, 0, all[9], 1) == std::vector<uint64_t>{all[9]});
    // before a point inside the empty bucket (day 1) gives the end of day 0.
    const uint64_t day1 = id_at(1500000000000ULL + kDay + 5, 0);
    CHECK(page(*e, day1, 0, 0, 2) == std::vector<uint64_t>{all[4], all[3]});
    CHECK(page(*e, 0, day1, 0, 1) == std::vector<uint64_t>{all[5]});
  }
  SECTION("every cursor and limit agrees with the model") {
    std::vector<uint64_t> points = {1, UINT64_MAX / 2, UINT64_MAX};
    for (uint64_t id : all) {
      points.push_back(id);
      points.push_back(id - 1);
      points.push_back(id + 1);
    }
    for (uint64_t x : points)
      for (int limit : {1, 2, 3, 5, 8, 17, 100}) {
        INFO("x=" << x << " limit=" << limit);
        CHECK(page(*e, x, 0, 0, limit) == model(all, x, 0, 0, limit));
        CHECK(page(*e, 0, x, 0, limit) == model(all, 0, x, 0, limit));
        CHECK(page(*e, 0, 0, x, limit) == model(all, 0, 0, x, limit));
      }
  }
  SECTION("bad queries") {
    std::vector<proto::Message> out;
    PageQuery q;
    q.channel_id = kChannel;
    q.limit = 0;
    CHECK(page_messages(*e, q, out).code() == Status::Code::bad_request);
    q.limit = 101;
    CHECK(page_messages(*e, q, out).code() == Status::Code::bad_request);
    q.limit = 10;
    q.before = 5;
    q.after = 3;
    CHECK(page_messages(*e, q, out).code() == Status::Code::bad_request);
    q = PageQuery{};
    CHECK(page_messages(*e, q, out).code() == Status::Code::bad_request);
  }
  SECTION("an empty channel pages empty") {
    PageQuery q;
    q.channel_id = 12345;
    std::vector<proto::Message> out;
    REQUIRE(page_messages(*e, q, out).is_ok());
    CHECK(out.empty());
  }
}

TEST_CASE("edits rewrite in place; deletes are gone after a reopen") {
  TempDir dir;
  const auto all = channel_ids();
  {
    auto e = open_engine(dir.db());
    fill(*e, all);
    proto::Message m;
    REQUIRE(e->get_message(kChannel, all[2], m).is_ok());
    CHECK(m.content == "m" + std::to_string(all[2]));

    auto edited = msg(kChannel, all[2], "edited");
    edited.edited_ms = 42;
    REQUIRE(e->stage_edit(edited).is_ok());
    CHECK(e->stage_edit(msg(kChannel, all[2] + 1, "x")).is_not_found());
    CHECK(e->stage_edit(msg(kChannel + 100, all[2], "x")).is_not_found());
    REQUIRE(e->commit(true).is_ok());
    REQUIRE(e->get_message(kChannel, all[2], m).is_ok());
    CHECK(m.content == "edited");
    CHECK(m.edited_ms == 42);

    CHECK(e->stage_delete(kChannel, {all[0], all[13], all[13], 777}) == 2);
    REQUIRE(e->commit(true).is_ok());
    CHECK(e->get_message(kChannel, all[0], m).is_not_found());
    // The neighbour channel keeps its copy.
    CHECK(e->get_message(kChannel + 1, all[0], m).is_ok());
  }
  auto e = open_engine(dir.db());
  proto::Message m;
  CHECK(e->get_message(kChannel, all[0], m).is_not_found());
  CHECK(e->get_message(kChannel, all[13], m).is_not_found());
  REQUIRE(e->get_message(kChannel, all[2], m).is_ok());
  CHECK(m.content == "edited");
  auto latest = page(*e, 0, 0, 0, 100);
  CHECK(latest.size() == all.size() - 2);
  CHECK(std::find(latest.begin(), latest.end(), all[13]) == latest.end());
  // After the reopen the data comes from SST files (recovery flushes the WAL): pages read
  // through their prefix blooms must still cross buckets.
  std::vector<uint64_t> left;
  for (uint64_t id : all)
    if (id != all[0] && id != all[13]) left.push_back(id);
  for (uint64_t x : all)
    for (int limit : {1, 4, 100}) {
      CHECK(page(*e, x, 0, 0, limit) == model(left, x, 0, 0, limit));
      CHECK(page(*e, 0, x, 0, limit) == model(left, 0, x, 0, limit));
      CHECK(page(*e, 0, 0, x, limit) == model(left, 0, 0, x, limit));
    }
}

TEST_CASE("staged writes are visible to later edits and deletes of the same batch") {
  TempDir dir;
  auto e = open_engine(dir.db());
  const uint64_t id = id_at(1700000000000ULL, 3);
  e->stage_message(msg(kChannel, id, "first"));
  REQUIRE(e->stage_edit(msg(kChannel, id, "second")).is_ok());
  CHECK(e->staged() == 2);
  proto::Message m;
  CHECK(e->get_message(kChannel, id, m).is_not_found());  // not committed yet
  REQUIRE(e->commit(false).is_ok());
  CHECK(e->staged() == 0);
  REQUIRE(e->get_message(kChannel, id, m).is_ok());
  CHECK(m.content == "second");
  CHECK(e->stage_delete(kChannel, {id}) == 1);
  CHECK(e->stage_delete(kChannel, {id}) == 0);
  CHECK(e->stage_edit(msg(kChannel, id, "third")).is_not_found());
  REQUIRE(e->commit(true).is_ok());
  CHECK(e->get_message(kChannel, id, m).is_not_found());
}

TEST_CASE("directory put, get, scan and delete") {
  TempDir dir;
  {
    auto e = open_engine(dir.db());
    e->stage_dir_put("g/1", "guild one");
    e->stage_dir_put("g/2", "guild two");
    e->stage_dir_put("g/10", "guild ten");
    e->stage_dir_put("u/1", "user");
    e->stage_dir_put(std::string("z\xff", 2), "edge");
    REQUIRE(e->commit(true).is_ok());
    std::string v;
    REQUIRE(e->get_dir("g/2", v).is_ok());
    CHECK(v == "guild two");
    CHECK(e->get_dir("g/3", v).is_not_found());

    std::vector<proto::DirEntry> out;
    REQUIRE(e->scan_dir("g/", 0, out).is_ok());
    REQUIRE(out.size() == 3);
    CHECK(out[0].key == "g/1");
    CHECK(out[1].key == "g/10");
    CHECK(out[2].key == "g/2");
    out.clear();
    REQUIRE(e->scan_dir("g/", 2, out).is_ok());
    CHECK(out.size() == 2);
    out.clear();
    REQUIRE(e->scan_dir("", 0, out).is_ok());
    CHECK(out.size() == 5);
    out.clear();
    REQUIRE(e->scan_dir(std::string("z\xff", 2), 0, out).is_ok());
    CHECK(out.size() == 1);

    e->stage_dir_del("g/10");
    REQUIRE(e->commit(true).is_ok());
  }
  auto e = open_engine(dir.db());
  std::string v;
  CHECK(e->get_dir("g/10", v).is_not_found());
  std::vector<proto::DirEntry> out;
  REQUIRE(e->scan_dir("g/", 0, out).is_ok());
  CHECK(out.size() == 2);
}

TEST_CASE("meta: a newer schema and a different bucket size are refused") {
  TempDir dir;
  open_engine(dir.db(), kDay)->close();

  SECTION("bucket_ms differs from the data's") {
    EngineOptions o;
    o.path = dir.db();
    o.bucket_ms = 2 * kDay;
    std::unique_ptr<Engine> e;
    Status s = Engine::open(o, e);
    CHECK(s.code() == Status::Code::config_mismatch);
    CHECK(s.message().find("fixed once data exists") != std::string::npos);
    CHECK_FALSE(e);
    // The same size opens again (and the failed open released the lock).
    open_engine(dir.db(), kDay);
  }
  SECTION("schema_version newer than ours") {
    {
      rocksdb::DB* db = nullptr;
      std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {{rocksdb::kDefaultColumnFamilyName, {}},
                                                          {"messages", {}},
                                                          {"directory", {}},
                                                          {"meta", {}}};
      std::vector<rocksdb::ColumnFamilyHandle*> handles;
      rocksdb::Options opts;
      REQUIRE(rocksdb::DB::Open(opts, dir.db(), cfs, &handles, &db).ok());
      std::string v;
      REQUIRE(db->Get({}, handles[3], "schema_version", &v).ok());
      CHECK(v == "1");
      REQUIRE(db->Put({}, handles[3], "schema_version", "2").ok());
      for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
      delete db;
    }
    EngineOptions o;
    o.path = dir.db();
    o.bucket_ms = kDay;
    std::unique_ptr<Engine> e;
    Status s = Engine::open(o, e);
    CHECK(s.code() == Status::Code::incompatible);
    CHECK(s.message().find("schema_version 2") != std::string::npos);
  }
}

TEST_CASE("stats count a channel's messages per bucket") {
  TempDir dir;
  auto e = open_engine(dir.db());
  fill(*e, channel_ids());
  std::string one = e->stats_json(kChannel);
  CHECK(one.find("\"messages\":17") != std::string::npos);
  std::string all = e->stats_json(0);
  CHECK(all.find("column_families") != std::string::npos);
}
