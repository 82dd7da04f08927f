// See stats.hpp.
#include "chat/store/stats.hpp"

#include <rocksdb/db.h>
#include <rocksdb/statistics.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "chat/store/retention.hpp"

namespace chat::store {
namespace {

uint64_t int_property(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, const std::string& name) {
  uint64_t v = 0;
  if (!db->GetIntProperty(cf, name, &v)) return 0;
  return v;
}

// Distinct (channel, bucket) pairs and distinct channels of the messages column family.
void count_buckets(Engine& engine, uint64_t& buckets, uint64_t& channels) {
  buckets = channels = 0;
  auto cursor = engine.messages(std::string(), std::string(kMessageKeySize + 1, '\xff'));
  rocksdb::Iterator& it = cursor->it();
  uint64_t last_channel = 0;
  for (it.SeekToFirst(); it.Valid();) {
    MessageKey k;
    if (!decode_message_key(std::string_view(it.key().data(), it.key().size()), k)) {
      it.Next();
      continue;
    }
    ++buckets;
    if (channels == 0 || k.channel_id != last_channel) ++channels;
    last_channel = k.channel_id;
    if (k.bucket != UINT32_MAX)
      it.Seek(message_key_at(k.channel_id, k.bucket + 1, 0));
    else if (k.channel_id != UINT64_MAX)
      it.Seek(channel_begin(k.channel_id + 1));
    else
      break;
  }
}

uint64_t wal_bytes(const std::string& path) {
  uint64_t total = 0;
  std::error_code ec;
  for (auto& entry : std::filesystem::directory_iterator(path, ec)) {
    if (entry.path().extension() == ".log" && entry.is_regular_file(ec))
      total += entry.file_size(ec);
  }
  return total;
}

uint64_t dir_bytes(const std::string& path) {
  uint64_t total = 0;
  std::error_code ec;
  for (auto& entry : std::filesystem::directory_iterator(path, ec))
    if (entry.is_regular_file(ec)) total += entry.file_size(ec);
  return total;
}

nlohmann::json channel_stats(Engine& engine, uint64_t channel_id) {
  nlohmann::json j;
  std::map<uint32_t, uint64_t> buckets;
  uint64_t count = 0;
  auto cursor = engine.messages(channel_begin(channel_id), channel_end(channel_id));
  rocksdb::Iterator& it = cursor->it();
  for (it.SeekToFirst(); it.Valid(); it.Next()) {
    MessageKey k;
    if (!decode_message_key(std::string_view(it.key().data(), it.key().size()), k)) continue;
    ++buckets[k.bucket];
    ++count;
  }
  std::string lo = channel_begin(channel_id), hi = channel_end(channel_id);
  rocksdb::Range range(lo, hi);
  uint64_t bytes = 0;
  rocksdb::SizeApproximationOptions sao;
  sao.include_memtables = true;
  engine.db()->GetApproximateSizes(sao, engine.messages_cf(), &range, 1, &bytes);
  int days = 0;
  channel_retention(engine, channel_id, days);
  j["channel_id"] = std::to_string(channel_id);
  j["messages"] = count;
  j["approximate_bytes"] = bytes;
  j["retention_days"] = days;
  auto& list = j["buckets"] = nlohmann::json::array();
  for (auto& [bucket, n] : buckets)
    list.push_back({{"bucket", bucket},
                    {"start_ms", static_cast<uint64_t>(bucket) * engine.bucket_ms()},
                    {"messages", n}});
  return j;
}

}  // namespace

uint64_t live_bytes(Engine& engine) {
  uint64_t total = 0;
  for (auto* cf : {engine.messages_cf(), engine.directory_cf(), engine.meta_cf()}) {
    total += int_property(engine.db(), cf, "rocksdb.live-sst-files-size");
    total += int_property(engine.db(), cf, "rocksdb.cur-size-all-mem-tables");
  }
  return total;
}

std::string stats_json(Engine& engine, uint64_t channel_id) {
  rocksdb::DB* db = engine.db();
  nlohmann::json j;
  j["path"] = engine.path();
  j["schema_version"] = kStoreSchemaVersion;
  j["bucket_ms"] = engine.bucket_ms();
  if (channel_id != 0) {
    j.update(channel_stats(engine, channel_id));
    return j.dump();
  }

  rocksdb::ColumnFamilyHandle* messages = engine.messages_cf();
  uint64_t buckets = 0, channels = 0;
  count_buckets(engine, buckets, channels);
  j["messages"] = int_property(db, messages, "rocksdb.estimate-num-keys");
  j["messages_exact"] = false;
  j["channels"] = channels;
  j["buckets"] = buckets;

  uint64_t live = 0, total = 0, mem = 0;
  for (auto* cf : {messages, engine.directory_cf(), engine.meta_cf()}) {
    live += int_property(db, cf, "rocksdb.live-sst-files-size");
    total += int_property(db, cf, "rocksdb.total-sst-files-size");
    mem += int_property(db, cf, "rocksdb.cur-size-all-mem-tables");
  }
  j["disk"] = {{"live_sst_bytes", live},
               {"total_sst_bytes", total},
               {"memtable_bytes", mem},
               {"wal_bytes", wal_bytes(engine.path())},
               {"dir_bytes", dir_bytes(engine.path())}};

  // Levels of the messages column family (the others are small).
  rocksdb::ColumnFamilyMetaData meta;
  db->GetColumnFamilyMetaData(messages, &meta);
  auto& levels = j["levels"] = nlohmann::json::array();
  for (const auto& level : meta.levels)
    levels.push_back(
        {{"level", level.level}, {"files", level.files.size()}, {"bytes", level.size}});
  j["pending_compaction_bytes"] =
      int_property(db, messages, "rocksdb.estimate-pending-compaction-bytes");
  j["running_compactions"] = int_property(db, messages, "rocksdb.num-running-compactions");

  if (rocksdb::Statistics* st = engine.statistics()) {
    uint64_t hits = st->getTickerCount(rocksdb::BLOCK_CACHE_HIT);
    uint64_t misses = st->getTickerCount(rocksdb::BLOCK_CACHE_MISS);
    j["block_cache"] = {{"hits", hits},
                        {"misses", misses},
                        {"hit_rate", hits + misses ? double(hits) / double(hits + misses) : 0.0}};
    j["write_stalls"]["stall_micros"] = st->getTickerCount(rocksdb::STALL_MICROS);
  }
  std::map<std::string, std::string> cfstats;
  uint64_t slowdowns = 0, stops = 0;
  for (auto* cf : {messages, engine.directory_cf(), engine.meta_cf()}) {
    cfstats.clear();
    if (!db->GetMapProperty(cf, "rocksdb.cfstats", &cfstats)) continue;
    for (auto& [key, value] : cfstats) {
      if (key == "io_stalls.total_slowdown") slowdowns += std::strtoull(value.c_str(), nullptr, 10);
      if (key == "io_stalls.total_stop") stops += std::strtoull(value.c_str(), nullptr, 10);
    }
  }
  j["write_stalls"]["slowdowns"] = slowdowns;
  j["write_stalls"]["stops"] = stops;
  j["write_stalls"]["delayed_write_rate"] =
      int_property(db, messages, "rocksdb.actual-delayed-write-rate");
  j["write_stalls"]["stopped"] = int_property(db, messages, "rocksdb.is-write-stopped") != 0;

  RetentionCounters rc = read_retention_counters(engine);
  std::map<uint64_t, int> policies;
  load_retention(engine, policies);
  uint64_t limited = 0;
  for (auto& [c, days] : policies) limited += days > 0;
  j["retention"] = {{"removed_messages", rc.removed_messages},
                    {"removed_buckets", rc.removed_buckets},
                    {"runs", rc.runs},
                    {"last_run_ms", rc.last_run_ms},
                    {"policies", limited}};

  auto& cfs = j["column_families"] = nlohmann::json::object();
  for (auto* cf : {messages, engine.directory_cf(), engine.meta_cf()}) {
    nlohmann::json c;
    for (const char* prop : {"rocksdb.estimate-num-keys", "rocksdb.live-sst-files-size",
                             "rocksdb.cur-size-all-mem-tables", "rocksdb.num-live-versions",
                             "rocksdb.estimate-live-data-size"}) {
      c[std::string(prop).substr(8)] = int_property(db, cf, prop);
    }
    cfs[cf->GetName()] = c;
  }
  return j.dump();
}

}  // namespace chat::store
