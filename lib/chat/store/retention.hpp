// Retention (ARCHITECTURE.md "Storage"): how long a channel's messages are kept, and the
// sweep that removes the ones past it.
//
// Policies live in the meta column family, written by the store op `retention.set` in the
// caller's group commit:
//
//   retention/channel/<channel id>  "<days>"           the channel's own setting; wins over
//                                                      its guild's, 0 = keep forever
//   retention/guild/<guild id>      msgpack {days,     the guild's setting and the channels
//                                   channels}          it covers (the caller's list, since
//                                                      stored does not know guilds)
//   retention/stats/<counter>       "<n>"              removed_messages, removed_buckets,
//                                                      runs, last_run_ms
//
// A sweep resolves every channel's effective days, and for each with days > 0 removes the
// messages whose snowflake time is older than now - days: first the buckets that ended
// before that moment, with one DeleteRange over channel|0 .. channel|cutoff_bucket, then
// the expired messages of the bucket the moment falls in, with point deletes. The deletes
// and the counters go into the same synced WriteBatch (in chunks of kSweepChunk deletes),
// so what `stats` says was removed is exactly what was removed, and a crash mid-sweep
// leaves counters and data in agreement; the next sweep finishes the job. Tombstones and
// range tombstones hide the keys from every read at once and survive restarts; compaction
// drops them together with the data they cover, so nothing comes back.
//
// A sweep reads and writes RocksDB directly (not the engine's staged batch), so stored runs
// it on its background worker.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <vector>

#include "chat/store/engine.hpp"

namespace chat::store {

inline constexpr int kMaxRetentionDays = 36500;          // 100 years
inline constexpr size_t kSweepChunk = 10000;             // point deletes per WriteBatch
inline constexpr size_t kMaxRetentionChannels = 100000;  // channels in one guild setting

// Stages a policy change. For a channel (guild_id == 0): days 1..kMaxRetentionDays sets a
// limit, 0 keeps the channel forever whatever its guild says, a negative value removes the
// channel's own setting (the guild's applies again). For a guild: days > 0 sets the limit
// for `channels` (replacing the list given before), days <= 0 removes the guild's setting.
// bad_request for both or neither id, days out of range, or a channel list that is empty
// (for days > 0), too long or has a zero id.
Status stage_retention_set(Engine& engine, uint64_t guild_id, uint64_t channel_id,
                           const std::vector<uint64_t>& channels, int days);

// Every channel's effective retention in days, including 0 for channels kept forever by
// their own setting; channels with no setting at all are absent.
Status load_retention(Engine& engine, std::map<uint64_t, int>& effective);
// One channel's effective retention (0 when none applies).
Status channel_retention(Engine& engine, uint64_t channel_id, int& days);
// A guild's own setting (days 0 and no channels when it has none).
Status guild_retention(Engine& engine, uint64_t guild_id, int& days,
                       std::vector<uint64_t>& channels);

struct RetentionCounters {
  uint64_t removed_messages = 0;
  uint64_t removed_buckets = 0;  // buckets removed whole (by DeleteRange)
  uint64_t runs = 0;
  uint64_t last_run_ms = 0;
};
RetentionCounters read_retention_counters(Engine& engine);

struct SweepResult {
  uint64_t channels = 0;  // channels with a limit that were looked at
  uint64_t removed_messages = 0;
  uint64_t removed_buckets = 0;
};

// One sweep at `now_ms` (Unix ms). Stops between chunks when `stop` becomes true (the
// result then covers what was done). io_error when RocksDB fails.
Status sweep_retention(Engine& engine, uint64_t now_ms, const std::atomic<bool>* stop,
                       SweepResult& result);

}  // namespace chat::store
