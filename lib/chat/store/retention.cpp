// See retention.hpp.
#include "chat/store/retention.hpp"

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <string>

#include "chat/obs/log.hpp"
#include "chat/proto/snowflake.hpp"

namespace chat::store {
namespace {

constexpr const char* kChannelPrefix = "retention/channel/";
constexpr const char* kGuildPrefix = "retention/guild/";
constexpr const char* kStatsPrefix = "retention/stats/";

struct GuildRecord {
  int days = 0;
  std::vector<uint64_t> channels;
  MSGPACK_DEFINE_MAP(days, channels)
};

std::string channel_key(uint64_t id) {
  return kChannelPrefix + std::to_string(id);
}
std::string guild_key(uint64_t id) {
  return kGuildPrefix + std::to_string(id);
}
std::string stats_key(const char* name) {
  return std::string(kStatsPrefix) + name;
}

// Every meta entry under `prefix`, as (suffix, value).
Status scan_meta(Engine& engine, const std::string& prefix,
                 std::vector<std::pair<std::string, std::string>>& out) {
  std::string upper = prefix_successor(prefix);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(engine.db()->NewIterator(ro, engine.meta_cf()));
  for (it->Seek(prefix); it->Valid(); it->Next())
    out.emplace_back(it->key().ToString().substr(prefix.size()), it->value().ToString());
  if (!it->status().ok()) return Status::io_error("scanning meta: " + it->status().ToString());
  return Status::ok();
}

uint64_t meta_number(Engine& engine, const std::string& key) {
  std::string value;
  if (!engine.db()->Get(rocksdb::ReadOptions(), engine.meta_cf(), key, &value).ok()) return 0;
  return std::strtoull(value.c_str(), nullptr, 10);
}

void put_counters(rocksdb::WriteBatch& batch, Engine& engine, const RetentionCounters& c) {
  batch.Put(engine.meta_cf(), stats_key("removed_messages"), std::to_string(c.removed_messages));
  batch.Put(engine.meta_cf(), stats_key("removed_buckets"), std::to_string(c.removed_buckets));
  batch.Put(engine.meta_cf(), stats_key("runs"), std::to_string(c.runs));
  batch.Put(engine.meta_cf(), stats_key("last_run_ms"), std::to_string(c.last_run_ms));
}

Status write_synced(Engine& engine, rocksdb::WriteBatch& batch) {
  rocksdb::WriteOptions wo;
  wo.sync = true;
  rocksdb::Status s = engine.db()->Write(wo, &batch);
  batch.Clear();
  if (!s.ok()) return Status::io_error("writing a retention batch: " + s.ToString());
  return Status::ok();
}

// The sweep of one channel: see the top of retention.hpp. `totals` is the running
// counter state, written with every chunk.
Status sweep_channel(Engine& engine, uint64_t channel, int days, uint64_t now_ms,
                     const std::atomic<bool>* stop, RetentionCounters& totals,
                     SweepResult& result) {
  const uint64_t keep_ms = static_cast<uint64_t>(days) * kMsPerDay;
  if (now_ms <= kDiscordEpochMs || now_ms - kDiscordEpochMs <= keep_ms) return Status::ok();
  const uint64_t cutoff_ms = now_ms - keep_ms;  // messages before this moment expire
  const uint32_t cutoff_bucket = static_cast<uint32_t>(cutoff_ms / engine.bucket_ms());
  const std::string whole_end = message_key_at(channel, cutoff_bucket, 0);
  rocksdb::WriteBatch batch;

  // Whole buckets: count what goes (for the counters), then one DeleteRange.
  uint64_t whole = 0, buckets = 0;
  {
    auto cursor = engine.messages(channel_begin(channel), whole_end);
    rocksdb::Iterator& it = cursor->it();
    uint32_t last_bucket = 0;
    for (it.SeekToFirst(); it.Valid(); it.Next()) {
      MessageKey k;
      if (!decode_message_key(std::string_view(it.key().data(), it.key().size()), k)) continue;
      if (whole == 0 || k.bucket != last_bucket) ++buckets;
      last_bucket = k.bucket;
      ++whole;
    }
    if (!it.status().ok()) return Status::io_error("retention scan: " + it.status().ToString());
  }
  if (whole > 0) {
    batch.DeleteRange(engine.messages_cf(), channel_begin(channel), whole_end);
    totals.removed_messages += whole;
    totals.removed_buckets += buckets;
    result.removed_messages += whole;
    result.removed_buckets += buckets;
    put_counters(batch, engine, totals);
    if (Status s = write_synced(engine, batch); !s.is_ok()) return s;
    log::info("store", "retention dropped buckets",
              {{"channel_id", channel}, {"buckets", buckets}, {"messages", whole}});
  }

  // The bucket the cutoff falls in: point deletes of its expired messages, in chunks.
  const std::string partial_end =
      message_key_at(channel, cutoff_bucket, snowflake_floor(cutoff_ms));
  auto cursor = engine.messages(whole_end, partial_end);
  rocksdb::Iterator& it = cursor->it();
  uint64_t pending = 0, partial = 0;
  for (it.SeekToFirst(); it.Valid(); it.Next()) {
    batch.Delete(engine.messages_cf(), it.key());
    ++pending;
    if (pending == kSweepChunk) {
      totals.removed_messages += pending;
      result.removed_messages += pending;
      partial += pending;
      put_counters(batch, engine, totals);
      if (Status s = write_synced(engine, batch); !s.is_ok()) return s;
      pending = 0;
      if (stop && stop->load()) return Status::ok();
    }
  }
  if (!it.status().ok()) return Status::io_error("retention scan: " + it.status().ToString());
  if (pending > 0) {
    totals.removed_messages += pending;
    result.removed_messages += pending;
    partial += pending;
    put_counters(batch, engine, totals);
    if (Status s = write_synced(engine, batch); !s.is_ok()) return s;
  }
  if (partial > 0)
    log::info("store", "retention removed messages",
              {{"channel_id", channel}, {"messages", partial}});
  return Status::ok();
}

}  // namespace

Status stage_retention_set(Engine& engine, uint64_t guild_id, uint64_t channel_id,
                           const std::vector<uint64_t>& channels, int days) {
  if ((guild_id != 0) == (channel_id != 0))
    return Status::bad_request("retention.set takes either channel_id or guild_id");
  if (days > kMaxRetentionDays)
    return Status::bad_request("days must be at most " + std::to_string(kMaxRetentionDays));
  if (channel_id != 0) {
    if (days < 0)
      engine.stage_meta_del(channel_key(channel_id));
    else
      engine.stage_meta_put(channel_key(channel_id), std::to_string(days));
    return Status::ok();
  }
  if (days <= 0) {
    engine.stage_meta_del(guild_key(guild_id));
    return Status::ok();
  }
  if (channels.empty() || channels.size() > kMaxRetentionChannels)
    return Status::bad_request("a guild's retention needs its channels (ids, 1.." +
                               std::to_string(kMaxRetentionChannels) + ")");
  for (uint64_t c : channels)
    if (c == 0) return Status::bad_request("channel ids must be non-zero");
  engine.stage_meta_put(guild_key(guild_id), proto::pack(GuildRecord{days, channels}));
  return Status::ok();
}

Status load_retention(Engine& engine, std::map<uint64_t, int>& effective) {
  effective.clear();
  std::vector<std::pair<std::string, std::string>> guilds, channels;
  if (Status s = scan_meta(engine, kGuildPrefix, guilds); !s.is_ok()) return s;
  if (Status s = scan_meta(engine, kChannelPrefix, channels); !s.is_ok()) return s;
  for (auto& [id, value] : guilds) {
    GuildRecord g;
    if (!proto::unpack(value, g)) {
      log::err("store", "retention record does not decode", {{"guild_id", id}});
      continue;
    }
    // A channel listed by two guilds (moved between them) keeps the shorter limit.
    for (uint64_t c : g.channels) {
      auto [pos, inserted] = effective.emplace(c, g.days);
      if (!inserted && g.days < pos->second) pos->second = g.days;
    }
  }
  for (auto& [id, value] : channels)
    effective[std::strtoull(id.c_str(), nullptr, 10)] = std::atoi(value.c_str());
  return Status::ok();
}

Status channel_retention(Engine& engine, uint64_t channel_id, int& days) {
  std::map<uint64_t, int> all;
  days = 0;
  if (Status s = load_retention(engine, all); !s.is_ok()) return s;
  if (auto it = all.find(channel_id); it != all.end()) days = it->second;
  return Status::ok();
}

Status guild_retention(Engine& engine, uint64_t guild_id, int& days,
                       std::vector<uint64_t>& channels) {
  days = 0;
  channels.clear();
  std::string value;
  rocksdb::Status s =
      engine.db()->Get(rocksdb::ReadOptions(), engine.meta_cf(), guild_key(guild_id), &value);
  if (s.IsNotFound()) return Status::ok();
  if (!s.ok()) return Status::io_error("reading meta: " + s.ToString());
  GuildRecord g;
  if (!proto::unpack(value, g)) return Status::io_error("retention record does not decode");
  days = g.days;
  channels = std::move(g.channels);
  return Status::ok();
}

RetentionCounters read_retention_counters(Engine& engine) {
  RetentionCounters c;
  c.removed_messages = meta_number(engine, stats_key("removed_messages"));
  c.removed_buckets = meta_number(engine, stats_key("removed_buckets"));
  c.runs = meta_number(engine, stats_key("runs"));
  c.last_run_ms = meta_number(engine, stats_key("last_run_ms"));
  return c;
}

Status sweep_retention(Engine& engine, uint64_t now_ms, const std::atomic<bool>* stop,
                       SweepResult& result) {
  result = SweepResult{};
  std::map<uint64_t, int> policies;
  if (Status s = load_retention(engine, policies); !s.is_ok()) return s;
  RetentionCounters totals = read_retention_counters(engine);
  for (auto& [channel, days] : policies) {
    if (stop && stop->load()) break;
    if (days <= 0) continue;
    ++result.channels;
    if (Status s = sweep_channel(engine, channel, days, now_ms, stop, totals, result); !s.is_ok())
      return s;
  }
  totals.runs += 1;
  totals.last_run_ms = now_ms;
  rocksdb::WriteBatch batch;
  put_counters(batch, engine, totals);
  return write_synced(engine, batch);
}

}  // namespace chat::store
