// Retention, compaction and checkpoints on a temporary store (no bus): policies and their
// precedence, a sweep that drops whole buckets by DeleteRange and the expired part of the
// cutoff bucket by point deletes, counters that match, and deleted messages (by delete and
// by retention) that stay gone after a reopen and after compaction; compact's byte figures;
// backup names and a checkpoint that opens with the same history.
#include <catch2/catch.hpp>

#include <filesystem>
#include <random>
#include <set>

#include "chat/proto/snowflake.hpp"
#include "chat/store/history.hpp"
#include "chat/store/maintenance.hpp"
#include "chat/store/retention.hpp"
#include "chat/store/stats.hpp"

using namespace chat;
using namespace chat::store;

namespace {

constexpr uint64_t kDay = kMsPerDay;
constexpr uint64_t kNow = 1700000000000ULL;  // "now" for the sweeps (Nov 2023)

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::random_device rd;
    path = std::filesystem::temp_directory_path() /
           ("chat-store-ret-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string db() const { return (path / "store").string(); }
};

std::unique_ptr<Engine> open_engine(const std::string& path) {
  EngineOptions o;
  o.path = path;
  o.bucket_ms = kDay;
  o.block_cache_mb = 8;
  std::unique_ptr<Engine> e;
  Status s = Engine::open(o, e);
  INFO(s.message());
  REQUIRE(s.is_ok());
  return e;
}

proto::Message msg(uint64_t channel, uint64_t id) {
  proto::Message m;
  m.id = id;
  m.channel_id = channel;
  m.content = std::string(200, 'x') + std::to_string(id);
  return m;
}

// Ten messages a day for `days` days ending at kNow, hourly within each day.
std::vector<uint64_t> fill(Engine& e, uint64_t channel, int days) {
  std::vector<uint64_t> ids;
  for (int d = days; d >= 1; --d)
    for (int i = 0; i < 10; ++i) {
      uint64_t id = snowflake_floor(kNow - d * kDay + i * 3600000ULL) | static_cast<uint64_t>(i);
      e.stage_message(msg(channel, id));
      ids.push_back(id);
    }
  REQUIRE(e.commit(true).is_ok());
  return ids;
}

std::vector<uint64_t> all_ids(Engine& e, uint64_t channel) {
  std::vector<uint64_t> out;
  uint64_t before = 0;
  while (true) {
    PageQuery q;
    q.channel_id = channel;
    q.before = before;
    q.limit = 100;
    std::vector<proto::Message> page;
    REQUIRE(page_messages(e, q, page).is_ok());
    if (page.empty()) break;
    for (auto& m : page) out.push_back(m.id);
    before = page.back().id;
  }
  std::reverse(out.begin(), out.end());
  return out;
}

void set(Engine& e, uint64_t guild, uint64_t channel, std::vector<uint64_t> channels, int days) {
  Status s = stage_retention_set(e, guild, channel, channels, days);
  INFO(s.message());
  REQUIRE(s.is_ok());
  REQUIRE(e.commit(true).is_ok());
}

}  // namespace

TEST_CASE("retention policies: channel setting wins over the guild's") {
  TempDir dir;
  auto e = open_engine(dir.db());
  set(*e, 7, 0, {1, 2, 3}, 30);
  set(*e, 0, 2, {}, 5);
  set(*e, 0, 3, {}, 0);  // kept forever whatever the guild says
  std::map<uint64_t, int> eff;
  REQUIRE(load_retention(*e, eff).is_ok());
  CHECK(eff == std::map<uint64_t, int>{{1, 30}, {2, 5}, {3, 0}});
  set(*e, 0, 2, {}, -1);  // remove the channel's own: the guild's applies again
  REQUIRE(load_retention(*e, eff).is_ok());
  CHECK(eff[2] == 30);
  int days = -1;
  std::vector<uint64_t> channels;
  REQUIRE(guild_retention(*e, 7, days, channels).is_ok());
  CHECK(days == 30);
  CHECK(channels == std::vector<uint64_t>{1, 2, 3});
  set(*e, 7, 0, {}, 0);  // remove the guild's
  REQUIRE(load_retention(*e, eff).is_ok());
  CHECK(eff == std::map<uint64_t, int>{{3, 0}});

  CHECK(stage_retention_set(*e, 1, 1, {}, 3).code() == Status::Code::bad_request);
  CHECK(stage_retention_set(*e, 0, 0, {}, 3).code() == Status::Code::bad_request);
  CHECK(stage_retention_set(*e, 0, 1, {}, kMaxRetentionDays + 1).code() ==
        Status::Code::bad_request);
  CHECK(stage_retention_set(*e, 1, 0, {}, 3).code() == Status::Code::bad_request);
  CHECK(stage_retention_set(*e, 1, 0, {4, 0}, 3).code() == Status::Code::bad_request);
}

TEST_CASE("a sweep drops whole buckets and the expired part of the cutoff bucket") {
  TempDir dir;
  auto e = open_engine(dir.db());
  const uint64_t kept_channel = 5, limited = 6, neighbour = 7;
  auto kept = fill(*e, kept_channel, 20);
  auto ids = fill(*e, limited, 20);
  auto other = fill(*e, neighbour, 20);
  // 7.5 days: the cutoff falls in the middle of a day (bucket), 12:00 into it.
  const uint64_t now = kNow + kDay / 2;
  set(*e, 0, limited, {}, 7);

  std::vector<uint64_t> expect;
  std::set<uint32_t> whole_buckets;
  const uint32_t cutoff_bucket = static_cast<uint32_t>((now - 7 * kDay) / kDay);
  for (uint64_t id : ids) {
    if (snowflake_unix_ms(id) >= now - 7 * kDay) expect.push_back(id);
    if (bucket_of(id, kDay) < cutoff_bucket) whole_buckets.insert(bucket_of(id, kDay));
  }
  REQUIRE(whole_buckets.size() > 5);
  SweepResult r;
  REQUIRE(sweep_retention(*e, now, nullptr, r).is_ok());
  CHECK(r.channels == 1);
  CHECK(r.removed_messages == ids.size() - expect.size());
  CHECK(r.removed_buckets == whole_buckets.size());
  CHECK(r.removed_messages > 0);
  CHECK(all_ids(*e, limited) == expect);
  CHECK(all_ids(*e, kept_channel) == kept);
  CHECK(all_ids(*e, neighbour) == other);

  RetentionCounters c = read_retention_counters(*e);
  CHECK(c.removed_messages == r.removed_messages);
  CHECK(c.removed_buckets == whole_buckets.size());
  CHECK(c.runs == 1);
  CHECK(c.last_run_ms == now);

  // A second sweep at the same moment has nothing to do.
  SweepResult again;
  REQUIRE(sweep_retention(*e, now, nullptr, again).is_ok());
  CHECK(again.removed_messages == 0);
  CHECK(read_retention_counters(*e).runs == 2);

  // Stats report it.
  std::string stats = stats_json(*e, 0);
  CHECK(stats.find("\"removed_messages\":" + std::to_string(r.removed_messages)) !=
        std::string::npos);
  CHECK(stats_json(*e, limited).find("\"retention_days\":7") != std::string::npos);
}

TEST_CASE("deleted and expired messages stay gone after reopen and compaction") {
  TempDir dir;
  std::vector<uint64_t> expect;
  const uint64_t ch = 9;
  {
    auto e = open_engine(dir.db());
    auto ids = fill(*e, ch, 10);
    set(*e, 0, ch, {}, 4);
    // Point deletes of three recent ones.
    std::vector<uint64_t> gone = {ids[ids.size() - 1], ids[ids.size() - 5], ids[70]};
    CHECK(e->stage_delete(ch, gone) == 3);
    REQUIRE(e->commit(true).is_ok());
    SweepResult r;
    REQUIRE(sweep_retention(*e, kNow, nullptr, r).is_ok());
    CHECK(r.removed_messages == 60);
    for (uint64_t id : ids)
      if (snowflake_unix_ms(id) >= kNow - 4 * kDay &&
          std::find(gone.begin(), gone.end(), id) == gone.end())
        expect.push_back(id);
    CHECK(all_ids(*e, ch) == expect);
    REQUIRE(e->close().is_ok());
  }
  {
    auto e = open_engine(dir.db());
    CHECK(all_ids(*e, ch) == expect);
    CompactResult cr;
    REQUIRE(compact(*e, 0, cr).is_ok());
    CHECK(cr.before_bytes > 0);
    CHECK(cr.after_bytes < cr.before_bytes);
    CHECK(all_ids(*e, ch) == expect);
    REQUIRE(compact(*e, ch, cr).is_ok());
    CHECK(all_ids(*e, ch) == expect);
    proto::Message m;
    CHECK(e->get_message(ch, expect.front() - 1, m).is_not_found());
    REQUIRE(e->close().is_ok());
  }
  auto e = open_engine(dir.db());
  CHECK(all_ids(*e, ch) == expect);
}

TEST_CASE("backup names are checked and a checkpoint opens with the same history") {
  CHECK(valid_backup_name("nightly-2024.01_02"));
  CHECK(!valid_backup_name(""));
  CHECK(!valid_backup_name("."));
  CHECK(!valid_backup_name(".."));
  CHECK(!valid_backup_name("a..b"));
  CHECK(!valid_backup_name("a/b"));
  CHECK(!valid_backup_name("../x"));
  CHECK(!valid_backup_name(std::string(65, 'a')));
  CHECK(valid_backup_name(std::string(64, 'a')));
  CHECK(!valid_backup_name("sp ace"));

  TempDir dir;
  std::string backups = (dir.path / "backups").string();
  std::vector<uint64_t> ids;
  {
    auto e = open_engine(dir.db());
    ids = fill(*e, 3, 5);
    std::string path;
    REQUIRE(backup(*e, backups, "one", path).is_ok());
    CHECK(path == backups + "/one");
    CHECK(backup(*e, backups, "one", path).code() == Status::Code::already_exists);
    CHECK(backup(*e, backups, "../escape", path).code() == Status::Code::bad_request);
    e->stage_delete(3, {ids[0]});  // after the checkpoint: not in it
    REQUIRE(e->commit(true).is_ok());
  }
  auto restored = open_engine(backups + "/one");
  CHECK(all_ids(*restored, 3) == ids);
}
